rule negate:
    """Hard-negative captions for every downloaded sample of one shard (negate.backend: shapes, rules, vllm,
    transformers); resumes from its checkpoint when rerun."""
    input:
        negate_input,
    output:
        negatives="results/negate/{shard}.jsonl",
        stats="results/negate/{shard}_stats.json",
    params:
        negate=NEG_SETS["main"],
        world=config["world"],
        source=config["source"],
        caption_key=pair_keys()["caption_key"],
        seed=config["seed"],
    group:
        "negate"  # bundled N shards a cluster job by profiles/slurm's group-components
    log:
        "logs/negate/{shard}.log",
    benchmark:
        "logs/negate/{shard}.benchmark.tsv"
    resources:
        **resources_of("negate"),
    conda:
        llm_env("negate")
    script:
        "../workflow_scripts/negate.py"


use rule negate as negate_set with:
    """The negatives of set {negset} of negate.sets for one shard: the negate block with the set's keys changed."""
    input:
        negate_input,
    output:
        negatives="results/negate/{negset}/{shard}.jsonl",
        stats="results/negate/{negset}/{shard}_stats.json",
    params:
        negate=lambda wildcards: NEG_SETS[wildcards.negset],
        world=config["world"],
        source=config["source"],
        caption_key=pair_keys()["caption_key"],
        seed=config["seed"],
    log:
        "logs/negate/{negset}/{shard}.log",
    benchmark:
        "logs/negate/{negset}/{shard}.benchmark.tsv"
