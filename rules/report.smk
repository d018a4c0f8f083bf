rule significance:
    """Every model against the baseline, item by item (paired bootstrap and McNemar): significance.csv, and the
    exact table the report reads, so that redrawing the report reruns no bootstrap."""
    input:
        evals=[path for benchmark in BENCHMARKS for path in eval_outputs(benchmark)],
        samples=[path.removesuffix(".json") + ".parquet" for benchmark in BENCHMARKS
                 for path in eval_outputs(benchmark)],
    output:
        csv="results/report/significance.csv",
        table="results/report/significance.parquet",
    params:
        baseline=REPORT_BASELINE,
        significance={key: config["report"][key] for key in ("resamples", "confidence")} | {"seed": config["seed"]},
    log:
        "logs/significance.log",
    benchmark:
        "logs/significance.benchmark.tsv"
    resources:
        **resources_of("report"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/significance.py"


rule report:
    """Every benchmark for every method and seed, mean and spread over seeds, the equal-compute budget: CSV (long,
    summary, wide), Markdown, and the plots; the plots and the wide table are items of `snakemake --report`."""
    input:
        evals=[path for benchmark in BENCHMARKS for path in eval_outputs(benchmark)],
        samples=[path.removesuffix(".json") + ".parquet" for benchmark in BENCHMARKS
                 for path in eval_outputs(benchmark)],
        specs=analogue_specs(),  # where their images are
        metrics=expand("results/train/{run}/metrics.json", run=RUNS),
        logs=expand("results/train/{run}/log.csv", run=RUNS),
        significance=rules.significance.output.table,
    output:
        csv="results/report/results.csv",
        summary="results/report/summary.csv",
        wide=report("results/report/results_wide.csv", caption="../report/results.rst", category="Results"),
        markdown="results/report/results.md",
        sugarcrepe_plot=report("results/report/sugarcrepe.png", caption="../report/sugarcrepe.rst",
                               category="Results"),
        similarity_plot=report("results/report/similarity.png", caption="../report/similarity.rst",
                               category="Results"),
        training_plot=report("results/report/training.png", caption="../report/training.rst", category="Training"),
        published="results/report/published.csv",
        browse=report("results/report/browse.html", caption="../report/browse.rst", category="Results"),
    params:
        runs=[(method, seed) for method in METHODS for seed in SEEDS],
        init=INIT_ROW,  # the row of the model every method was fine-tuned from: the report's difference table
        baseline=REPORT_BASELINE,
        published={"matched": PUBLISHED, "real": REAL_BENCHMARKS},
        real_data={b: config["eval"][b] for b in REAL_BENCHMARKS},
        confidence=config["report"]["confidence"],
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
