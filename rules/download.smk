rule download:
    """img2dataset: URL list -> webdataset shards with their parquet and stats files."""
    input:
        url_list(),
    output:
        tars=expand("results/download/{shard}.tar", shard=SHARDS),
        shard_stats=expand("results/download/{shard}_stats.json", shard=SHARDS),
        stats="results/download/stats.json",
    params:
        download=config["download"],
        shards=SHARDS,
    threads: res("download", "cpus_per_task")
    log:
        "logs/download.log",
    benchmark:
        "logs/download.benchmark.tsv"
    resources:
        **resources_of("download"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/download.py"
