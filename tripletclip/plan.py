"""What a config asks the DAG to do, worked out and checked before any job: the training data's shards, the trained
runs and their steps, the models evaluated beside them, the benchmarks, the report's baseline and published rows.

Plain Python over the validated config dict (rules/common.smk builds `Plan(config)` once per DAG build and its input
functions read it), so that unit tests cover planning without Snakemake. Every check raises ValueError naming the
config key and the fix. torch is imported only where a config asks for it (a checkpoint to check by its shapes,
train.budget: flops, TripletData or webdataset shards to read).
"""

from __future__ import annotations

import glob
import os

from . import schema as config_schema, tables
from .evals.registry import REGISTRY
from .specs import ModelSpec

# A trained run's report row: a method (train.methods); the models of `models:` may not take these names.
METHOD_NAMES = ("clip", "negclip", "negimage", "tripletclip", "ceclip")
MODEL_KEYS = ("model", "pretrained", "quick_gelu")
# The text-only scorers of a run with training captions to fit on, and of one without (the length rule alone).
BLIND_SCORERS = ("shorter", "frequent", "ngram", "novel")


def num_samples(config: dict) -> int:
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


def shard_paths(config: dict, source: str) -> list[str]:
    """The shards a `webdataset` or `tripletdata` source names, checked (every path there, the keys in the first
    sample) before any job runs."""
    from . import sources  # reads tars: imports webdataset and torch, which a shapes DAG does without

    if not config[source].get("shards"):
        raise ValueError(f"source: {source} needs {source}.shards in the config (a path, a brace pattern or a list)")
    paths = sources.expand_shards(config[source]["shards"])
    if source == "webdataset":
        sources.check_webdataset(paths, config["webdataset"]["image_key"], config["webdataset"]["caption_key"])
    else:
        sources.check_tripletdata(paths)
    return paths


