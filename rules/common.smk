import os

from snakemake.utils import validate

from tripletclip import tables
from tripletclip.evals import BENCHMARKS as ALL_BENCHMARKS

# Fails before any job runs, naming the offending key; also fills the schema's defaults.
validate(config, workflow.source_path("../schemas/config.schema.yaml"))


def num_samples():
    """The number of (image, caption) pairs to download (source: shapes or tsv)."""
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


def shard_paths(source):
    """The shards a `webdataset` or `tripletdata` source names, checked (every path there, the keys in the first
    sample) before any job runs."""
    from tripletclip import sources  # reads tars: imports webdataset and torch, which a shapes DAG does without

    if not config[source].get("shards"):
        raise ValueError(f"source: {source} needs {source}.shards in the config (a path, a brace pattern or a list)")
    paths = sources.expand_shards(config[source]["shards"])
    if source == "webdataset":
        sources.check_webdataset(paths, config["webdataset"]["image_key"], config["webdataset"]["caption_key"])
    else:
        sources.check_tripletdata(paths)
    return paths


def source_shards():
    """(shard names, their paths when the source names existing shards, else None). The training data's shards: of
    the download (shapes, tsv), of COCO's pairs (coco), or the source's own (webdataset, tripletdata)."""
    source = config["source"]
    if source in ("shapes", "tsv"):
        count = -(-num_samples() // config["download"]["samples_per_shard"])
        return [f"{i:05d}" for i in range(count)], None
    if source == "coco":
        from tripletclip import sources

        c = config["coco"]
        if not c.get("annotations") or not c.get("image_dir"):
            raise ValueError("source: coco needs coco.annotations (Karpathy's dataset_coco.json) and coco.image_dir")
        pairs = sources.check_coco(c["annotations"], c["image_dir"], c["splits"])
        return [f"{i:05d}" for i in range(-(-pairs // c["samples_per_shard"]))], None
    paths = shard_paths(source)
    return [f"{i:05d}" for i in range(len(paths))], paths


METHODS = config["train"]["methods"]
SEEDS = config["train"]["seeds"]
RUNS = expand("{method}/seed{seed}", method=METHODS, seed=SEEDS)  # one trained model per method and seed
# An evaluation-only run (train.methods: []) needs no training data, so its source is not read.
SHARDS, SHARD_PATHS = source_shards() if METHODS else ([], None)
BENCHMARKS = [b for b in ALL_BENCHMARKS if b in config["eval"]["benchmarks"]]
# The key of each benchmark's config block that names real data; while it is null, the shapes analogue is built.
REAL_DATA_KEY = {"sugarcrepe": "benchmark", "retrieval": "datasets", "zeroshot": "datasets", "aro": "datasets",
                 "winoground": "examples", "similarity": "shards"}


def model_spec(value):
    """A `models:` entry, or train.init, as the spec the jobs load (tripletclip.models.ModelSpec): a key of `models:`
    gives that entry; anything else is passed on as it is (a spec, a `local-dir:`/`hf-hub:` name, or a checkpoint
    file of train.model)."""
    if isinstance(value, str) and value in (config.get("models") or {}):
        return config["models"][value]
    return value


def local_model_files(spec):
    """The files on disk that a model spec loads (a checkpoint, a local-dir), as inputs: a job reruns when they
    change, and one that is missing stops the run before any job."""
    if isinstance(spec, str):
        spec = ({"model": spec} if spec.startswith(("local-dir:", "hf-hub:")) else
                {"model": config["train"]["model"], "pretrained": spec})
    paths = [spec["model"].removeprefix("local-dir:")] if spec["model"].startswith("local-dir:") else []
    pretrained = spec.get("pretrained")
    if pretrained and (os.sep in pretrained or os.path.splitext(pretrained)[1] in (".pt", ".pth", ".bin",
                                                                                   ".safetensors")):
        paths.append(pretrained)  # a file, not an open_clip tag (tags are bare names like openai)
    missing = [path for path in paths if not os.path.exists(path)]
    if missing:
        raise ValueError(f"no such checkpoint file or local-dir model: {', '.join(missing)} (a relative path starts "
                         "at the working directory)")
    return paths


# The models evaluated beside the trained ones, by report row: the `models:` block, and train.init when it is not
# one of those (its row is then "init"). A row's name is also its file name, so none may be a method's.
EVAL_MODELS = dict(config.get("models") or {})
INIT = config["train"]["init"] if METHODS else None
INIT_ROW = None
if INIT is not None:
    INIT_ROW = INIT if isinstance(INIT, str) and INIT in EVAL_MODELS else "init"
    if INIT_ROW == "init":
        if "init" in EVAL_MODELS:
            raise ValueError("models: `init` is the report's row for train.init; name that model otherwise")
        EVAL_MODELS["init"] = model_spec(INIT)
for _name, _spec in EVAL_MODELS.items():
    if _name in ("clip", "negclip", "negimage", "tripletclip", "ceclip"):
        raise ValueError(f"models: {_name!r} is a method's name (its report row); name that model otherwise")
    local_model_files(_spec)


wildcard_constraints:
    method="clip|negclip|negimage|tripletclip|ceclip",  # the schema's train.methods
    model="[A-Za-z0-9][A-Za-z0-9_.-]*",  # a key of models: (the schema's pattern)
    seed=r"\d+",
    shard=r"\d+",
def url_list():
    return config["download"]["url_list"] if config["source"] == "tsv" else "results/world/urls.tsv"


def pair_shard(wildcards):
    """Shard {shard} of (image, caption) pairs that negate and pack read: downloaded, written from COCO, or the
    source's own."""
    if config["source"] == "webdataset":
        return SHARD_PATHS[int(wildcards.shard)]
    return f"results/{'source' if config['source'] == 'coco' else 'download'}/{wildcards.shard}.tar"


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


def eval_outputs(benchmark):
    """Every evaluation of `benchmark`: each trained model's, then each model of EVAL_MODELS."""
    return (expand(f"results/eval/{benchmark}/{{run}}.json", run=RUNS)
            + expand(f"results/eval/{benchmark}/models/{{model}}.json", model=list(EVAL_MODELS)))


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
PLACED_WITH = {"coco_source": "negate", "pack": "synthesize", "export": "eval"}


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
