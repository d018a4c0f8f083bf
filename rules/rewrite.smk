rule rewrite:
    """K rewrites of every downloaded caption of one shard, as LaCLIP trains on (rewrite.backend: shapes, vllm,
    transformers, laclip: LaCLIP's released files); resumes from its checkpoint when rerun."""
    input:
        pair_shard,
    output:
        rewrites="results/rewrite/{shard}.jsonl",
        stats="results/rewrite/{shard}_stats.json",
    params:
        rewrite=config["rewrite"],
        seed=config["seed"],
        caption_key=pair_keys()["caption_key"],
        samples_per_shard=config["download"]["samples_per_shard"],
    group:
        "negate"  # bundled with the negate jobs of its shards (profiles/slurm's group-components)
    log:
        "logs/rewrite/{shard}.log",
    benchmark:
        "logs/rewrite/{shard}.benchmark.tsv"
    resources:
        **resources_of("rewrite"),
    conda:
        llm_env("rewrite")
    script:
        "../workflow_scripts/rewrite.py"
