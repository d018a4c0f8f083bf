from snakemake.utils import validate

from tripletclip.evals import BENCHMARKS as ALL_BENCHMARKS

# Fails before any job runs, naming the offending key; also fills the schema's defaults.
validate(config, workflow.source_path("../schemas/config.schema.yaml"))


def _num_samples():
    if config["source"] == "shapes":
        return config["world"]["num_samples"]
    if not config["download"].get("url_list") or not config["download"].get("num_samples"):
        raise ValueError("source: tsv needs download.url_list and download.num_samples in the config")
    return config["download"]["num_samples"]


SHARDS = [f"{i:05d}" for i in range(-(-_num_samples() // config["download"]["samples_per_shard"]))]
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
    return config["resources"].get(rule, {}).get(key, config["resources"]["default"][key])


def resources_of(rule):
    """mem_mb, runtime and cpus_per_task of `rule`, and `gpu` (what the SLURM executor requests) where the config
    gives the rule one."""
    resources = {key: res(rule, key) for key in ("mem_mb", "runtime", "cpus_per_task")}
    gpus = config["resources"].get(rule, {}).get("gpu", config["resources"]["default"].get("gpu", 0))
    return {**resources, "gpu": gpus} if gpus else resources
