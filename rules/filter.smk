rule score_triplets:
    """The scorer's (s(x, y) + s(x', y')) / 2 for every triplet of one packed shard (filter.enabled)."""
    input:
        triplet_shard,
        local_model_files(FILTER_SPEC) if FILTER_SPEC else [],
    output:
        "results/filter/scores/{shard}.json",
    params:
        filter=config["filter"],
        spec=FILTER_SPEC,
    threads: res("filter", "cpus_per_task")
    group:
        "score"
    log:
        "logs/filter/score_{shard}.log",
    benchmark:
        "logs/filter/score_{shard}.benchmark.tsv"
    resources:
        **resources_of("filter"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/score_triplets.py"


rule filter_triplets:
    """TripletCLIP's high-quality subset: the best-scored triplets over all shards; training reads these."""
    input:
        shards=triplet_shards(),
        scores=expand("results/filter/scores/{shard}.json", shard=SHARDS),
    output:
        shards=expand("results/filter/{shard}.tar", shard=SHARDS),
        stats="results/filter/stats.json",
        plot=report("results/filter/scores.png", caption="../report/filter.rst", category="Data"),
    params:
        filter=config["filter"],
    log:
        "logs/filter/filter.log",
    benchmark:
        "logs/filter/filter.benchmark.tsv"
    resources:
        **resources_of("filter"),
    conda:
        "../envs/train.yaml"
    script:
        "../workflow_scripts/filter_triplets.py"
