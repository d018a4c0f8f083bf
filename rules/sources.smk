rule coco_source:
    """COCO's pairs as shards (source: coco): every caption of Karpathy's split file in coco.splits with its image,
    in the file's order; the negate rule reads them as it reads downloaded shards."""
    input:
        config["coco"]["annotations"] or [],
    output:
        tar="results/source/{shard}.tar",
        stats="results/source/{shard}_stats.json",
    params:
        coco=config["coco"],
        samples_per_shard=config["coco"]["samples_per_shard"],
    group:
        "negate"  # on a cluster, each shard is written in the job that negates it
    log:
        "logs/source/{shard}.log",
    benchmark:
        "logs/source/{shard}.benchmark.tsv"
    resources:
        **resources_of("coco_source"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/coco_source.py"
