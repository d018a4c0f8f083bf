"""Any CLIP in: models evaluated as given (`models:`), fine-tuning from a pretrained init, and the sources people
already have (coco, webdataset, tripletdata), each through the real DAG on tiny inputs in their real layouts."""

import json
import random
import re
from io import BytesIO

import pandas as pd
import pytest
import torch
import yaml

from helpers.dag import PLUMBING, snakemake, tiny_config
from helpers.reference import sugarcrepe_per_sample
from tripletclip import data, io, models, shapes, train, world
from tripletclip.evals import BLIND_BENCHMARKS, sugarcrepe

pytestmark = pytest.mark.slow
TINY = "ViT-Tiny-P16-64"


def write_config(workdir, config):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def run(workdir, config, target="all"):
    """Snakemake on `config` in `workdir`, which must succeed."""
    write_config(workdir, config)
    result = snakemake(workdir, target)
    assert result.returncode == 0, result.stderr[-4000:]


def random_checkpoint(path, seed, quick_gelu=False, shape="bare"):
    """A tiny CLIP with random weights saved as a checkpoint file of the given shape."""
    torch.manual_seed(seed)
    loaded = models.load({"model": TINY, "quick_gelu": quick_gelu})
    state = loaded.model.state_dict()
    if shape == "state_dict":  # open_clip's training checkpoints, from DDP
        state = {"epoch": 10, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    torch.save(state, path)
    return str(path)


def planned_jobs(result) -> dict[str, int]:
    """{rule: count} from a dry run's job table."""
    table = result.stdout.split("Job stats:")[1] if "Job stats:" in result.stdout else ""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\S+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def named_only(tmp_path_factory):
    """An evaluation-only run: two random-weight checkpoints of two shapes, the plumbing's benchmarks, no
    training."""
    workdir = tmp_path_factory.mktemp("named")
    config = tiny_config()
    config["train"]["methods"] = []
    config["models"] = {
        "bare": {"model": TINY, "pretrained": random_checkpoint(workdir / "bare.pt", 1)},
        "open-clip-run": {"model": TINY, "pretrained": random_checkpoint(workdir / "epoch_10.pt", 2,
                                                                         shape="state_dict")},
    }
    run(workdir, config)
    return workdir, config


def test_an_evaluation_only_run_scores_every_named_model_on_every_benchmark_asked(named_only):
    workdir, _ = named_only
    long = pd.read_csv(workdir / "results/report/results.csv")
    assert not long["trained"].any() and long["seed"].isna().all()
    # without training captions to fit the others on, the length rule is the only text-only scorer
    assert set(long.loc[long["method"] == "blind-shorter", "benchmark"]) == set(PLUMBING) & set(BLIND_BENCHMARKS)
    long = long[long["method"] != "blind-shorter"]
    assert set(long["method"]) == {"bare", "open-clip-run"}
    assert {(m, b) for m, b in zip(long["method"], long["benchmark"])} == {
        (m, b) for m in ("bare", "open-clip-run") for b in PLUMBING}
    markdown = (workdir / "results/report/results.md").read_text(encoding="utf-8")
    assert markdown.startswith("Evaluation only") and "| bare *" in markdown
    for stage in ("download", "negate", "pack", "train", "models"):  # nothing downloaded, made or trained
        assert not (workdir / "results" / stage).exists()
    # the two checkpoints hold different random weights, so they score differently
    values = long.pivot_table(index=["benchmark", "metric"], columns="method", values="value")
    assert (values["bare"] != values["open-clip-run"]).any()


def test_adding_a_model_reruns_only_its_evaluations(named_only):
    workdir, config = named_only
    config["models"]["third"] = {"model": TINY, "pretrained": random_checkpoint(workdir / "third.pt", 3)}
    write_config(workdir, config)
    planned = snakemake(workdir, "-n", "all")
    assert planned.returncode == 0, planned.stderr[-3000:]
    # one job scores every analogue of the suite for the new model (a second each, its imports five)
    assert planned_jobs(planned) == {"all": 1, "significance": 1, "report": 1, "eval_analogues_named": 1}
    outputs = [pair for line in re.findall(r"^\s*output: (.*)$", planned.stdout, re.M)
               for pair in re.findall(r"results/eval/(\w+)/models/([\w-]+)\.json", line)]
    assert {model for _, model in outputs} == {"third"} and {b for b, _ in outputs} == set(PLUMBING)
    # `snakemake results/eval/sugarcrepe.csv` evaluates every model, named ones included: here only the new one is
    # missing
    planned = snakemake(workdir, "-n", "results/eval/sugarcrepe.csv")
    assert planned_jobs(planned) == {"eval_table": 1, "eval_analogues_named": 1}, planned.stdout[-2000:]


def test_a_benchmark_on_real_data_is_a_job_per_model_and_the_analogues_one(tmp_path):
    """Real data: a job per benchmark and model, so that adding a benchmark reruns no other. The analogues: one job
    per model for all of them."""
    world.write_karpathy(tmp_path / "coco", num_images=4, image_size=32, seed=0, heldout_combos=6, hollow_rate=0.2,
                         test_images=2)
    config = tiny_config(benchmarks=["retrieval", "sugarcrepe", "winoground"])
    config["train"]["methods"] = []
    config["models"] = {name: {"model": TINY, "pretrained": random_checkpoint(tmp_path / f"{name}.pt", seed)}
                        for seed, name in enumerate(["a", "b"])}
    config["eval"]["retrieval"]["datasets"] = {"coco": {"annotations": "coco/dataset_coco.json", "image_dir": "coco",
                                                        "split": "test"}}
    write_config(tmp_path, config)
    planned = snakemake(tmp_path, "-n", "all")
    assert planned_jobs(planned) == {"benchmark": 2, "eval_named": 2, "eval_analogues_named": 2, "blind": 2,
                                     "significance": 1, "report": 1, "all": 1}, planned.stdout[-3000:]
    jobs = re.findall(r"rule (eval_\w+):\n\s+input: [^\n]*\n\s+output: ([^\n]*)", planned.stdout)  # in groups
    assert sorted((rule, output.count(".json")) for rule, output in jobs) == [
        ("eval_analogues_named", 2), ("eval_analogues_named", 2), ("eval_named", 1), ("eval_named", 1)]
    assert all("retrieval" in output for rule, output in jobs if rule == "eval_named")
    config["eval"]["benchmarks"] = ["retrieval"]  # no analogue at all: no analogue job
    write_config(tmp_path, config)
    planned = snakemake(tmp_path, "-n", "all")
    assert planned_jobs(planned) == {"eval_named": 2, "significance": 1, "report": 1, "all": 1}, planned.stdout[-3000:]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """Two methods fine-tuned from a QuickGELU init (a `models:` entry) on pairs given as COCO, Karpathy's layout."""
    workdir = tmp_path_factory.mktemp("finetune")
    world.write_karpathy(workdir / "coco", num_images=48, image_size=64, seed=0, heldout_combos=6, hollow_rate=0.2,
                         third_object_rate=0.3, captions_per_image=2)
    config = tiny_config()
    init = {"model": TINY, "pretrained": random_checkpoint(workdir / "init.pt", 5, quick_gelu=True),
            "quick_gelu": True}
    config.update(source="coco", models={"pretrained": init},
                  coco={"annotations": "coco/dataset_coco.json", "image_dir": "coco", "splits": ["train"],
                        "samples_per_shard": 64})
    config["train"].update(methods=["clip", "ceclip"], seeds=[0], init="pretrained", lr_text=2e-4)
    config["eval"]["benchmarks"] = ["sugarcrepe", "zeroshot"]
    run(workdir, config)
    return workdir, config


def test_coco_pairs_are_negated_packed_and_trained_on_without_a_download(finetuned):
    workdir, _ = finetuned
    assert not (workdir / "results/download").exists()
    written = [io.read_json(workdir / f"results/source/{s}_stats.json")["written"] for s in ("00000", "00001")]
    assert written == [64, 32]  # 48 images x 2 captions, 64 a shard
    packed = [io.read_json(workdir / f"results/pack/{s}_stats.json")["packed"] for s in ("00000", "00001")]
    assert sum(packed) == 96
    assert json.loads((workdir / "results/train/shards.json").read_text(encoding="utf-8"))["shards"] == [
        "results/pack/00000.tar", "results/pack/00001.tar"]


def test_the_init_model_is_a_row_and_each_method_is_compared_with_it(finetuned):
    workdir, _ = finetuned
    long = pd.read_csv(workdir / "results/report/results.csv")
    assert list(dict.fromkeys(long["method"]))[:3] == ["clip", "ceclip", "pretrained"]
    assert long.loc[long["method"] == "pretrained", "trained"].eq(False).all()
    markdown = (workdir / "results/report/results.md").read_text(encoding="utf-8")
    table = markdown.split("### Difference to the init model (pretrained)")[1].split("###")[0]
    value = long.set_index(["method", "benchmark", "metric"])["value"]
    gain = value["ceclip", "sugarcrepe", "avg"] - value["pretrained", "sugarcrepe", "avg"]
    assert re.search(rf"\| ceclip +\| {re.escape(f'{gain:+.2f}')} +\|", table) and "zeroshot/shapes_top1" in table
    metrics = io.read_json(workdir / "results/train/ceclip/seed0/metrics.json")
    assert metrics["model"] == f"fine-tuned from {TINY} (weights from {workdir / 'init.pt'}, QuickGELU)"


def test_a_model_fine_tuned_from_quickgelu_exports_the_network_it_trained(finetuned):
    workdir, config = finetuned
    exported = workdir / "results/models/ceclip/seed0"
    assert io.read_json(exported / "open_clip_config.json")["model_cfg"]["quick_gelu"] is True
    # the trainer's network: built from the init spec as the trainer builds it, then given the trained weights
    cfg = train.TrainConfig.from_config({**config["train"], "init": config["models"]["pretrained"]})
    in_memory, *_ = train.build_model(cfg, "cpu")
    in_memory.load_state_dict(models.load_checkpoint(workdir / "results/train/ceclip/seed0/checkpoint.pt")["model"])
    loaded = models.load(f"local-dir:{exported}")
    in_memory.eval()
    image, text = torch.rand(4, 3, 64, 64), loaded.tokenizer(["a small red circle left of a large blue square"] * 4)
    with torch.no_grad():
        assert torch.allclose(in_memory.encode_image(image), loaded.model.encode_image(image), atol=1e-6, rtol=0)
        assert torch.allclose(in_memory.encode_text(text), loaded.model.encode_text(text), atol=1e-6, rtol=0)
    # SugarCrepe's protocol gives the same accuracies through the export, the in-memory model and the DAG
    bench = workdir / "results/benchmarks/sugarcrepe"
    reference = sugarcrepe_per_sample(exported, bench)
    in_memory_metrics, *_ = sugarcrepe.evaluate(in_memory, loaded.preprocess_val, loaded.tokenizer,
                                               io.read_json(bench / "spec.json"), str(bench))
    ours = io.read_json(workdir / "results/eval/sugarcrepe/ceclip/seed0.json")["metrics"]
    for category, accuracy in reference.items():
        assert ours[category] == pytest.approx(accuracy) and in_memory_metrics[category] == pytest.approx(accuracy)


def write_pairs(path, start, count, image_key="png", caption_key="caption"):
    """Shapes-world pairs as a lab's own webdataset shard: PNG images, captions under `caption_key`."""
    heldout = shapes.heldout_combos(0, 6)
    with io.shard_writer(path) as sink:
        for i in range(start, start + count):
            scene = shapes.sample_scene(random.Random(i), "train", heldout)
            buffer = BytesIO()
            shapes.render(scene, 64, seed=i).save(buffer, format="PNG")
            sink.write({"__key__": f"{i:09d}", image_key: buffer.getvalue(),
                        caption_key: shapes.describe(scene).encode()})


def write_json_pairs(path):
    """A shard whose caption lives only in its .json member, as DataComp's and LAION's do."""
    with io.shard_writer(path) as sink:
        sink.write({"__key__": "000000000", "jpg": io.encode_jpeg(shapes.render(shapes.sample_scene(
            random.Random(0), "train", shapes.heldout_combos(0, 6)), 64, seed=0)),
            "json": {"caption": "a small red circle", "url": "http://example.org/0.jpg", "key": "000000000"}})


def test_webdataset_shards_are_negated_and_packed_from_their_own_keys(tmp_path):
    for i in range(2):
        write_pairs(tmp_path / "lab" / f"cc3m-{i:05d}.tar", 30 * i, 30)
    config = tiny_config()
    config.update(source="webdataset", webdataset={"shards": "lab/cc3m-{00000..00001}.tar", "image_key": "png",
                                                   "caption_key": "caption"})
    run(tmp_path, config, "results/pack/00001.tar")
    assert not (tmp_path / "results/download").exists()
    samples = list(io.iter_shard(tmp_path / "results/pack/00001.tar"))
    assert len(samples) == 30 and {"jpg", "txt", "neg.jpg", "neg.txt"} <= set(samples[0])
    assert samples[0]["jpg"][:8] == b"\x89PNG\r\n\x1a\n"  # the lab's bytes, as they were


def write_tripletdata(path, seed, count):
    """`count` shapes-world triplets in TripletData's format, keyed 000000, 000001, ..."""
    keys = data.FORMATS["tripletdata"]
    heldout = shapes.heldout_combos(0, 6)
    with io.shard_writer(path) as sink:
        for i in range(count):
            rng = random.Random(seed + i)
            scene = shapes.sample_scene(rng, "train", heldout)
            negative = shapes.negative(scene, "swap_att", rng) or shapes.negative(scene, "replace_att", rng)
            sink.write({"__key__": f"{i:06d}", keys[0]: io.encode_jpeg(shapes.render(scene, 64, seed=i)),
                        keys[1]: shapes.describe(scene).encode(),
                        keys[2]: io.encode_jpeg(shapes.render(negative, 64, seed=-i)),
                        keys[3]: shapes.describe(negative).encode()})


def test_tripletdata_is_trained_on_directly_through_the_quality_filter(tmp_path):
    for shard in range(2):  # the same keys in both shards, as shards written one by one may have
        write_tripletdata(tmp_path / f"tripletdata/{shard:05d}.tar", 100 * shard, 24)
    config = tiny_config()
    config.update(source="tripletdata", tripletdata={"shards": ["tripletdata/00000.tar", "tripletdata/00001.tar"]})
    config["filter"] = {"enabled": True, "model": TINY, "keep_fraction": 0.5}
    config["train"].update(methods=["tripletclip"], seeds=[0])
    run(tmp_path, config, "results/train/tripletclip/seed0/checkpoint.pt")
    for stage in ("download", "negate", "synthesize", "pack"):
        assert not (tmp_path / "results" / stage).exists()
    stats = io.read_json(tmp_path / "results/filter/stats.json")
    assert (stats["in"], stats["kept"]) == (48, 24) and sum(stats["kept_per_shard"]) == 24


def write_foreign_weights(directory, folder=False):
    """A checkpoint that cannot load into the tiny model: a safetensors file of other shapes, or a transformers CLIP
    folder whose config.json and weights disagree (3 layers said, the weights of 2)."""
    from safetensors.torch import save_file
    from transformers import CLIPConfig, CLIPModel

    if not folder:
        save_file({"visual.conv1.weight": torch.zeros(8, 3, 4, 4)}, directory / "foreign.safetensors")
        return str(directory / "foreign.safetensors")
    towers = dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2)
    CLIPModel(CLIPConfig(text_config=towers, vision_config=dict(towers, image_size=32, patch_size=8),
                         projection_dim=8)).save_pretrained(directory / "hf")
    config = json.loads((directory / "hf/config.json").read_text(encoding="utf-8"))
    config["text_config"]["num_hidden_layers"] = 3
    (directory / "hf/config.json").write_text(json.dumps(config), encoding="utf-8")
    return str(directory / "hf")


