rule report:
    """SugarCrepe per method: CSV, Markdown and a grouped bar chart."""
    input:
        expand("results/eval/sugarcrepe/{method}.json", method=METHODS),
    output:
        csv="results/report/sugarcrepe.csv",
        markdown="results/report/sugarcrepe.md",
        plot=report("results/report/sugarcrepe.png", caption="../report/sugarcrepe.rst", category="SugarCrepe"),
    params:
        methods=METHODS,
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
