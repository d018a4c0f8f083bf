"""Every benchmark, declared once: what the Snakefile, the plan's checks, the report, the significance test and the
error browser need to know of it. torch-free (the DAG is planned without torch); the protocol itself lives in the
benchmark's module, `tripletclip.evals.{name}` (its reader, `build_shapes`, `evaluate`, `metrics_from_samples`).

Adding a benchmark: its module, one `Benchmark` below, its block in the schema and config.yaml, its tests.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# The protocols (tripletclip/evals/protocols.py): pick the true caption among K for an image; pick the true image
# among K for a caption; Winoground's 2x2 group (text, image and group scores); retrieval (recall@K); classification
# (zero-shot top-K); similarity (no right answer: how far each positive is kept from its negative).
PROTOCOLS = ("caption", "image", "group", "retrieval", "classification", "similarity")

# A browser image source: (spec, at) -> {benchmark or "benchmark/category": its images' folder, or EMBEDDED}, where
# `at(path)` resolves a spec path against the spec's root.
Images = Callable[[dict, Callable[[str | Path], str]], dict]
EMBEDDED = "embedded"  # the images only the evaluator can read (`image_bytes`): inside parquet files, or in one of
#                        several folders per item


def _folder(field: str, default: str) -> Images:
    """The images are in spec[field], else in the folder `default` of spec["benchmark"]."""
    return lambda spec, at: {"": at(spec.get(field) or Path(spec["benchmark"]) / default)}


def _per_dataset(*directions: str) -> Images:
    """One folder per dataset of spec["datasets"] (its `image_dir`), for the categories {dataset}{direction}."""
    return lambda spec, at: {f"/{name}{d}": at(dataset["image_dir"]) for name, dataset in spec["datasets"].items()
                             for d in directions}


def _embedded(spec: dict, at) -> dict:
    return {"": EMBEDDED}


def _vl_checklist_folders(spec: dict, at) -> dict:
    """A folder per corpus file (its IMG_ROOT), the category being the file (the evaluator's `image_folders`)."""
    from . import vl_checklist

    root = at(".")
    return {f"/{key}": str(folder) for key, folder in vl_checklist.image_folders(spec, root).items()}


@dataclass(frozen=True)
class Benchmark:
    """One benchmark. `data`: the keys of its eval block that name real data (any set: the real benchmark, else the
    shapes analogue is built); `paths`: the fields of that block holding files or folders that must exist before any
    job, as dotted patterns (`*` any key of a mapping; a leaf may be a path or a list of paths); `more_paths`:
    "module:function" giving more (config key, path) pairs from the block, imported only when real data is named;
    `headline`: a regular expression (fullmatch) for the metrics of the report's overview; `macro`: the category the
    significance test adds as the mean of the category accuracies (the benchmark's headline is such a mean);
    `blind`: whether the text-only scorers of tripletclip.blind apply (it picks between captions); `images`: where
    the error browser finds the per-sample tables' images (None: the tables name no image file). `label`: its name
    in the browser; `title`: its section's title in results.md, whose values have `decimals` decimals; `protocol`: one
    of PROTOCOLS; `analogue`: whether its module builds a shapes analogue (`build_shapes`) to run on while config
    names no real data (without one, the plan refuses the benchmark in eval.benchmarks until its data is named);
    `needs`: the keys of its block that must be named too once its real data is (the plan refuses the block before
    any job otherwise)."""

    name: str
    label: str
    title: str
    protocol: str
    data: tuple[str, ...]
    paths: tuple[str, ...]
    headline: str = ".*"
    more_paths: str | None = None
    macro: str | None = None
    blind: bool = False
    images: Images | None = None
    decimals: int = 2
    analogue: bool = True
    needs: tuple[str, ...] = ()

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"{self.name}: protocol {self.protocol!r} is none of {PROTOCOLS}")

    def module(self):
        """The benchmark's module (imports torch)."""
        return importlib.import_module(f"{__package__}.{self.name}")

    def has_real_data(self, block: dict) -> bool:
        """Whether the eval block `block` names real data."""
        return any(block.get(key) for key in self.data)

    def data_paths(self, block: dict) -> list[tuple[str, str]]:
        """(config key, path) of every file or folder of real data that the eval block `block` names."""
        missing = [key for key in self.needs if self.has_real_data(block) and not block.get(key)]
        if missing:
            named = " / ".join(f"`{key}`" for key in self.data if block.get(key))
            raise ValueError(f"eval.{self.name}: {named} is named but {', '.join(f'`{k}`' for k in missing)} is "
                             f"not (docs/benchmarks.md, the {self.name} row)")
        found = []
        for pattern in self.paths:
            found += _walk(block, pattern.split("."), f"eval.{self.name}")
        if self.more_paths and self.has_real_data(block):
            module, function = self.more_paths.split(":")
            found += getattr(importlib.import_module(f"{__package__}.{module}"), function)(block)
        return found

    def is_headline(self, metric: str) -> bool:
        return re.fullmatch(self.headline, metric) is not None

    def image_roots(self, spec: dict, root: str | Path = ".") -> dict[str, str]:
        """{benchmark or "benchmark/category": the folder its images' paths start from, or EMBEDDED}; paths relative
        to `root`."""
        if self.images is None:
            return {}
        return {self.name + key: value for key, value in self.images(spec, lambda p: str(Path(root) / p)).items()}


