rule train:
    """One model per method, all at equal compute (same steps, batch, data order and initialization)."""
    input:
        shards=expand("results/pack/{shard}.tar", shard=SHARDS),
        val=val_shard(),
    output:
        checkpoint="results/train/{method}/checkpoint.pt",
        log_csv="results/train/{method}/log.csv",
        metrics="results/train/{method}/metrics.json",
    params:
        train=config["train"],
        seed=config["seed"],
    threads: res("train", "cpus_per_task")
    log:
        "logs/train/{method}.log",
    benchmark:
        "logs/train/{method}.benchmark.tsv"
    resources:
        **resources_of("train"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/train.py"