def source_shards(config: dict) -> tuple[list[str], list[str] | None]:
    """(shard names, their paths when the source names existing shards, else None). The training data's shards: of
    the download (shapes, tsv), of COCO's pairs (coco), or the source's own (webdataset, tripletdata)."""
    source = config["source"]
    if source in ("shapes", "tsv"):
        count = -(-num_samples(config) // config["download"]["samples_per_shard"])
        return [f"{i:05d}" for i in range(count)], None
    if source == "coco":
        from . import sources

        c = config["coco"]
        if not c.get("annotations") or not c.get("image_dir"):
            raise ValueError("source: coco needs coco.annotations (Karpathy's dataset_coco.json) and coco.image_dir")
        pairs = sources.check_coco(c["annotations"], c["image_dir"], c["splits"])
        return [f"{i:05d}" for i in range(-(-pairs // c["samples_per_shard"]))], None
    paths = shard_paths(config, source)
    return [f"{i:05d}" for i in range(len(paths))], paths


def model_spec(config: dict, value, where: str) -> dict:
    """`value`, a `models:` entry, train.init or the filter's scorer, as the spec dict every job loads: parsed by
    ModelSpec.parse, the one parser the jobs use too (a key of `models:`, a spec, a local-dir: or hf-hub: name, a
    checkpoint file of train.model), and checked for what needs no torch (the architecture's name, files that
    exist). Whether its weights load: `check_loadable`."""
    try:
        spec = ModelSpec.parse(value, named=config.get("models") or {}, default_model=config["train"]["model"])
        spec.check_names()
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return spec.as_dict()


def local_model_files(spec: dict) -> list[str]:
    """The files on disk that a model spec loads (a checkpoint, a local-dir), as inputs: its jobs rerun when they
    change."""
    return ModelSpec(**spec).local_files()


def check_loadable(specs: dict[str, dict]) -> None:
    """Refuse, before any job, a model that would not load: each spec's checkpoint (file, local-dir: folder of any
    layout, cached hf-hub: snapshot) checked by its keys and shapes against the architecture without reading its
    weights (tripletclip.models.check_loadable; it imports torch and open_clip, so only when there is a model)."""
    if not specs:
        return
    from . import models

    for where, spec in specs.items():
        try:
            models.check_loadable(spec, name=where)
        except (ValueError, FileNotFoundError, RuntimeError) as e:  # each names `where`
            raise ValueError(str(e)) from None


def has_real_data(config: dict, benchmark: str) -> bool:
    """Whether `benchmark`'s eval block names real data (its registry entry's `data` keys)."""
    return REGISTRY[benchmark].has_real_data(config["eval"][benchmark])


def benchmark_paths(config: dict, benchmark: str) -> list[tuple[str, str]]:
    """(config key, path) of every file or folder of real data that `benchmark`'s eval block names."""
    return REGISTRY[benchmark].data_paths(config["eval"][benchmark])


def benchmarks(block: dict) -> list[str]:
    """The benchmarks eval.benchmarks names, in the registry's (the report's) order; ValueError for a name the
    registry does not know, one without its block in `eval:`, or one that has no shapes analogue while its block
    names no real data."""
    chosen = block["benchmarks"]
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown:
        raise ValueError(f"eval.benchmarks: unknown benchmark(s) {', '.join(map(repr, unknown))}; expected some of "
                         f"{', '.join(REGISTRY)}")
    missing = [name for name in chosen if name not in block]
    if missing:
        raise ValueError(f"eval: no block for {', '.join(missing)} (config.yaml's `eval:` has one for each benchmark)")
    real_only = [name for name in chosen
                 if not REGISTRY[name].analogue and not REGISTRY[name].has_real_data(block[name])]
    if real_only:
        raise ValueError("; ".join(
            f"eval.benchmarks: {name} has no shapes analogue, it runs on its real data only: set "
            f"{' or '.join(f'eval.{name}.{key}' for key in REGISTRY[name].data)} (docs/benchmarks.md) or "
            f"leave {name} out of eval.benchmarks" for name in real_only))
    return [name for name in REGISTRY if name in chosen]


MAIN_SET = "main"  # the negative set of the `negate:` block itself; negate.sets names the others
# An arm's keys beside its loss, and their defaults (docs/training.md, "Arms"): the negative set it reads, its captions
# (original, or each visit one of {caption, its rewrites}), whether its negative pairs join the data as positives, and
# negative captions per caption (null: the set's num_negatives for a set of negate.sets, train.num_negatives for main).
ARM_DEFAULTS = {"negatives": MAIN_SET, "captions": "original", "extra_pairs": False, "num_negatives": None}
# The losses that read negative images (tripletclip.losses.USES_NEG_IMAGE, which imports torch; a test holds them equal)
USES_NEG_IMAGE = {"clip": False, "negclip": False, "negimage": True, "tripletclip": True, "ceclip": False}


def negative_sets(negate: dict) -> dict[str, dict]:
    """{set: its negate settings, as the negate job takes them}: `main`, the `negate:` block, then each set of
    negate.sets, the main block with the set's keys changed (those of `llm` one by one), checked against the
    negate block's schema. Neither `sets` nor `input` is a setting of the job: `input` (captions, or the rewrites:
    `negative_inputs`) decides the file it reads."""
    import jsonschema

    base = {k: v for k, v in negate.items() if k not in ("sets", "input")}
    sets = {MAIN_SET: base}
    schema = config_schema.block("negate")
    for name, changes in (negate.get("sets") or {}).items():
        merged = {**base, **{k: v for k, v in changes.items() if k not in ("llm", "input")}}
        merged["llm"] = {**base["llm"], **(changes.get("llm") or {})}
        try:
            jsonschema.validate({**merged, "input": changes.get("input", negate["input"])}, schema)
        except jsonschema.ValidationError as e:
            raise ValueError(f"negate.sets.{name}: {e.message}") from None
        sets[name] = merged
    return sets


def negative_inputs(negate: dict) -> dict[str, str]:
    """{set: what it negates}: `captions` (the pair shards') or `rewrites` (each caption's first rewrite, as
    TripletCLIP negated LaCLIP's rewrites; the caption itself where it has none)."""
    return {MAIN_SET: negate["input"], **{name: changes.get("input", negate["input"])
                                          for name, changes in (negate.get("sets") or {}).items()}}


def check_rewrites(config: dict) -> None:
    """Refuse, before any job, rewrites that cannot be made: LaCLIP's released files (rewrite.backend: laclip) are
    aligned line by line with a URL list, so the source must be that list (tsv; or the shapes world's own list, for
    tests) read whole: each file has one line per row, no row of the list is skipped (a skipped row would shift
    every later sample's row), and there are files for rewrite.num_rewrites rewrites."""
    r = config["rewrite"]
    if r["backend"] != "laclip":
        return
    from .rewrite import release

    files = r.get("files") or []
    if len(files) < r["num_rewrites"]:
        raise ValueError(f"rewrite.files: {len(files)} files for rewrite.num_rewrites: {r['num_rewrites']} (LaCLIP "
                         "released one file per rewrite)")
    missing = [path for path in files if not os.path.isfile(path)]
    if missing:
        raise ValueError(f"rewrite.files: no such file {', '.join(missing)}")
    if config["source"] == "shapes":
        rows = config["world"]["num_samples"]
    elif config["source"] == "tsv":
        from .download import read_url_list

        d = config["download"]
        _, stats = read_url_list(d["url_list"], d["url_col"], d["caption_col"], d["header"], d["columns"])
        bad = {k: v for k, v in stats["skipped"].items() if k != "beyond_num_samples"}
        if bad:
            raise ValueError(f"rewrite.files: the URL list {d['url_list']} has rows the download skips ({bad}), "
                             "which would shift LaCLIP's lines against the samples; give the list the release was "
                             "made from, whole")
        rows = stats["rows"]
    else:
        raise ValueError(f"rewrite.backend: laclip reads LaCLIP's files by row of a URL list; source: "
                         f"{config['source']} has none (use a model backend: vllm, transformers)")
    release.check_release(files[:r["num_rewrites"]], rows)


def arms(train: dict, sets: dict[str, dict] | None = None) -> dict[str, dict]:
    """{arm: {"loss", "negatives", "captions", "extra_pairs", "num_negatives"}} of each name of train.methods, in its
    order: a loss's name is that loss on the main set's negatives and the original captions (ARM_DEFAULTS); any other
    name is an arm of train.arms, its keys filled in likewise. An arm is a trained model, a row of the report; train.arms
    defines arms (config.yaml: the paper's five), train.methods chooses what is trained, so a config applied on top of
    another can train other arms (a list replaces a list; a mapping is only added to). `sets`: negative_sets (default:
    main alone). ValueError for a name that is neither, an arm named like a loss, an arm that names no known set, or one
    that reads its negative pairs as positives with a loss that reads negatives."""
    sets = sets or {MAIN_SET: {"num_negatives": train["num_negatives"]}}
    defined = train.get("arms") or {}
    clash = [name for name in defined if name.lower() in METHOD_NAMES]
    if clash:
        raise ValueError(f"train.arms: {', '.join(map(repr, clash))} is a loss's name, which train.methods trains as it "
                         "is; name the arm otherwise")
    unknown = [name for name in train["methods"] if name not in METHOD_NAMES and name not in defined]
    if unknown:
        raise ValueError(f"train.methods: {', '.join(map(repr, unknown))} is neither a loss ({', '.join(METHOD_NAMES)})"
                         f" nor an arm of train.arms ({', '.join(defined) or 'none'})")
    found = {}
    for name in train["methods"]:
        arm = defined.get(name, {"loss": name})
        arm = {"loss": arm["loss"], **{k: arm.get(k, v) for k, v in ARM_DEFAULTS.items()}}
        if arm["negatives"] not in sets:
            raise ValueError(f"train.arms.{name}.negatives: no negative set {arm['negatives']!r} (the sets: "
                             f"{', '.join(sets)}; negate.sets defines more)")
        if arm["extra_pairs"] and arm["loss"] != "clip":
            raise ValueError(f"train.arms.{name}: extra_pairs reads the negative pairs as positives, which only "
                             f"the clip loss can do (LaCLIP+HN); {arm['loss']!r} reads them as negatives")
        if arm["num_negatives"] is None:
            main = arm["negatives"] == MAIN_SET
            arm["num_negatives"] = train["num_negatives"] if main else sets[arm["negatives"]]["num_negatives"]
        found[name] = arm
    return found


class Plan:
    """The jobs a config asks for, checked; built once per DAG build (rules/common.smk).

    methods, seeds, runs ("{method}/seed{seed}", one trained model each); shards (names) and shard_paths (the
    source's own shards, else None); arms ({arm: {"loss", "negatives", "captions", "extra_pairs", "num_negatives"}},
    `arms`; `methods` is their names) and what each reads (`view`); sets (the negative sets, `negative_sets`),
    set_inputs (what each negates), used_sets (those of negate.sets an arm reads), image_sets (those whose images an
    arm reads) and rewrites (whether any job reads the rewrite stage's output);
    benchmarks (in suite order) and analogues (those of them on their shapes analogue, scored in one job per model:
    each takes about a second, its process's imports about five); eval_models ({report row: spec dict}: the models of
    `models:`, and train.init as "init" when it is none of those); init (its spec dict) and init_row; filter_spec;
    steps ({method: steps}, `train.budget`); blind (the benchmarks with text-only rows) and blind_models; baseline
    (report.baseline's row); published ({row: [architecture, pretrained]})."""

    def __init__(self, config: dict):
        self.config = config
        t = config["train"]
        self.sets = negative_sets(config["negate"])
        self.set_inputs = negative_inputs(config["negate"])
        self.arms = arms(t, self.sets)
        self.methods, self.seeds = list(self.arms), list(t["seeds"])
        self.runs = [f"{method}/seed{seed}" for method in self.methods for seed in self.seeds]
        # An evaluation-only run (train.methods: []) needs no training data, so its source is not read.
        self.shards, self.shard_paths = source_shards(config) if self.methods else ([], None)
        self.benchmarks = benchmarks(config["eval"])
        self.analogues = [b for b in self.benchmarks if not has_real_data(config, b)]
        self._models()
        self.filter_spec = None
        if self.methods and config["filter"]["enabled"]:
            self.filter_spec = model_spec(config, {k: config["filter"][k] for k in MODEL_KEYS}, "filter")
        check_loadable({**{f"models.{name}": spec for name, spec in self.eval_models.items() if name != "init"},
                        **({"train.init": self.init} if self.init_row == "init" else {}),
                        **({"filter": self.filter_spec} if self.filter_spec else {})})
        if not self.runs and not self.eval_models:
            raise ValueError("nothing to run: train.methods is empty and models: names no model to evaluate")
        if t["lock_image"] and t["lock_text"]:
            raise ValueError("train.lock_image and train.lock_text are both true: nothing would train but the logit "
                             "scale")
        self.check_views()
        self.used_sets = [name for name in self.sets if name != MAIN_SET and
                          any(a["negatives"] == name for a in self.arms.values())]
        self.image_sets = [name for name in self.used_sets if any("neg_images" in self.view(arm) for arm in self.arms
                                                                  if self.arms[arm]["negatives"] == name)]
        negated = [MAIN_SET] if self.methods and config["source"] != "tripletdata" else []
        self.rewrites = bool(self.methods) and (any(a["captions"] == "rewrites" for a in self.arms.values()) or any(
            self.set_inputs[name] == "rewrites" for name in negated + self.used_sets))
        if self.rewrites:
            check_rewrites(config)
        self.steps = self._steps()
        self.baseline = self._baseline()
        self.published = self._published()
        self.blind = [b for b in self.benchmarks if REGISTRY[b].blind]
        self.blind_models = [f"blind-{name}" for name in (BLIND_SCORERS if self.methods else BLIND_SCORERS[:1])]
        self.check_benchmark_data()
        if self.methods:
            self.check_no_training_on_test_data()

    def _models(self) -> None:
        """The models evaluated beside the trained ones, by report row: the `models:` block, and train.init when it
        is not one of those (its row is then "init"). A row's name is also its file name, so none may be a
        method's."""
        config = self.config
        self.eval_models = {name: model_spec(config, value, f"models.{name}")
                            for name, value in (config.get("models") or {}).items()}
        init = config["train"]["init"]
        self.init = model_spec(config, init, "train.init") if self.methods and init else None
        self.init_row = None
        if self.init:
            self.init_row = next((name for name in self.eval_models if init == name), "init")
            if self.init_row == "init":
                if "init" in self.eval_models:
                    raise ValueError("models: `init` is the report's row for train.init; name that model otherwise")
                self.eval_models["init"] = self.init
        for name in self.eval_models:
            if name in METHOD_NAMES or name in self.arms or name.startswith("blind-"):
                raise ValueError(f"models: {name!r} is a method's, an arm's or a blind scorer's name (its report "
                                 "row); name that model otherwise")

    def _steps(self) -> dict[str, int]:
        """{arm: steps}: train.steps each (train.budget: pairs, the paper's), or the steps that give every arm the
        costliest one's training FLOPs (budget: flops; tripletclip.flops counts them on the model's shapes,
        importing torch and open_clip)."""
        t = self.config["train"]
        if not self.methods or t["budget"] == "pairs":
            return {method: t["steps"] for method in self.methods}
        from . import flops, models

        return flops.planned_steps(t, self.arms,
                                   models.model_config(self.init["model"] if self.init else t["model"]))

    def train_params(self, arm: str) -> dict:
        """The `train:` settings of arm `arm`'s runs (the train rule's params): the block without what only plans
        (methods, arms, seeds: adding an arm or a seed reruns no other run), with the init's spec, the arm's steps
        (train.budget) and its negative captions per caption."""
        t = self.config["train"]
        return {**{k: v for k, v in t.items() if k not in ("methods", "arms", "seeds")}, "init": self.init,
                "steps": self.steps[arm], "num_negatives": self.arms[arm]["num_negatives"]}

    def view(self, arm: str) -> dict:
        """What arm `arm` reads beside the training shards (tripletclip.data.View), as files aligned with the shards:
        {"rewrites": [...]} for captions: rewrites; {"negatives": [...]} for a set of negate.sets, and its images
        ({"neg_images": [...]}) when the arm's loss or extra_pairs reads them, and the set's name ("negative_set");
        {"extra_pairs": true}. {} for an arm that reads the shards alone (a loss's name in train.methods)."""
        a, found = self.arms[arm], {}
        if a["captions"] == "rewrites":
            found["rewrites"] = [f"results/rewrite/{shard}.jsonl" for shard in self.shards]
        if a["negatives"] != MAIN_SET:
            found["negative_set"] = a["negatives"]
            found["negatives"] = [f"results/negate/{a['negatives']}/{shard}.jsonl" for shard in self.shards]
            if USES_NEG_IMAGE[a["loss"]] or a["extra_pairs"]:
                found["neg_images"] = [f"results/synthesize/{a['negatives']}/{shard}.tar" for shard in self.shards]
        if a["extra_pairs"]:
            found["extra_pairs"] = True
        return found

    def check_views(self) -> None:
        """Refuse, before any job, an arm that reads what its source cannot give: TripletData's shards come with
        their negatives and no captions of pairs, so neither rewrites nor another negative set exist for them."""
        if self.config["source"] != "tripletdata":
            return
        bad = [arm for arm, a in self.arms.items() if a["captions"] == "rewrites" or a["negatives"] != MAIN_SET]
        if bad:
            raise ValueError(f"train.arms: {', '.join(bad)} read(s) rewrites or a set of negate.sets, which a "
                             "tripletdata source does not have (its shards are trained on as they are)")

    def rows(self) -> list[str]:
        """The report's rows of models: the methods trained, then the models of `models:`."""
        return self.methods + list(self.eval_models)

    def _baseline(self) -> str:
        """The model every other is compared with item by item (report.baseline): the config's, else the init model
        when fine-tuning, else clip when trained, else the first of train.methods, else the first model of
        `models:`."""
        rows = self.rows()
        chosen = self.config["report"]["baseline"]
        if chosen is not None and chosen not in rows:
            raise ValueError(f"report.baseline: {chosen!r} is neither a method of train.methods nor a model of "
                             f"models: ({', '.join(rows)})")
        return chosen or self.init_row or ("clip" if "clip" in self.methods else rows[0])

    def _published(self) -> dict[str, list[str]]:
        """{report row: [architecture, pretrained]} of the rows with published numbers (tripletclip.published): the
        models of `models:` by architecture and tag, and the rows report.published names, refused when unknown."""
        from . import published

        chosen = self.config["report"]["published"]
        rows = self.rows()
        unknown = [row for row in chosen if row not in rows]
        if unknown:
            raise ValueError(f"report.published: {', '.join(map(repr, unknown))} is neither a method of "
                             f"train.methods nor a model of models: ({', '.join(rows)})")
        return {row: list(key) for row, key in published.matches(self.eval_models, chosen, published.load()).items()}

    def has_real_data(self, benchmark: str) -> bool:
        return has_real_data(self.config, benchmark)

    def check_benchmark_data(self) -> None:
        """Refuse, before any job, real benchmark data that is not there (a glob must match something)."""
        missing = [f"{key}: {path}" for benchmark in self.benchmarks if self.has_real_data(benchmark)
                   for key, path in benchmark_paths(self.config, benchmark)
                   if not glob.glob(os.path.expanduser(path))]
        if missing:
            raise ValueError("no such benchmark data (a relative path starts at the working directory; docs/benchmarks.md "
                             "says where each comes from): " + "; ".join(missing))

    def check_no_training_on_test_data(self) -> None:
        """Refuse training data that a benchmark evaluates on: TripletData shards that the similarity benchmark
        reads, or a COCO split that a retrieval dataset of the same split file tests on."""
        config = self.config

        def same(a, b):
            return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)

        if "similarity" in self.benchmarks and config["eval"]["similarity"].get("shards") and self.shard_paths:
            both = [s for s in config["eval"]["similarity"]["shards"] if any(same(s, t) for t in self.shard_paths)]
            if both:
                raise ValueError(f"eval.similarity.shards holds training shards: {', '.join(both)}")
        if config["source"] == "coco" and "retrieval" in self.benchmarks:
            for name, dataset in (config["eval"]["retrieval"].get("datasets") or {}).items():
                if same(dataset["annotations"], config["coco"]["annotations"]) and dataset.get("split", "test") in \
                        config["coco"]["splits"]:
                    raise ValueError(f"coco.splits trains on {dataset.get('split', 'test')!r}, the split that "
                                     f"eval.retrieval.datasets.{name} tests on")
