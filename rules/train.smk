rule train:
    """One model per method and seed, all at equal compute (same steps, global batch, data order, initialization).
    Resumes by itself from results/train/{method}/seed{seed}/resume.pt when a previous attempt left one."""
    input:
        shards=training_shards(),
        val=val_shard(),
    output:
        checkpoint="results/train/{method}/seed{seed}/checkpoint.pt",
        log_csv="results/train/{method}/seed{seed}/log.csv",
        metrics="results/train/{method}/seed{seed}/metrics.json",
    params:
        train=config["train"],
    threads: res("train", "cpus_per_task")
    log:
        "logs/train/{method}/seed{seed}.log",
    benchmark:
        "logs/train/{method}/seed{seed}.benchmark.tsv"
    resources:
        **resources_of("train"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/train.py"
