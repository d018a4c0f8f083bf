import os


rule sugarcrepe_benchmark:
    """The shapes world's SugarCrepe, in SugarCrepe's own format, from test-split scenes only."""
    output:
        files=expand("results/benchmarks/sugarcrepe/{category}.json", category=CATEGORIES),
        images=directory("results/benchmarks/sugarcrepe/images"),
    params:
        world=config["world"],
        sugarcrepe=config["eval"]["sugarcrepe"],
        seed=config["seed"],
    log:
        "logs/sugarcrepe_benchmark.log",
    benchmark:
        "logs/sugarcrepe_benchmark.benchmark.tsv"
    resources:
        **resources_of("sugarcrepe_benchmark"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/sugarcrepe_benchmark.py"


rule eval_sugarcrepe_model:
    """SugarCrepe's protocol on one exported model."""
    input:
        model="results/models/{method}/seed{seed}",
        benchmark=expand(f"{sugarcrepe_dir()}/{{category}}.json", category=CATEGORIES),
    output:
        "results/eval/sugarcrepe/{method}/seed{seed}.json",
    params:
        sugarcrepe=config["eval"]["sugarcrepe"],
        benchmark_dir=lambda wildcards, input: os.path.dirname(input.benchmark[0]),
    threads: res("eval_sugarcrepe_model", "cpus_per_task")
    log:
        "logs/eval_sugarcrepe/{method}/seed{seed}.log",
    benchmark:
        "logs/eval_sugarcrepe/{method}/seed{seed}.benchmark.tsv"
    resources:
        **resources_of("eval_sugarcrepe_model"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/eval_sugarcrepe.py"


rule eval_sugarcrepe:
    """`snakemake eval_sugarcrepe`: SugarCrepe for every method and seed."""
    input:
        expand("results/eval/sugarcrepe/{run}.json", run=RUNS),
