rule export:
    """The trained model as an open_clip local directory: `local-dir:results/models/{method}/seed{seed}`."""
    input:
        "results/train/{method}/seed{seed}/checkpoint.pt",
    output:
        directory("results/models/{method}/seed{seed}"),
    group:
        "evaluate-{method}-seed{seed}"  # on a cluster, one job exports and evaluates each model
    log:
        "logs/export/{method}/seed{seed}.log",
    benchmark:
        "logs/export/{method}/seed{seed}.benchmark.tsv"
    resources:
        **resources_of("export"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/export.py"
