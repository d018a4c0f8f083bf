# Only a run that downloads its pairs has this rule (source: shapes or tsv; rules/sources.smk has the others).
if config["source"] in ("shapes", "tsv"):

    rule download:
        """img2dataset: URL list -> webdataset shards with their parquet and stats files (each {shard}_stats.json is
        written beside its tar and read by pack; not declared, as 1,000s of outputs more slow every DAG build)."""
        input:
            url_list(),
        output:
            tars=expand("results/download/{shard}.tar", shard=SHARDS),
            stats="results/download/stats.json",
        params:
            download=config["download"],
            shards=SHARDS,
            num_samples=num_samples(config),
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
