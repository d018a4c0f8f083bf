import os
import re

from snakemake.utils import validate

from tripletclip.plan import Plan, local_model_files, num_samples

if not os.path.isfile("config.yaml"):  # the Snakefile's configfile, which Snakemake skips when it is missing
    raise ValueError(f"no config.yaml in the working directory {os.getcwd()}: copy the repository's "
                     f"({os.path.join(workflow.basedir, 'config.yaml')}) there; --configfile files apply on top of it")
# Fails before any job runs, naming the offending key; also fills the schema's defaults.
validate(config, workflow.source_path("../schemas/config.schema.yaml"))


# Everything the config asks for, worked out and checked before any job (tripletclip/plan.py); the input functions
# below read it.
PLAN = Plan(config)
METHODS, SEEDS, RUNS = PLAN.methods, PLAN.seeds, PLAN.runs  # one trained model per arm (method) and seed
ARMS = PLAN.arms
# The negative sets: main (the negate block's) and those of negate.sets an arm reads, with the images some arm needs.
NEG_SETS, USED_SETS, IMAGE_SETS = PLAN.sets, PLAN.used_sets, PLAN.image_sets
SHARDS, SHARD_PATHS = PLAN.shards, PLAN.shard_paths
BENCHMARKS = PLAN.benchmarks
# The benchmarks on their shapes analogue (one evaluation job per model scores them all) and those on real data (a job
# per benchmark and model, so that adding one reruns no other).
ANALOGUES = PLAN.analogues
REAL_BENCHMARKS = [benchmark for benchmark in BENCHMARKS if benchmark not in ANALOGUES]
EVAL_MODELS, INIT, INIT_ROW, FILTER_SPEC = PLAN.eval_models, PLAN.init, PLAN.init_row, PLAN.filter_spec
STEPS, REPORT_BASELINE, PUBLISHED = PLAN.steps, PLAN.baseline, PLAN.published
# The benchmarks that pick between captions, and the text-only scorers a run has: fitted on its training captions,
# or, without training, the length rule alone.
BLIND, BLIND_MODELS = PLAN.blind, PLAN.blind_models


wildcard_constraints:
    method="|".join(map(re.escape, ARMS)) or "(?!)",  # the arms: train.methods and train.arms
    negset="|".join(map(re.escape, USED_SETS)) or "(?!)",  # the sets of negate.sets that an arm reads
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",  # a key of models: (the schema's pattern)
    seed=r"\d+",
    shard=r"\d+",
    benchmark="|".join(BENCHMARKS) or "(?!)",  # eval.benchmarks
def url_list():
    return config["download"]["url_list"] if config["source"] == "tsv" else "results/world/urls.tsv"


def pair_shard(wildcards):
    """Shard {shard} of (image, caption) pairs that negate and pack read: downloaded, written from COCO, or the
    source's own."""
    if config["source"] == "webdataset":
        return SHARD_PATHS[int(wildcards.shard)]
    return f"results/{'source' if config['source'] == 'coco' else 'download'}/{wildcards.shard}.tar"


def negate_input(wildcards):
    """What negative set {negset} (main for the negate rule) negates: the pair shard's captions, or the rewrite
    stage's rows of the shard (negate.input: rewrites; the job negates each caption's first rewrite)."""
    if PLAN.set_inputs[getattr(wildcards, "negset", "main")] == "rewrites":
        return f"results/rewrite/{wildcards.shard}.jsonl"
    return pair_shard(wildcards)


def view_files(wildcards):
    """The files arm {method} reads beside the training shards (PLAN.view): rewrites, another set's negatives and
    images."""
    return [path for value in PLAN.view(wildcards.method).values() if isinstance(value, list) for path in value]


def triplet_shards():
    """The shards of triplets: packed here, or TripletData's own."""
    return SHARD_PATHS if config["source"] == "tripletdata" else expand("results/pack/{shard}.tar", shard=SHARDS)


def triplet_shard(wildcards):
    return triplet_shards()[int(wildcards.shard)]


def pair_keys():
    """The member names of an (image, caption) pair in the pair shards: a webdataset source's configured ones."""
    keys = config["webdataset"] if config["source"] == "webdataset" else {"image_key": "jpg", "caption_key": "txt"}
    return {"image_key": keys["image_key"], "caption_key": keys["caption_key"]}


def packed_shards():
    """The triplet shards this run packs (none for TripletData, trained on as it is, or without training)."""
    return [] if config["source"] == "tripletdata" else triplet_shards()


def training_shards():
    """The triplets, or their best-scored subset when the quality filter is on."""
    return expand("results/filter/{shard}.tar", shard=SHARDS) if config["filter"]["enabled"] else triplet_shards()


def val_shard():
    """The in-distribution retrieval check exists only for the shapes world."""
    return ["results/world/val.tar"] if config["source"] == "shapes" else []


