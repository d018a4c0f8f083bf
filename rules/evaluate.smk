# Every benchmark of tripletclip/evals/registry.py through the same rules, `{benchmark}` a wildcard: the shapes
# world's analogue in the real benchmark's format where config names no real data (`benchmark`); one job per trained
# model (`eval_analogues_model`) and one per model of `models:` or train.init (`eval_analogues_named`) that score every
# analogue, a second each where the job's imports take five; one job per benchmark on real data and trained model
# (`eval_model`) or model of `models:` (`eval_named`), so that adding a benchmark reruns no other;
# the text-only scorers where the benchmark picks between captions (`blind`), and one table of every model's
# metrics per benchmark (`eval_table`: `snakemake results/eval/sugarcrepe.csv`). The protocols live in
# tripletclip/evals/.


rule benchmark:
    output:
        "results/benchmarks/{benchmark}/spec.json",
    params:
        benchmark="{benchmark}",
        world=config["world"],
        options=lambda wildcards: config["eval"][wildcards.benchmark],
        seed=config["seed"],
    group:
        "benchmarks"  # on a cluster, one job builds every analogue
    log:
        "logs/benchmarks/{benchmark}.log",
    benchmark:
        "logs/benchmarks/{benchmark}.benchmark.tsv"
    resources:
        **resources_of("benchmark"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/build_benchmark.py"


if ANALOGUES:

    rule eval_analogues_model:
        input:
            specs=analogue_specs(),
            model="results/models/{method}/seed{seed}",
        output:
            json=expand("results/eval/{benchmark}/{{method}}/seed{{seed}}.json", benchmark=ANALOGUES),
            samples=expand("results/eval/{benchmark}/{{method}}/seed{{seed}}.parquet", benchmark=ANALOGUES),
        params:
            benchmarks=ANALOGUES,
            batch_size=config["eval"]["batch_size"],
        threads: res("eval", "cpus_per_task")
        group:
            "evaluate-{method}-seed{seed}"
        log:
            "logs/eval/analogues/{method}/seed{seed}.log",
        benchmark:
            "logs/eval/analogues/{method}/seed{seed}.benchmark.tsv"
        resources:
            **resources_of("eval"),
        conda:
            "../envs/train.yaml"
        script:
            "../workflow_scripts/evaluate.py"

    rule eval_analogues_named:
        input:
            specs=analogue_specs(),
            local=lambda wildcards: local_model_files(EVAL_MODELS[wildcards.model]),
        output:
            json=expand("results/eval/{benchmark}/models/{{model}}.json", benchmark=ANALOGUES),
            samples=expand("results/eval/{benchmark}/models/{{model}}.parquet", benchmark=ANALOGUES),
        params:
            benchmarks=ANALOGUES,
            model=lambda wildcards: EVAL_MODELS[wildcards.model],  # only its own spec: another model's edit reruns not this
            batch_size=config["eval"]["batch_size"],
        threads: res("eval", "cpus_per_task")
        group:
            "evaluate-{model}"
        log:
            "logs/eval/analogues/models/{model}.log",
        benchmark:
            "logs/eval/analogues/models/{model}.benchmark.tsv"
        resources:
            **resources_of("eval"),
        conda:
            "../envs/train.yaml"
        script:
            "../workflow_scripts/evaluate.py"


rule eval_model:
    input:
        model="results/models/{method}/seed{seed}",
    output:
        json="results/eval/{benchmark}/{method}/seed{seed}.json",
        samples="results/eval/{benchmark}/{method}/seed{seed}.parquet",
    wildcard_constraints:
        benchmark="|".join(REAL_BENCHMARKS) or "(?!)",
    params:
        benchmarks=lambda wildcards: [wildcards.benchmark],
        options=lambda wildcards: config["eval"][wildcards.benchmark],
        batch_size=config["eval"]["batch_size"],
    threads: res("eval", "cpus_per_task")
    group:
        "evaluate-{method}-seed{seed}"
    log:
        "logs/eval/{benchmark}/{method}/seed{seed}.log",
    benchmark:
        "logs/eval/{benchmark}/{method}/seed{seed}.benchmark.tsv"
    resources:
        **resources_of("eval"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/evaluate.py"


rule eval_named:
    input:
        local=lambda wildcards: local_model_files(EVAL_MODELS[wildcards.model]),
    output:
        json="results/eval/{benchmark}/models/{model}.json",
        samples="results/eval/{benchmark}/models/{model}.parquet",
    wildcard_constraints:
        benchmark="|".join(REAL_BENCHMARKS) or "(?!)",
    params:
        benchmarks=lambda wildcards: [wildcards.benchmark],
        model=lambda wildcards: EVAL_MODELS[wildcards.model],  # only its own spec: another model's edit reruns not this
        options=lambda wildcards: config["eval"][wildcards.benchmark],
        batch_size=config["eval"]["batch_size"],
    threads: res("eval", "cpus_per_task")
    group:
        "evaluate-{model}"
    log:
        "logs/eval/{benchmark}/models/{model}.log",
    benchmark:
        "logs/eval/{benchmark}/models/{model}.benchmark.tsv"
    resources:
        **resources_of("eval"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/evaluate.py"


rule blind:
    localrule: True  # seconds of text scoring: not worth a cluster job
    input:
        # the benchmark's items, as one model's per-sample table holds them (any model's: same items)
        pairs=lambda wildcards: model_outputs(wildcards.benchmark)[0].removesuffix(".json") + ".parquet",
        shards="results/train/shards.json" if METHODS else [],
    output:
        json=expand("results/eval/{{benchmark}}/blind/{model}.json", model=BLIND_MODELS),
        samples=expand("results/eval/{{benchmark}}/blind/{model}.parquet", model=BLIND_MODELS),
    wildcard_constraints:
        benchmark="|".join(BLIND) or "(?!)",  # the benchmarks that pick between captions
    params:
        benchmark="{benchmark}",
        captions=3000,  # training captions the scorers are fitted on
    log:
        "logs/eval/{benchmark}/blind.log",
    benchmark:
        "logs/eval/{benchmark}/blind.benchmark.tsv"
    resources:
        **resources_of("eval"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/blind.py"


rule eval_table:
    localrule: True
    input:
        lambda wildcards: eval_outputs(wildcards.benchmark),
    output:
        "results/eval/{benchmark}.csv",
    log:
        "logs/eval/{benchmark}.log",
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/eval_table.py"
