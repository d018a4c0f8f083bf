import os
import re

from snakemake.utils import validate

from tripletclip import tables
from tripletclip.evals import BENCHMARKS as ALL_BENCHMARKS, BLIND_BENCHMARKS

if not os.path.isfile("config.yaml"):  # the Snakefile's configfile, which Snakemake skips when it is missing
    raise ValueError(f"no config.yaml in the working directory {os.getcwd()}: copy the repository's "
                     f"({os.path.join(workflow.basedir, 'config.yaml')}) there; --configfile files apply on top of it")
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
                 "winoground": "examples", "similarity": "shards", "sugarcrepe_pp": "benchmark", "valse": "data",
                 "vl_checklist": "benchmark", "cola": "examples", "bivlc": "examples"}


def has_real_data(benchmark):
    """Whether `benchmark`'s eval block names real data (zero-shot: ImageFolder datasets or CLIP_benchmark's)."""
    block = config["eval"][benchmark]
    return bool(block.get(REAL_DATA_KEY[benchmark]) or (benchmark == "zeroshot" and block.get("clip_benchmark")))


MODEL_KEYS = ("model", "pretrained", "quick_gelu")


def model_spec(value, where):
    """`value`, a `models:` entry, train.init or the filter's scorer, as the spec dict every job loads: parsed by
    tripletclip.specs.ModelSpec.parse, the one parser the jobs use too (a key of `models:`, a spec, a local-dir: or
    hf-hub: name, a checkpoint file of train.model), and checked for what needs no torch (the architecture's name,
    files that exist). Whether its weights load: check_loadable below."""
    from tripletclip.specs import ModelSpec

    try:
        spec = ModelSpec.parse(value, named=config.get("models") or {}, default_model=config["train"]["model"])
        spec.check_names()
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return spec.as_dict()


def local_model_files(spec):
    """The files on disk that a model spec loads (a checkpoint, a local-dir), as inputs: its jobs rerun when they
    change."""
    from tripletclip.specs import ModelSpec

    return ModelSpec(**spec).local_files()


# The models evaluated beside the trained ones, by report row: the `models:` block, and train.init when it is not
# one of those (its row is then "init"). A row's name is also its file name, so none may be a method's.
EVAL_MODELS = {name: model_spec(value, f"models.{name}") for name, value in (config.get("models") or {}).items()}
INIT = model_spec(config["train"]["init"], "train.init") if METHODS and config["train"]["init"] else None
INIT_ROW = None
if INIT:
    INIT_ROW = next((name for name, spec in EVAL_MODELS.items() if config["train"]["init"] == name), "init")
    if INIT_ROW == "init":
        if "init" in EVAL_MODELS:
            raise ValueError("models: `init` is the report's row for train.init; name that model otherwise")
        EVAL_MODELS["init"] = INIT
for _name in EVAL_MODELS:
    if _name in ("clip", "negclip", "negimage", "tripletclip", "ceclip") or _name.startswith("blind-"):
        raise ValueError(f"models: {_name!r} is a method's or a blind scorer's name (its report row); name that "
                         "model otherwise")
FILTER_SPEC = None
if METHODS and config["filter"]["enabled"]:
    FILTER_SPEC = model_spec({k: config["filter"][k] for k in MODEL_KEYS}, "filter")


def check_loadable(specs):
    """Refuse, before any job, a model that would not load: each spec's checkpoint (file, local-dir: folder of any
    layout, cached hf-hub: snapshot) checked by its keys and shapes against the architecture without reading its
    weights (tripletclip.models.check_loadable; it imports torch and open_clip, so only when there is a model)."""
    if not specs:
        return
    from tripletclip import models

    for where, spec in specs.items():
        try:
            models.check_loadable(spec, name=where)
        except (ValueError, FileNotFoundError, RuntimeError) as e:  # each names `where`
            raise ValueError(str(e)) from None


check_loadable({**{f"models.{name}": spec for name, spec in EVAL_MODELS.items() if name != "init"},
                **({"train.init": INIT} if INIT_ROW == "init" else {}), **({"filter": FILTER_SPEC} if FILTER_SPEC else {})})
if not RUNS and not EVAL_MODELS:
    raise ValueError("nothing to run: train.methods is empty and models: names no model to evaluate")
if config["train"]["lock_image"] and config["train"]["lock_text"]:
    raise ValueError("train.lock_image and train.lock_text are both true: nothing would train but the logit scale")


def training_steps():
    """{method: steps}: train.steps each (train.budget: pairs, the paper's), or the steps that give every method the
    costliest one's training FLOPs (budget: flops; tripletclip.flops counts them on the model's shapes, importing
    torch and open_clip)."""
    if not METHODS or config["train"]["budget"] == "pairs":
        return {method: config["train"]["steps"] for method in METHODS}
    from tripletclip import flops, models

    return flops.planned_steps(config["train"], METHODS, models.model_config(INIT["model"] if INIT
                                                                             else config["train"]["model"]))


STEPS = training_steps()


def report_baseline():
    """The model every other is compared with item by item (report.baseline): the config's, else the init model
    when fine-tuning, else clip when trained, else the first of train.methods, else the first model of `models:`."""
    rows = list(METHODS) + list(EVAL_MODELS)
    chosen = config["report"]["baseline"]
    if chosen is not None and chosen not in rows:
        raise ValueError(f"report.baseline: {chosen!r} is neither a method of train.methods nor a model of models: "
                         f"({', '.join(rows)})")
    return chosen or INIT_ROW or ("clip" if "clip" in METHODS else rows[0])