@pytest.mark.parametrize("edit, message", [
    (lambda c, d: c.update(source="coco", coco={"annotations": "nowhere.json", "image_dir": "."}),
     "nowhere.json"),
    (lambda c, d: c.update(source="webdataset", webdataset={"shards": "lab/{00000..00002}.tar"}),
     "do not exist"),
    (lambda c, d: c.update(source="webdataset", webdataset={"shards": "lab/00000.tar", "caption_key": "txt"}),
     "its members are: caption, png"),
    (lambda c, d: (write_json_pairs(d / "lab/json.tar"),
                   c.update(source="webdataset", webdataset={"shards": "lab/json.tar", "caption_key": "json"})),
     "webdataset.caption_key: json holds a JSON object with fields caption, key, url: name the field, e.g. "
     "caption_key: json:caption"),
    (lambda c, d: (write_json_pairs(d / "lab/json.tar"),
                   c.update(source="webdataset", webdataset={"shards": "lab/json.tar", "caption_key": "json:capton"})),
     "field 'capton' of the json member is missing; its fields are: caption, key, url"),
    (lambda c, d: c.update(source="tripletdata", tripletdata={"shards": "lab/00000.tar"}), "neg_image"),
    (lambda c, d: c["train"].update(init=str(d / "missing.pt")), "missing.pt"),
    (lambda c, d: c.update(models={"other": {"model": TINY, "pretrained": write_foreign_weights(d)}}),
     "model 'models.other' (ViT-Tiny-P16-64 (weights from"),
    (lambda c, d: c["train"].update(init=write_foreign_weights(d)), "model 'train.init' (ViT-Tiny-P16-64"),
    (lambda c, d: c.update(models={"hf": {"model": f"local-dir:{write_foreign_weights(d, folder=True)}"}}),
     "model 'models.hf' (local-dir:"),
    (lambda c, d: c.update(models={"clip": {"model": TINY}}), "is a method's, an arm's or a blind scorer's name"),
    (lambda c, d: c.update(models={"m": {"model": TINY, "pretraind": "openai"}}), "pretraind"),
    (lambda c, d: c["train"].update(init={"model": TINY, "pretraind": "x.pt"}), "'pretraind' was unexpected"),
    (lambda c, d: (c.update(models={"openai-b32": {"model": "ViT-B-32-quickgelu", "pretrained": "openai"}}),
                   c["train"].update(init="openai-b23")), "did you mean 'openai-b32'?"),
    (lambda c, d: c.update(models={"m": {"model": "ViT-B32", "pretrained": "openai"}}), "did you mean ViT-B-32"),
    (lambda c, d: c.update(models={"m": {"model": "hf-hub:org/name", "pretrained": "openai"}}),
     "carries its own weights"),
    (lambda c, d: c["train"].update(lock_image=True, lock_text=True), "nothing would train"),
    (lambda c, d: c["train"].update(methods=[]), "nothing to run"),
    (lambda c, d: c["eval"]["sugarcrepe"].update(benchmark="data/sugarcrepe"), "eval.sugarcrepe.benchmark"),
    (lambda c, d: c.setdefault("report", {}).update(published={"negclip": {"model": "ViT-B-32",
                                                                           "pretrained": "negclip"}}),
     "report.published: 'negclip' is neither a method"),
    (lambda c, d: c.setdefault("report", {}).update(published={"clip": {"model": "ViT-B-32",
                                                                        "pretrained": "cc3m-clip"}}),
     "no published row for model 'ViT-B-32', pretrained 'cc3m-clip'"),
], ids=["coco-path", "webdataset-missing-shard", "webdataset-key", "webdataset-json-object",
        "webdataset-json-field", "tripletdata-key", "init-file", "model-weights", "init-weights", "hf-folder-weights",
        "model-name",
        "model-key", "init-key", "init-name", "architecture", "hub-and-file", "both-towers-locked", "nothing-to-run",
        "benchmark-data", "published-row", "published-model"])
