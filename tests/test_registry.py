"""tripletclip/evals/registry.py: each benchmark declared once, and what the plan, report, significance test and
browser read from it."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from tripletclip import browse, report, schema
from tripletclip.evals import BENCHMARKS, BLIND_BENCHMARKS, SHAPES_BENCHMARKS, module, registry
from tripletclip.plan import Plan, benchmark_paths, benchmarks, has_real_data

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def test_every_entry_has_its_module_schema_block_and_config_block():
    blocks = schema.block("eval")["properties"]
    assert list(BENCHMARKS) == list(registry.REGISTRY)
    for name, entry in registry.REGISTRY.items():
        mod = module(name)
        assert all(callable(getattr(mod, f)) for f in ("evaluate", "metrics_from_samples")), name
        assert callable(getattr(mod, "build_shapes", None)) == entry.analogue, name  # an analogue iff declared
        assert name in blocks and name in BASE["eval"], name
        assert all(key in blocks[name]["properties"] for key in entry.data), name  # its real-data keys exist
        # each path pattern's first key is a key of the block
        assert all(p.split(".")[0] in blocks[name]["properties"] for p in entry.paths), name
        if entry.images is registry._embedded:
            assert callable(getattr(mod, "image_bytes", None)), name
    # the blocks beside the benchmarks' are the block's own settings
    assert set(blocks) - set(registry.REGISTRY) == {"benchmarks", "batch_size"}
    # config.yaml's suite: every benchmark with an analogue (the others need their data named)
    assert BASE["eval"]["benchmarks"] == list(SHAPES_BENCHMARKS)


def test_the_registry_and_the_plan_import_no_torch():
    code = ("import sys; import tripletclip.evals.registry, tripletclip.plan, tripletclip.evals; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, encoding="utf-8", cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_blind_benchmarks_are_those_that_pick_between_captions():
    assert BLIND_BENCHMARKS == ("sugarcrepe", "aro", "winoground", "sugarcrepe_pp", "valse", "vl_checklist", "cola",
                                "bivlc", "whatsup", "colorswap", "spec", "mmvp_vlm", "eqben", "crepe", "vismin")
    # SPEC picks the caption among K image-to-text (and the image among K, where a text-only scorer sees no image)
    assert all(registry.REGISTRY[b].protocol in ("caption", "group", "image") for b in BLIND_BENCHMARKS)


def test_unknown_names_and_missing_blocks_stop_the_plan():
    assert registry.get("aro").name == "aro"
    with pytest.raises(ValueError, match="unknown benchmark 'nope'; expected one of sugarcrepe, retrieval"):
        registry.get("nope")
    with pytest.raises(ValueError, match=r"eval.benchmarks: unknown benchmark\(s\) 'sugarcrep'"):
        benchmarks({"benchmarks": ["sugarcrep"], "sugarcrepe": {}})
    with pytest.raises(ValueError, match="eval: no block for aro"):
        benchmarks({"benchmarks": ["aro"]})
    # the suite's order, whatever the config's
    assert benchmarks({"benchmarks": ["cola", "sugarcrepe"], "cola": {}, "sugarcrepe": {}}) == ["sugarcrepe", "cola"]
    config = copy.deepcopy(BASE)
    config["eval"]["benchmarks"] = ["sugarcrepe", "whatsupp"]
    validate(config, str(REPO / "schemas/config.schema.yaml"))  # the schema leaves names to the registry
    with pytest.raises(ValueError, match="'whatsupp'"):
        Plan(config)


def test_a_benchmark_without_an_analogue_needs_its_data_before_any_job():
    real_only = [name for name, entry in registry.REGISTRY.items() if not entry.analogue]
    assert real_only == ["mmvp_vlm", "crepe", "svo_probes", "vismin"]
    assert not set(real_only) & set(SHAPES_BENCHMARKS)
    config = copy.deepcopy(BASE)
    config["eval"]["benchmarks"] = ["sugarcrepe", "mmvp_vlm", "crepe"]
    with pytest.raises(ValueError, match="eval.benchmarks: mmvp_vlm has no shapes analogue, it runs on its real data "
                                         "only: set eval.mmvp_vlm.data .* or leave mmvp_vlm out of eval.benchmarks; "
                                         "eval.benchmarks: crepe has no shapes analogue"):
        Plan(config)
    config["eval"]["mmvp_vlm"]["data"] = "mmvp"
    config["eval"]["crepe"]["data"] = "crepe/data"
    with pytest.raises(ValueError, match="eval.crepe: `data` is named but `image_dir` is not \\(docs/benchmarks.md, the crepe row"):
        benchmark_paths(config, "crepe")
    config["eval"]["crepe"]["image_dir"] = "vg"
    assert benchmark_paths(config, "crepe") == [("eval.crepe.data", "crepe/data"), ("eval.crepe.image_dir", "vg")]
    assert benchmarks(config["eval"]) == ["sugarcrepe", "mmvp_vlm", "crepe"]


def test_real_data_keys_and_paths_as_the_blocks_name_them():
    config = copy.deepcopy(BASE)
    assert not any(has_real_data(config, b) for b in BENCHMARKS)
    assert all(benchmark_paths(config, b) == [] for b in BENCHMARKS)
    ev = config["eval"]
    ev["retrieval"]["datasets"] = {"coco": {"annotations": "a.json", "image_dir": "img", "split": "test"},
                                   "flickr30k": {"annotations": "f.json", "image_dir": "fimg"}}
    ev["valse"].update(data="valse/data", image_dirs={"visual7w": "v7w", "coco2017": ["c1", "c2"]})
    ev["similarity"]["shards"] = ["s0.tar", "s1.tar"]
    ev["vl_checklist"].update(benchmark="vlc", image_root=None)
    assert benchmark_paths(config, "retrieval") == [
        ("eval.retrieval.datasets.coco.annotations", "a.json"),
        ("eval.retrieval.datasets.flickr30k.annotations", "f.json"),
        ("eval.retrieval.datasets.coco.image_dir", "img"), ("eval.retrieval.datasets.flickr30k.image_dir", "fimg")]
    assert benchmark_paths(config, "valse") == [
        ("eval.valse.data", "valse/data"), ("eval.valse.image_dirs.visual7w", "v7w"),
        ("eval.valse.image_dirs.coco2017", "c1"), ("eval.valse.image_dirs.coco2017", "c2")]
    assert benchmark_paths(config, "similarity") == [("eval.similarity.shards", "s0.tar"),
                                                     ("eval.similarity.shards", "s1.tar")]
    assert benchmark_paths(config, "vl_checklist") == [("eval.vl_checklist.benchmark", "vlc")]
    assert [has_real_data(config, b) for b in ("retrieval", "valse", "similarity", "vl_checklist", "aro")] == [
        True, True, True, True, False]
    # zero-shot names real data by either key; CLIP_benchmark's datasets come from its module
    ev["zeroshot"]["clip_benchmark"] = {"root": "wds", "datasets": ["vtab/dtd"]}
    assert has_real_data(config, "zeroshot")
    assert benchmark_paths(config, "zeroshot") == [("eval.zeroshot.clip_benchmark.datasets.vtab/dtd",
                                                    "wds/wds_vtab-dtd")]


def test_the_analogues_are_the_suite_less_what_runs_on_real_data(tmp_path, monkeypatch):
    """Plan.analogues: scored in one job per model (rules/evaluate.smk); a benchmark on real data gets a job each."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vlc").mkdir()
    config = copy.deepcopy(BASE)
    assert Plan(config).analogues == list(SHAPES_BENCHMARKS)
    config["eval"]["vl_checklist"].update(benchmark="vlc", image_root=None)
    assert Plan(config).analogues == [b for b in SHAPES_BENCHMARKS if b != "vl_checklist"]


