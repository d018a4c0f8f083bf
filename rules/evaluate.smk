# One rule per benchmark for each trained model (`eval_{benchmark}_model`), one for each model named in `models:`
# or as train.init (`eval_{benchmark}_named`), one per benchmark over all of them (`snakemake eval_sugarcrepe`), and, where config names no real data, one that builds the shapes world's analogue
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
            json=f"results/eval/{_benchmark}/{{method}}/seed{{seed}}.json",
            samples=f"results/eval/{_benchmark}/{{method}}/seed{{seed}}.parquet",
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
            f"eval_{_benchmark}_named"
        input:
            local=lambda wildcards: local_model_files(EVAL_MODELS[wildcards.model]),
            **benchmark_spec(_benchmark),
        output:
            json=f"results/eval/{_benchmark}/models/{{model}}.json",
            samples=f"results/eval/{_benchmark}/models/{{model}}.parquet",
        params:
            benchmark=_benchmark,
            model=lambda wildcards: EVAL_MODELS[wildcards.model],  # only its own spec: another model's edit reruns not this
            options=config["eval"][_benchmark],
            batch_size=config["eval"]["batch_size"],
        threads: res("eval", "cpus_per_task")
        group:
            "evaluate-{model}"
        log:
            f"logs/eval/{_benchmark}/models/{{model}}.log",
        benchmark:
            f"logs/eval/{_benchmark}/models/{{model}}.benchmark.tsv"
        resources:
            **resources_of("eval"),
        conda:
            "../envs/train.yaml"
        script:
            "../workflow_scripts/evaluate.py"

    if _benchmark in BLIND:

        rule:
            name:
                f"blind_{_benchmark}"
            localrule: True  # seconds of text scoring: not worth a cluster job
            input:
                # the benchmark's items, as one model's per-sample table holds them (any model's: same items)
                pairs=model_outputs(_benchmark)[0].removesuffix(".json") + ".parquet",
                shards="results/train/shards.json" if METHODS else [],
            output:
                json=expand(f"results/eval/{_benchmark}/blind/{{model}}.json", model=BLIND_MODELS),
                samples=expand(f"results/eval/{_benchmark}/blind/{{model}}.parquet", model=BLIND_MODELS),
            params:
                benchmark=_benchmark,
                captions=3000,  # training captions the scorers are fitted on
            log:
                f"logs/eval/{_benchmark}/blind.log",
            benchmark:
                f"logs/eval/{_benchmark}/blind.benchmark.tsv"
            resources:
                **resources_of("eval"),
            conda:
                "../envs/train.yaml"
            script:
                "../workflow_scripts/blind.py"

    rule:
        name:
            f"eval_{_benchmark}"
        localrule: True
        input:
            eval_outputs(_benchmark),
