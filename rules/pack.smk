rule pack:
    """Triplet shards: jpg, txt, neg.jpg, neg.txt, json."""
    input:
        download=pair_shard,
        negatives="results/negate/{shard}.jsonl",
        synthesized="results/synthesize/{shard}.tar",
    output:
        tar="results/pack/{shard}.tar",
        stats="results/pack/{shard}_stats.json",
    params:
        **pair_keys(),
    group:
        "synthesize"  # on a cluster, each shard is packed in the job that made its negative images
    log:
        "logs/pack/{shard}.log",
    benchmark:
        "logs/pack/{shard}.benchmark.tsv"
    resources:
        **resources_of("pack"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/pack.py"