def test_headlines_macro_titles_and_labels():
    h = report.headline
    assert h("sugarcrepe", "avg") and not h("sugarcrepe", "avg_groups") and not h("sugarcrepe", "replace_obj")
    assert h("retrieval", "coco_i2t_r1") and not h("retrieval", "coco_i2t_r5")
    assert h("zeroshot", "imagenet1k_top1") and h("zeroshot", "vtab_avg") and not h("zeroshot", "imagenet1k_top5")
    assert h("aro", "vg_relation") and not h("aro", "vg_relation_all_relations")
    assert [m for m in ("avg_itt", "avg_tot", "avg", "swap_att_itt") if h("sugarcrepe_pp", m)] == ["avg_itt", "avg_tot"]
    assert h("cola", "image") and not h("cola", "group") and h("bivlc", "group") and h("similarity", "anything")
    assert h("not-a-benchmark", "x")  # a row of an older run: shown
    assert [b for b, e in registry.REGISTRY.items() if e.macro] == ["sugarcrepe", "whatsup", "spec", "mmvp_vlm", "eqben",
                                                                    "svo_probes"]
    assert [m for m in ("i2t", "t2i", "avg", "count_i2t") if h("spec", m)] == ["i2t", "t2i"]
    assert registry.REGISTRY["vl_checklist"].label == "VL-CheckList"
    assert registry.REGISTRY["winoground"].title == "Winoground scores (%)"


def test_image_roots_of_each_kind(tmp_path):
    assert browse.image_roots("sugarcrepe", {"benchmark": "sc"}, "r") == {"sugarcrepe": "r/sc/images"}
    assert browse.image_roots("sugarcrepe_pp", {"benchmark": "sc", "image_dir": "coco"}, "r") == {
        "sugarcrepe_pp": "r/coco"}
    datasets = {"datasets": {"coco": {"image_dir": "c"}, "vg": {"image_dir": "v"}}}
    assert browse.image_roots("retrieval", datasets, "r") == {
        "retrieval/coco_i2t": "r/c", "retrieval/coco_t2i": "r/c", "retrieval/vg_i2t": "r/v", "retrieval/vg_t2i": "r/v"}
    assert browse.image_roots("aro", datasets) == {"aro/coco": "c", "aro/vg": "v"}
    roots = browse.image_roots("cola", {"examples": "x.json"}, "r")
    assert list(roots) == ["cola"] and isinstance(roots["cola"], browse.EmbeddedImages)
    assert roots["cola"].benchmark == "cola" and roots["cola"].root == "r"
    assert browse.image_roots("colorswap", {"data": "d"}, "r") == {"colorswap": "r/d"}
    assert browse.image_roots("spec", {"data": "d"}, "r") == {"spec": "r/d"}
    assert browse.image_roots("zeroshot", {}) == {} and browse.image_roots("similarity", {}) == {}


def test_a_protocol_outside_the_list_is_refused():
    with pytest.raises(ValueError, match="protocol 'vqa' is none of"):
        registry.Benchmark("x", "X", "X (%)", "vqa", ("data",), ("data",))
