rule export:
    """The trained model as an open_clip local directory: `local-dir:results/models/{method}`."""
    input:
        "results/train/{method}/checkpoint.pt",
    output:
        directory("results/models/{method}"),
    params:
        model=config["train"]["model"],
    log:
        "logs/export/{method}.log",
    benchmark:
        "logs/export/{method}.benchmark.tsv"
    resources:
        **resources_of("export"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/export.py"