def _walk(value, parts: list[str], key: str) -> list[tuple[str, str]]:
    if not parts:
        return [(key, path) for path in ([value] if isinstance(value, str) else value or [])]
    if not isinstance(value, dict):
        return []
    head, rest = parts[0], parts[1:]
    keys = list(value) if head == "*" else [head]
    return [found for k in keys if value.get(k) for found in _walk(value[k], rest, f"{key}.{k}")]


_REGISTRY = (
    Benchmark("sugarcrepe", "SugarCrepe", "SugarCrepe accuracy (%)", "caption", ("benchmark",),
              ("benchmark", "image_dir"), headline="avg", macro="avg", blind=True,
              images=_folder("image_dir", "images")),
    Benchmark("retrieval", "Retrieval", "Retrieval recall@K (%)", "retrieval", ("datasets",),
              ("datasets.*.annotations", "datasets.*.image_dir"), headline=".*_r1",
              images=_per_dataset("_i2t", "_t2i")),
    Benchmark("zeroshot", "Zero-shot", "Zero-shot classification accuracy (%)", "classification",
              ("datasets", "clip_benchmark"), ("datasets.*.annotations", "datasets.*.image_dir"),
              headline=".*_top1|vtab_avg", more_paths="zeroshot:clip_benchmark_paths"),
    Benchmark("linear_probe", "Linear probe",
              "Linear-probe accuracy (%): CLIP_benchmark's linear_probe task, a linear head trained on the frozen, "
              "normalized image features of each dataset's train split and scored on its test split: top-1, top-5 "
              "(6 or more classes), mean per-class recall; `vtab_lp_avg` the mean top-1 of the VTAB tasks",
              "classification", ("clip_benchmark",), (), headline=".*_lp_top1|vtab_lp_avg",
              more_paths="linear_probe:clip_benchmark_paths"),
    Benchmark("aro", "ARO", "ARO accuracy (%), macro over groups", "caption", ("datasets",),
              ("datasets.*.annotations", "datasets.*.image_dir"), headline="(?!.*_all_relations$).*", blind=True,
              images=_per_dataset("")),
    Benchmark("winoground", "Winoground", "Winoground scores (%)", "group", ("examples",),
              ("examples", "image_dir"), headline="group", blind=True, images=_embedded),
    Benchmark("similarity", "Similarity",
              "Cosine similarity of each positive and its hard negative (lower: kept further apart)", "similarity",
              ("shards",), ("shards",), decimals=3),
    Benchmark("sugarcrepe_pp", "SugarCrepe++",
              "SugarCrepe++ accuracy (%): image-to-text (ITT, both positives above the negative) and text-only (TOT, "
              "the two positives closer to each other than either to the negative)", "caption", ("benchmark",),
              ("benchmark", "image_dir"), headline="avg_itt|avg_tot", blind=True,
              images=_folder("image_dir", "images")),
    Benchmark("valse", "VALSE", "VALSE pairwise accuracy acc_r (%), validated samples", "caption", ("data",),
              ("data", "image_dir", "image_dirs.*"), headline="avg", blind=True, images=_embedded),
    Benchmark("vl_checklist", "VL-CheckList", "VL-CheckList accuracy (%), macro over files, sources and sub-types",
              "caption", ("benchmark",), ("benchmark", "image_root"), headline="avg", blind=True,
              images=_vl_checklist_folders),
    Benchmark("cola", "Cola", "Cola multi-object scores (%; Cola's own accuracy: image)", "group", ("examples",),
              ("examples", "image_dir"), headline="image", blind=True, images=_embedded),
    Benchmark("bivlc", "BiVLC", "BiVLC I2T, T2I and group scores (%)", "group", ("examples",), ("examples",),
              headline="group", blind=True, images=_embedded),
    Benchmark("whatsup", "What'sUp",
              "What'sUp accuracy (%): each dataset's individual accuracy (Controlled-A/B also per pair and per set), "
              "`avg` the mean of the datasets'", "caption", ("data",), ("data",), headline="avg", macro="avg",
              blind=True, images=_folder("data", ".")),
    Benchmark("colorswap", "ColorSwap", "ColorSwap text, image and group scores (%)", "group", ("data",), ("data",),
              headline="group", blind=True, images=_folder("data", ".")),
    Benchmark("spec", "SPEC",
              "SPEC accuracy (%): each subset image-to-text (i2t: the caption among K) and text-to-image (t2i: the "
              "image among K); `i2t`, `t2i` the means over subsets, `avg` theirs", "image", ("data",), ("data",),
              headline="i2t|t2i", macro="avg", blind=True, images=_folder("data", ".")),
    Benchmark("mmvp_vlm", "MMVP-VLM",
              "MMVP-VLM scores (%): per visual pattern the authors' pair accuracy (both statements pick their image), "
              "`avg` their mean (the paper's MMVP Average); Winoground's text, image and group, overall and per "
              "pattern (vl_compo's)", "group", ("data",), ("data",), headline="avg", macro="avg", blind=True,
              images=_folder("data", "."), analogue=False),
    Benchmark("eqben", "EqBen",
              "EqBen text, image and group scores (%): per sub-dataset (eqbenag, eqbenyoucook2, eqbengebc, "
              "eqbenkubric_loc/_attr/_cnt, eqbensd: the authors' and vl_compo's numbers), over every sample, and "
              "`avg_*` the means over the sub-datasets read", "group", ("data",),
              ("data", "image_dir", "private_info", "private_random_idx"), headline="avg_group|group",
              macro="avg_group", blind=True, images=_embedded, needs=("image_dir",)),
    Benchmark("crepe", "CREPE",
              "CREPE R@1 (%): a Visual Genome region's caption retrieved among its hard negatives, per file "
              "({type}_{complexity}, {split}_{type}) and pooled over complexities 4-12 per productivity foil type "
              "(atom, swap, negate, as vl_compo reports them), `avg` their mean", "caption", ("data",),
              ("data", "image_dir"), headline="atom|swap|negate|avg", blind=True, images=_folder("image_dir", "."),
              analogue=False, needs=("image_dir",)),
    Benchmark("svo_probes", "SVO-Probes",
              "SVO-Probes accuracy (%): per negative type (subject, verb, object) the sentence scores its positive "
              "image above the negative one; `avg` the mean of the three, `all` over every row; rows whose image is "
              "no longer available are left out and counted", "image", ("data",), ("data", "image_dir"),
              headline="subj_neg|verb_neg|obj_neg|avg", macro="avg", images=_folder("image_dir", "."),
              analogue=False, needs=("image_dir",)),
    Benchmark("vismin", "VisMin",
              "VisMin scores (%): Winoground's text, image and group per category (object, attribute, relation, "
              "counting); `avg` the mean of those twelve (the authors' AVG); `text`, `image`, `group` over all items",
              "group", ("data",), ("data",), headline="avg|group", blind=True, images=_embedded, analogue=False),
)
# name -> Benchmark, in suite order (the report's)
REGISTRY: dict[str, Benchmark] = {b.name: b for b in _REGISTRY}


def get(name: str) -> Benchmark:
    if name not in REGISTRY:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]
