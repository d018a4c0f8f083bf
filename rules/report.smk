rule report:
    """SugarCrepe per method and seed, the mean and spread over seeds, and the equal-compute budget: CSV, Markdown
    and a grouped bar chart."""
    input:
        sugarcrepe=expand("results/eval/sugarcrepe/{run}.json", run=RUNS),
        metrics=expand("results/train/{run}/metrics.json", run=RUNS),
    output:
        csv="results/report/sugarcrepe.csv",
        summary="results/report/sugarcrepe_summary.csv",
        markdown="results/report/sugarcrepe.md",
        plot=report("results/report/sugarcrepe.png", caption="../report/sugarcrepe.rst", category="SugarCrepe"),
    params:
        runs=[(method, seed) for method in METHODS for seed in SEEDS],
    log:
        "logs/report.log",
    benchmark:
        "logs/report.benchmark.tsv"
    resources:
        **resources_of("report"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/report.py"