def test_a_wrong_source_or_model_fails_before_any_job(tmp_path, edit, message):
    write_pairs(tmp_path / "lab/00000.tar", 0, 2)
    config = tiny_config()
    edit(config, tmp_path)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "all")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and message in output, output[-3000:]
    assert not (tmp_path / "results").exists()


def test_training_on_what_a_benchmark_tests_on_is_refused(tmp_path):
    write_tripletdata(tmp_path / "td/00000.tar", 0, 2)
    world.write_karpathy(tmp_path / "coco", num_images=4, image_size=32, seed=0, heldout_combos=6, hollow_rate=0.2,
                         test_images=2)
    overlaps = {
        "eval.similarity.shards holds training shards": dict(
            source="tripletdata", tripletdata={"shards": "td/00000.tar"}),
        "coco.splits trains on 'test'": dict(
            source="coco", coco={"annotations": "coco/dataset_coco.json", "image_dir": "coco",
                                 "splits": ["train", "test"]})}
    for message, change in overlaps.items():
        config = tiny_config(benchmarks=["retrieval", "similarity"])  # the two that read training-like data
        config.update(change)
        config["eval"]["similarity"]["shards"] = ["td/00000.tar"]
        config["eval"]["retrieval"]["datasets"] = {"coco": {"annotations": "coco/dataset_coco.json",
                                                            "image_dir": "coco", "split": "test"}}
        write_config(tmp_path, config)
        result = snakemake(tmp_path, "-n", "all")
        assert result.returncode != 0 and message in result.stdout + result.stderr, result.stdout[-3000:]
    assert not (tmp_path / "results").exists()
