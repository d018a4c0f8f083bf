rule negate:
    """Hard-negative captions for every downloaded sample of one shard (negate.backend: shapes, rules, vllm,
    transformers); resumes from its checkpoint when rerun."""
    input:
        pair_shard,
    output:
        negatives="results/negate/{shard}.jsonl",
        stats="results/negate/{shard}_stats.json",
    params:
        negate=config["negate"],
        world=config["world"],
        caption_key=pair_keys()["caption_key"],
        seed=config["seed"],
    group:
        "negate"  # bundled N shards a cluster job by profiles/slurm's group-components
    log:
        "logs/negate/{shard}.log",
    benchmark:
        "logs/negate/{shard}.benchmark.tsv"
    resources:
        **resources_of("negate"),
    conda:
        negate_env()
    script:
        "../workflow_scripts/negate.py"
