import os

from snakemake.utils import validate

from tripletclip import tables
from tripletclip.evals import BENCHMARKS as ALL_BENCHMARKS

# Fails before any job runs, naming the offending key; also fills the schema's defaults.
validate(config, workflow.source_path("../schemas/config.schema.yaml"))


def num_samples():
    if config["source"] == "shapes":
        return config["world"]["num_samples"]
    d = config["download"]
    if not d.get("url_list") or not d.get("num_samples"):
        raise ValueError("source: tsv needs download.url_list and download.num_samples in the config")
    if not os.path.isfile(d["url_list"]):
        raise ValueError(f"download.url_list: no file {d['url_list']!r} (a relative path starts at the working "
                         "directory)")
    # the columns, from the list's first lines, before any job runs (the download job reads it all again)
    head = tables.read(d["url_list"], d["header"], d["columns"], d["url_col"], d["caption_col"], head=2)
    tables.require_columns(head, d["url_list"], {"download.url_col": d["url_col"],
                                                 "download.caption_col": d["caption_col"]})
    return d["num_samples"]


SHARDS = [f"{i:05d}" for i in range(-(-num_samples() // config["download"]["samples_per_shard"]))]
METHODS = config["train"]["methods"]
SEEDS = config["train"]["seeds"]
RUNS = expand("{method}/seed{seed}", method=METHODS, seed=SEEDS)  # one trained model per method and seed
BENCHMARKS = [b for b in ALL_BENCHMARKS if b in config["eval"]["benchmarks"]]
# The key of each benchmark's config block that names real data; while it is null, the shapes analogue is built.
REAL_DATA_KEY = {"sugarcrepe": "benchmark", "retrieval": "datasets", "zeroshot": "datasets", "aro": "datasets",
                 "winoground": "examples", "similarity": "shards"}


wildcard_constraints:
    method="[a-z]+",
    seed=r"\d+",
    shard=r"\d+",
def url_list():
    return config["download"]["url_list"] if config["source"] == "tsv" else "results/world/urls.tsv"


def training_shards():
    """The packed triplets, or their best-scored subset when the quality filter is on."""
    folder = "results/filter" if config["filter"]["enabled"] else "results/pack"
    return expand(f"{folder}/{{shard}}.tar", shard=SHARDS)


def val_shard():
    """The in-distribution retrieval check exists only for the shapes world."""
    return ["results/world/val.tar"] if config["source"] == "shapes" else []


def benchmark_spec(benchmark):
    """{"spec": path} of the shapes analogue while config names no real data for `benchmark`, else {}."""
    if config["eval"][benchmark].get(REAL_DATA_KEY[benchmark]):
        return {}
    return {"spec": f"results/benchmarks/{benchmark}/spec.json"}


def negate_env():
    """vLLM pins its own torch: with that backend the negate rule runs in an env of its own."""
    return "../envs/vllm.yaml" if config["negate"]["backend"] == "vllm" else "../envs/pipeline.yaml"


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
PLACED_WITH = {"pack": "synthesize", "export": "eval"}


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
