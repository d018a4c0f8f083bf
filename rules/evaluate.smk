# One rule per benchmark and model (`eval_{benchmark}_model`), one per benchmark over every model
# (`snakemake eval_sugarcrepe`), and, where config names no real data, one that builds the shapes world's analogue
# in the real benchmark's format (`{benchmark}_benchmark`). The protocols live in tripletclip/evals/.

for _benchmark in BENCHMARKS:

    rule:
        name:
            f"{_benchmark}_benchmark"
        output:
            f"results/benchmarks/{_benchmark}/spec.json",
        params:
            benchmark=_benchmark,
            world=config["world"],
            options=config["eval"][_benchmark],
            seed=config["seed"],
        group:
            "benchmarks"  # on a cluster, one job builds every analogue
        log:
            f"logs/benchmarks/{_benchmark}.log",
        benchmark:
            f"logs/benchmarks/{_benchmark}.benchmark.tsv"
        resources:
            **resources_of("benchmark"),
        conda:
            "../envs/pipeline.yaml"
        script:
            "../workflow_scripts/build_benchmark.py"

    rule:
        name:
            f"eval_{_benchmark}_model"
        input:
            model="results/models/{method}/seed{seed}",
            **benchmark_spec(_benchmark),
        output:
            f"results/eval/{_benchmark}/{{method}}/seed{{seed}}.json",
        params:
            benchmark=_benchmark,
            options=config["eval"][_benchmark],
            batch_size=config["eval"]["batch_size"],
        threads: res("eval", "cpus_per_task")
        group:
            "evaluate-{method}-seed{seed}"
        log:
            f"logs/eval/{_benchmark}/{{method}}/seed{{seed}}.log",
        benchmark:
            f"logs/eval/{_benchmark}/{{method}}/seed{{seed}}.benchmark.tsv"
        resources:
            **resources_of("eval"),
        conda:
            "../envs/train.yaml"
        script:
            "../workflow_scripts/evaluate.py"

    rule:
        name:
            f"eval_{_benchmark}"
        localrule: True
        input:
            expand(f"results/eval/{_benchmark}/{{run}}.json", run=RUNS),