def model_outputs(benchmark):
    """Every model's evaluation of `benchmark`: each trained model's, then each model of EVAL_MODELS."""
    return (expand(f"results/eval/{benchmark}/{{run}}.json", run=RUNS)
            + expand(f"results/eval/{benchmark}/models/{{model}}.json", model=list(EVAL_MODELS)))


def eval_outputs(benchmark):
    """Every evaluation of `benchmark`: the models', then the blind scorers' where it picks between captions."""
    blind = expand(f"results/eval/{benchmark}/blind/{{model}}.json", model=BLIND_MODELS) if benchmark in BLIND else []
    return model_outputs(benchmark) + blind


def analogue_specs():
    """The specs of the shapes analogues this run evaluates, in suite order (their paths are relative to each)."""
    return expand("results/benchmarks/{benchmark}/spec.json", benchmark=ANALOGUES)


def llm_env(stage):
    """vLLM pins its own torch: with that backend the negate (or rewrite) rule runs in an env of its own."""
    return "../envs/vllm.yaml" if config[stage]["backend"] == "vllm" else "../envs/pipeline.yaml"


def res(rule, key):
    """A resource of `rule` from config's resources block, falling back to its default."""
    return config["resources"].get(rule, {}).get(key, config["resources"]["default"].get(key))


# config key -> the resource name the SLURM executor plugin reads (it quotes each value onto sbatch's command line)
SLURM_NAMES = {"partition": "slurm_partition", "account": "slurm_account", "qos": "qos", "constraint": "constraint"}


def check_resources():
    """Refuse, before any job, a resources block that a cluster would not honour: `nodes` anywhere but in train's
    block, or, on a cluster, more for one job than the profile's resources allow. Snakemake caps every job's
    resources at those (which also bound a bundle), so the job would silently get less than the config asks for."""
    multi_node = [rule for rule, block in config["resources"].items() if "nodes" in block and rule != "train"]
    if multi_node:
        raise ValueError(f"resources: only train runs on several nodes, but `nodes` is set for {', '.join(multi_node)}")
    if workflow.nodes is None or workflow.remote_exec or workflow.subprocess_exec:  # --jobs: a cluster
        return
    caps = {name: r.value for name, r in workflow.global_resources.items()
            if not name.startswith("_") and isinstance(r.value, int)}
    over = [f"resources.{rule}.{key}: {value} > {caps[key]}" for rule, block in config["resources"].items()
            for key, value in block.items() if key in caps and isinstance(value, int) and value > caps[key]]
    if over:
        raise ValueError("the profile lets one job ask for at most " + ", ".join(f"{k}={v}" for k, v in caps.items())
                         + f" (its `resources:`), and Snakemake would cut these to that: {'; '.join(over)}. Raise "
                         "the profile's resources to your nodes' size, or ask for less")


check_resources()


# A bundled rule (grouped in rules/) is placed where the job it joins is (Snakemake refuses a bundle
# whose jobs ask for different partitions, accounts, qos or constraints).
PLACED_WITH = {"coco_source": "negate", "rewrite": "negate", "pack": "synthesize", "export": "eval"}


def resources_of(rule):
    """The resources of `rule`'s jobs: mem_mb, runtime and cpus_per_task always; gpu and the SLURM placement (partition,
    account, qos, constraint; for a bundled rule, its bundle's: PLACED_WITH) where the config gives them. A local run
    ignores what it has no use for."""
    resources = {key: res(rule, key) for key in ("mem_mb", "runtime", "cpus_per_task")}
    placed = PLACED_WITH.get(rule, rule)
    resources |= {SLURM_NAMES[key]: res(placed, key) for key in SLURM_NAMES if res(placed, key)}
    if res(rule, "gpu"):
        resources["gpu"] = res(rule, "gpu")
    return resources


def train_resources():
    """The train rule's resources: one process per GPU (or `train.processes` on CPU) on each of `nodes` nodes. Several
    processes make it an "mpi" job for the SLURM plugin: the rule runs in the batch script and starts its own
    `srun` with one task per process (tripletclip/launch.py); `gpu` is per node, hence gres on several nodes."""
    resources = resources_of("train")
    nodes, per_node = train_layout()
    if nodes > 1:
        resources["nodes"] = nodes
        if "gpu" in resources:
            resources["gres"] = f"gpu:{resources.pop('gpu')}"
    if nodes * per_node > 1:
        resources |= {"tasks_per_node": per_node, "mpi": "srun"}
    return resources


def train_layout():
    """(nodes, processes per node) of every training run."""
    nodes, per_node = res("train", "nodes") or 1, res("train", "gpu") or config["train"]["processes"]
    if nodes > 1 and per_node == 1:  # the plugin's srun jobs need more than one task per node
        raise ValueError("resources.train: several nodes need at least 2 GPUs (or train.processes) per node")
    return nodes, per_node
