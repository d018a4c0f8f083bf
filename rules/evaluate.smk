# Every benchmark of tripletclip/evals/registry.py through the same rules, `{benchmark}` a wildcard: the shapes
# world's analogue in the real benchmark's format where config names no real data (`benchmark`), one job per
# benchmark and trained model (`eval_model`), one per benchmark and model of `models:` or train.init (`eval_named`),
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


rule eval_model:
    input:
        unpack(spec_input),
        model="results/models/{method}/seed{seed}",
    output:
        json="results/eval/{benchmark}/{method}/seed{seed}.json",
        samples="results/eval/{benchmark}/{method}/seed{seed}.parquet",
    params:
        benchmark="{benchmark}",
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
        unpack(spec_input),
        local=lambda wildcards: local_model_files(EVAL_MODELS[wildcards.model]),
    output:
        json="results/eval/{benchmark}/models/{model}.json",
        samples="results/eval/{benchmark}/models/{model}.parquet",
    params:
        benchmark="{benchmark}",
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