REPORT_BASELINE = report_baseline()


def published_matches():
    """{report row: [architecture, pretrained]} of the rows with published numbers (tripletclip.published): the
    models of `models:` by architecture and tag, and the rows report.published names, refused when unknown."""
    from tripletclip import published

    chosen = config["report"]["published"]
    rows = list(METHODS) + list(EVAL_MODELS)
    unknown = [row for row in chosen if row not in rows]
    if unknown:
        raise ValueError(f"report.published: {', '.join(map(repr, unknown))} is neither a method of train.methods "
                         f"nor a model of models: ({', '.join(rows)})")
    return {row: list(key) for row, key in published.matches(EVAL_MODELS, chosen, published.load()).items()}


PUBLISHED = published_matches()


def benchmark_paths(benchmark):
    """(config key, path) of every file or folder of real data that `benchmark`'s eval block names."""
    block, key = config["eval"][benchmark], f"eval.{benchmark}"
    if benchmark in ("retrieval", "zeroshot", "aro"):
        paths = [(f"{key}.datasets.{name}.{field}", dataset[field]) for name, dataset in
                 (block["datasets"] or {}).items() for field in ("annotations", "image_dir") if dataset.get(field)]
        if benchmark == "zeroshot" and block.get("clip_benchmark"):
            from tripletclip.evals.zeroshot import clip_benchmark_paths  # its torch import: only when asked for

            paths += clip_benchmark_paths(block)
        return paths
    if benchmark == "similarity":
        return [(f"{key}.shards", shard) for shard in block["shards"]]
    if benchmark == "valse":
        dirs = [(f"{key}.image_dirs.{k}", p) for k, v in (block.get("image_dirs") or {}).items()
                for p in ([v] if isinstance(v, str) else v)]
        return [(f"{key}.{f}", block[f]) for f in ("data", "image_dir") if block.get(f)] + dirs
    fields = {"sugarcrepe": ("benchmark", "image_dir"), "winoground": ("examples", "image_dir"),
              "sugarcrepe_pp": ("benchmark", "image_dir"), "vl_checklist": ("benchmark", "image_root"),
              "cola": ("examples", "image_dir"), "bivlc": ("examples",)}[benchmark]
    return [(f"{key}.{field}", block[field]) for field in fields if block.get(field)]


def check_benchmark_data():
    """Refuse, before any job, real benchmark data that is not there (a glob must match something)."""
    import glob

    missing = [f"{key}: {path}" for benchmark in BENCHMARKS if has_real_data(benchmark)
               for key, path in benchmark_paths(benchmark) if not glob.glob(os.path.expanduser(path))]
    if missing:
        raise ValueError("no such benchmark data (a relative path starts at the working directory; README, "
                         "\"Evaluation and the report\", says where each comes from): " + "; ".join(missing))


def check_no_training_on_test_data():
    """Refuse training data that a benchmark evaluates on: TripletData shards that the similarity benchmark reads,
    or a COCO split that a retrieval dataset of the same split file tests on."""
    def same(a, b):
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)

    if "similarity" in BENCHMARKS and config["eval"]["similarity"].get("shards") and SHARD_PATHS:
        both = [s for s in config["eval"]["similarity"]["shards"] if any(same(s, t) for t in SHARD_PATHS)]
        if both:
            raise ValueError(f"eval.similarity.shards holds training shards: {', '.join(both)}")
    if config["source"] == "coco" and "retrieval" in BENCHMARKS:
        for name, dataset in (config["eval"]["retrieval"].get("datasets") or {}).items():
            if same(dataset["annotations"], config["coco"]["annotations"]) and dataset.get("split", "test") in \
                    config["coco"]["splits"]:
                raise ValueError(f"coco.splits trains on {dataset.get('split', 'test')!r}, the split that "
                                 f"eval.retrieval.datasets.{name} tests on")


check_benchmark_data()
if METHODS:
    check_no_training_on_test_data()


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


def model_outputs(benchmark):
    """Every model's evaluation of `benchmark`: each trained model's, then each model of EVAL_MODELS."""
    return (expand(f"results/eval/{benchmark}/{{run}}.json", run=RUNS)
            + expand(f"results/eval/{benchmark}/models/{{model}}.json", model=list(EVAL_MODELS)))


# The benchmarks that pick between captions, and the text-only scorers a run has: fitted on its training captions,
# or, without training, the length rule alone.
BLIND = [b for b in BLIND_BENCHMARKS if b in BENCHMARKS]
BLIND_MODELS = [f"blind-{name}" for name in (("shorter", "frequent", "ngram", "novel") if METHODS else ("shorter",))]


def eval_outputs(benchmark):
    """Every evaluation of `benchmark`: the models', then the blind scorers' where it picks between captions."""
    blind = expand(f"results/eval/{benchmark}/blind/{{model}}.json", model=BLIND_MODELS) if benchmark in BLIND else []
    return model_outputs(benchmark) + blind


def benchmark_spec(benchmark):
    """{"spec": path} of the shapes analogue while config names no real data for `benchmark`, else {}."""
    if has_real_data(benchmark):
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
