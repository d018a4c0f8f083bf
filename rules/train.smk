rule training_set:
    """The shards every training run reads, as one list: each train job then has one input instead of every shard,
    which keeps a CC12M-sized DAG quick to build. Local: it only writes the list."""
    localrule: True
    input:
        training_shards(),
    output:
        "results/train/shards.json",
    log:
        "logs/train/training_set.log",
    benchmark:
        "logs/train/training_set.benchmark.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/training_set.py"


rule arm_view:
    """What arm {method} reads beside the training shards (tripletclip.data.View: its caption rewrites, another
    negative set's negatives and images, its negative pairs as positives), as one file: an arm that reads only the
    shards has none. Local: it only writes the list."""
    localrule: True
    input:
        view_files,
    output:
        "results/train/{method}/view.json",
    params:
        view=lambda wildcards: PLAN.view(wildcards.method),
    log:
        "logs/train/{method}/view.log",
    benchmark:
        "logs/train/{method}/view.benchmark.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/arm_view.py"


rule train:
    """One model per arm (a method, or an arm of train.arms) and seed, all at equal compute (same steps, global batch, data order, initialization).
    Resumes by itself from results/train/{method}/seed{seed}/resume.pt when a previous attempt left one. Several GPUs
    (or train.processes on CPU) start one process each: torchrun on one machine, srun inside a SLURM job."""
    input:
        shards="results/train/shards.json",
        val=val_shard(),
        init=local_model_files(INIT) if INIT else [],  # the init's weights: a new init retrains every method
        view=lambda wildcards: ["results/train/{method}/view.json"] if PLAN.view(wildcards.method) else [],
    output:
        checkpoint="results/train/{method}/seed{seed}/checkpoint.pt",
        log_csv="results/train/{method}/seed{seed}/log.csv",
        metrics="results/train/{method}/seed{seed}/metrics.json",
    params:
        train=lambda wildcards: PLAN.train_params(wildcards.method),
        loss=lambda wildcards: ARMS[wildcards.method]["loss"],
        layout=train_layout(),  # (nodes, processes per node)
    threads: res("train", "cpus_per_task")
    # Every training starts before any export or evaluation: those short jobs then fill the cores beside the last,
    # long trainings instead of leaving one idle at the end of the run.
    priority: 1
    log:
        "logs/train/{method}/seed{seed}.log",
    benchmark:
        "logs/train/{method}/seed{seed}.benchmark.tsv"
    resources:
        **train_resources(),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/train.py"
