rule negate:
    """A hard-negative caption for every downloaded sample of one shard."""
    input:
        "results/download/{shard}.tar",
    output:
        negatives="results/negate/{shard}.jsonl",
        stats="results/negate/{shard}_stats.json",
    params:
        negate=config["negate"],
        world=config["world"],
        source=config["source"],
        seed=config["seed"],
    log:
        "logs/negate/{shard}.log",
    benchmark:
        "logs/negate/{shard}.benchmark.tsv"
    resources:
        **resources_of("negate"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/negate.py"
