rule world_source:
    """The shapes world's training images behind file:// URLs, listed as img2dataset's TSV (url, caption)."""
    output:
        urls="results/world/urls.tsv",
        images=directory("results/world/images"),
    params:
        world=config["world"],
        seed=config["seed"],
    log:
        "logs/world_source.log",
    benchmark:
        "logs/world_source.benchmark.tsv"
    resources:
        **resources_of("world_source"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/world_source.py"


rule world_valset:
    """Fresh training-distribution pairs for the retrieval check during training."""
    output:
        "results/world/val.tar",
    params:
        world=config["world"],
        seed=config["seed"],
    log:
        "logs/world_valset.log",
    benchmark:
        "logs/world_valset.benchmark.tsv"
    resources:
        **resources_of("world_valset"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/world_valset.py"
