rule synthesize:
    """A negative image for every negative caption of one shard (synthesize.backend: shapes, diffusers); every
    finished image is kept, so a killed job resumes where it stopped."""
    input:
        "results/negate/{shard}.jsonl",
    output:
        tar="results/synthesize/{shard}.tar",
        stats="results/synthesize/{shard}_stats.json",
    params:
        synthesize=config["synthesize"],
        seed=config["seed"],
    group:
        "synthesize"  # bundled N shards a cluster job by profiles/slurm's group-components
    log:
        "logs/synthesize/{shard}.log",
    benchmark:
        "logs/synthesize/{shard}.benchmark.tsv"
    resources:
        **resources_of("synthesize"),
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/synthesize.py"


use rule synthesize as synthesize_set with:
    """Negative images of set {negset} of negate.sets, for one shard: only for a set whose images an arm reads."""
    input:
        "results/negate/{negset}/{shard}.jsonl",
    output:
        tar="results/synthesize/{negset}/{shard}.tar",
        stats="results/synthesize/{negset}/{shard}_stats.json",
    log:
        "logs/synthesize/{negset}/{shard}.log",
    benchmark:
        "logs/synthesize/{negset}/{shard}.benchmark.tsv"
