"""Linear probes through CLIP_benchmark's `linear_probe` task: our CPU port (and our CUDA path, the library's own
`evaluate`) against the library's `evaluate` run on the CPU under a shim, on the shapes analogue and a tiny random
open_clip model; the analogue's layout as the library reads it; metrics from the table; a probe on separable
features; clear errors. Every dataset is written here in the library's webdataset layout; nothing is downloaded."""

import io as bytes_io
import json
import math
import tarfile
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image

from tripletclip import models
from tripletclip.evals import linear_probe, zeroshot

WORLD = {"image_size": 32}
COUNTS = {"train": 3, "test": 2}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The heads are tiny: on a loaded 2-core machine, torch's thread pool only makes their steps wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny():
    """open_clip's architecture with seeded random weights: features with no structure known in advance."""
    torch.manual_seed(0)
    model, _, clip_preprocess, _ = models.create("ViT-Tiny-P16-64")
    return model.eval(), clip_preprocess


@pytest.fixture(scope="module")
def analogue(tmp_path_factory):
    """The shapes analogue (42 classes, 3 train and 2 test images each) with a val split (2 a class) written by the
    same writer: (root, spec)."""
    root = tmp_path_factory.mktemp("probe")
    options = {"shapes_train_images_per_class": COUNTS["train"], "shapes_images_per_class": COUNTS["test"], "epochs": 3}
    spec = linear_probe.build_shapes(str(root), WORLD, options, 0)
    zeroshot.write_shapes_split(zeroshot.wds_folder(root, "shapes"), "val", 2, WORLD, 0, key="val")
    return root, spec


def shim(monkeypatch):
    """Lets the library's CUDA-only `evaluate` run on the CPU: `.cuda()` and `.to("cuda")` leave tensors and modules
    where they are; with no GPU in sight, torch.nn.DataParallel is the module itself and autocast("cuda",
    enabled=False) does nothing; `accuracy` is the library's with numpy 2's scalar conversion (the same floats)."""
    from clip_benchmark.metrics import linear_probe as lp

    to = torch.Tensor.to

    def cpu_to(self, *args, **kwargs):
        first = args[0] if args else kwargs.get("device")
        if (isinstance(first, str) and first.startswith("cuda")) or (isinstance(first, torch.device)
                                                                     and first.type == "cuda"):
            return self
        return to(self, *args, **kwargs)

    # no GPU as far as torch can tell, on a machine with one too: DataParallel is then the module itself
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)
    monkeypatch.setattr(torch.nn.Module, "cuda", lambda self, *a, **k: self)
    monkeypatch.setattr(torch.Tensor, "to", cpu_to)
    monkeypatch.setattr(lp, "accuracy", linear_probe.accuracy)
    return lp


def same(ours: dict, theirs: dict):
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(ours[key]), key
        else:
            assert ours[key] == value and type(ours[key]) is type(value), key


@pytest.mark.parametrize("options", [
    {"epochs": 3},  # every train image, weight decay 0 (no val split): cli.py's defaults
    {"epochs": 2, "val_split": "val"},  # OpenAI's weight-decay sweep, head on train + val
    {"epochs": 2, "val_split": "val", "fewshot_k": 2, "lr": 0.05, "seed": 3, "batch_size": 16},  # few-shot
], ids=["all", "sweep", "fewshot"])
def test_the_port_and_the_cuda_path_give_the_librarys_own_result(analogue, tiny, options, monkeypatch):
    root, _ = analogue
    model, clip_preprocess = tiny
    options = linear_probe.settings(options)
    folder = zeroshot.wds_folder(root, "shapes")
    lp = shim(monkeypatch)
    finals = []
    train = lp.train
    monkeypatch.setattr(lp, "train", lambda *a: finals.append(train(*a)) or finals[-1])

    # the library's evaluate as cli.py calls it (seeded first), under the shim
    train_loader, val_loader, test_loader = linear_probe.loaders(folder, "shapes", clip_preprocess, options, 32)
    torch.manual_seed(options["seed"])
    with tempfile.TemporaryDirectory() as features:
        theirs = lp.evaluate(model, train_loader, test_loader, options["fewshot_k"], options["batch_size"], 0,
                             options["lr"], options["epochs"], "tiny", options["seed"], features, "cuda",
                             val_dataloader=val_loader, normalize=True, amp=False)
    head = finals[-1]
    sweeps = 1 if options["val_split"] is None else 1 + 7 + 3 * 4  # find_peak's 7 starts, then 3 at spans 8-1
    assert len(finals) == sweeps
    train_calls = len(finals)

    port, port_logits, port_targets = linear_probe.probe(
        model, *linear_probe.loaders(folder, "shapes", clip_preprocess, options, 32), options, "cpu")
    same(port, theirs)
    assert len(finals) == train_calls  # the port trained with its own copy of `train`, not the library's
    # our path for CUDA (the library's evaluate, recorded) run here under the same shim: the same again
    cuda, cuda_logits, cuda_targets = linear_probe.probe(
        model, *linear_probe.loaders(folder, "shapes", clip_preprocess, options, 32), options, "cuda")
    same(cuda, theirs)
    assert torch.equal(cuda_logits, port_logits) and torch.equal(cuda_targets, port_targets)

    # the logits put back in the test shards' order are the library's final head's on each test image
    with torch.no_grad():  # Featurizer's features: encode_image, normalized
        test_features = torch.nn.functional.normalize(
            model.encode_image(torch.stack([clip_preprocess(image) for image in shard_images(folder)])), dim=-1)
        expected = head(test_features)
    assert torch.allclose(port_logits, expected, atol=1e-5)
    assert port_targets.tolist() == [i // COUNTS["test"] for i in range(42 * COUNTS["test"])]
    if options["val_split"]:
        assert theirs["weight_decay"] in np.logspace(-6, 2, num=97).tolist()
    else:
        assert theirs["weight_decay"] == 0
    # the table's metrics are the library's, its top-1 and top-5 exactly, mean per-class recall to the float
    table = zeroshot.ranked_table("shapes", [f"s{i:07d}" for i in range(len(port_targets))], port_logits,
                                  port_targets, [f"class {i}" for i in range(42)])
    assert int(table["correct"].sum()) / len(table) == theirs["lp_acc1"]
    assert int((table["rank"] <= 5).sum()) / len(table) == theirs["lp_acc5"]
    assert linear_probe.mean_per_class_recall(table) == theirs["lp_mean_per_class_recall"]
    assert 0 < theirs["lp_acc1"] < 1  # neither nothing nor everything right: a comparison with content


def shard_images(folder):
    """The test split's PNGs in shard order, read straight from the tar."""
    images = []
    with tarfile.open(folder / "test" / "0.tar") as tar:
        for member in tar:
            if member.name.endswith(".png"):
                images.append(Image.open(bytes_io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
    return images


def test_the_analogue_is_clip_benchmarks_layout_with_zero_shots_test_images(analogue, tmp_path):
    from clip_benchmark.datasets.builder import build_dataset

    root, spec = analogue
    assert spec == {"clip_benchmark": {"root": ".", "datasets": ["shapes"]}, "fewshot_k": -1, "epochs": 3,
                    "lr": 0.1, "batch_size": 64, "seed": 0, "val_split": None}
    folder = zeroshot.wds_folder(root, "shapes")
    for split, count in COUNTS.items():
        assert (folder / split / "nshards.txt").read_text(encoding="utf-8") == "1\n"
        dataset = build_dataset("wds/shapes", root=str(folder), transform=None, split=split, download=False)
        samples = list(dataset)
        assert [label for _, label in samples] == [i // count for i in range(42 * count)]
        assert {image.size for image, _ in samples} == {(32, 32)}
        assert dataset.classes == [f"{c} {s}" for c, s in zeroshot.shapes_classes()]
    # the test split is the zero-shot analogue's, byte for byte; the train split other pictures
    zeroshot.build_shapes(str(tmp_path), WORLD, {"shapes_images_per_class": COUNTS["test"]}, 0)
    assert (folder / "test" / "0.tar").read_bytes() == (tmp_path / "wds_shapes" / "test" / "0.tar").read_bytes()
    train = [image.tobytes() for image, _ in build_dataset("wds/shapes", root=str(folder), split="train",
                                                            transform=None, download=False)]
    assert not set(train) & {image.tobytes() for image in shard_images(folder)}


def test_metrics_from_a_table_by_hand():
    rows = [("a", 1, 0), ("a", 2, 0), ("a", 1, 1), ("a", 6, 1), ("a", 1, 5),  # dataset a: labels reach 5
            ("vtab_dtd", 1, 0), ("vtab_dtd", 3, 1), ("vtab_pets", 1, 0)]
    table = pd.DataFrame({"category": [c for c, _, _ in rows], "sample_id": [f"s{i}" for i in range(len(rows))],
                          "correct": [r == 1 for _, r, _ in rows], "rank": [r for _, r, _ in rows],
                          "label_index": [label for _, _, label in rows]})
    metrics = linear_probe.metrics_from_samples(table)
    assert list(metrics) == ["a_lp_top1", "a_lp_top5", "a_lp_mean_per_class_recall", "vtab_dtd_lp_top1",
                             "vtab_dtd_lp_mean_per_class_recall", "vtab_pets_lp_top1",
                             "vtab_pets_lp_mean_per_class_recall", "vtab_lp_avg"]
    assert metrics["a_lp_top1"] == pytest.approx(60)
    assert metrics["a_lp_top5"] == pytest.approx(80)  # rank 6 is the one miss
    assert metrics["a_lp_mean_per_class_recall"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3 * 100)
    assert metrics["vtab_dtd_lp_top1"] == pytest.approx(50) and "vtab_dtd_lp_top5" not in metrics  # labels < 5
    assert metrics["vtab_lp_avg"] == pytest.approx((50 + 100) / 2)


def test_mean_per_class_recall_is_sklearns_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 200)
    predicted = np.where(rng.random(200) < 0.4, labels, rng.integers(0, 9, 200))  # 7, 8: never true
    table = pd.DataFrame({"label_index": labels, "correct": predicted == labels})
    assert linear_probe.mean_per_class_recall(table) == balanced_accuracy_score(labels, predicted)


def png(colour) -> bytes:
    buffer = bytes_io.BytesIO()
    Image.new("RGB", (4, 4), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write_split(folder, split, samples):
    """One split as `clip_benchmark.webdataset_builder.convert_dataset` writes it: {split}/0.tar of s0000000.png and
    s0000000.cls (the label as text), {split}/nshards.txt."""
    (folder / split).mkdir(parents=True)
    with tarfile.open(folder / split / "0.tar", "w") as tar:
        for index, (colour, label) in enumerate(samples):
            for suffix, data in (("png", png(colour)), ("cls", str(label).encode())):
                info = tarfile.TarInfo(f"s{index:07d}.{suffix}")
                info.size = len(data)
                tar.addfile(info, bytes_io.BytesIO(data))
    (folder / split / "nshards.txt").write_text("1\n", encoding="utf-8")


def colour_dataset(root, train=4, test=3):
    """wds_colours/: the helper's three colours as classes, shades of each, train and test splits."""
    folder = root / "wds_colours"
    names = list(COLOURS)
    shade = lambda c, i: tuple(min(255, v + 10 * i) for v in COLOURS[c])  # noqa: E731
    write_split(folder, "train", [(shade(c, i), names.index(c)) for c in names for i in range(train)])
    write_split(folder, "test", [(shade(c, i), names.index(c)) for i in range(test) for c in names])
    (folder / "classnames.txt").write_text("".join(f"{c}\n" for c in names), encoding="utf-8")
    (folder / "zeroshot_classification_templates.txt").write_text("a {c} square\n", encoding="utf-8")
    return folder


def test_a_probe_on_features_that_separate_the_classes_gets_everything_right(tmp_path):
    colour_dataset(tmp_path)
    spec = {"clip_benchmark": {"root": ".", "datasets": ["colours"]}, "epochs": 20}
    metrics, details, samples = linear_probe.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    assert metrics == {"colours_lp_top1": 100, "colours_lp_mean_per_class_recall": 100}  # 3 classes: no top-5
    assert metrics == linear_probe.metrics_from_samples(samples)
    assert list(samples.columns) == list(linear_probe.COLUMNS)
    assert samples["sample_id"].tolist() == [f"s{i:07d}" for i in range(9)]
    assert samples["label"].tolist() == samples["predicted"].tolist() == ["red", "green", "blue"] * 3
    assert samples["label_index"].tolist() == samples["predicted_index"].tolist() == [0, 1, 2] * 3
    assert details["colours"] == {"images": 9, "train_images": 12, "val_images": 0, "classes": 3, "weight_decay": 0,
                                  "library": {"lp_acc1": 1.0, "lp_acc5": None, "lp_mean_per_class_recall": 1.0,
                                              "weight_decay": 0, "epochs": 20, "seed": 0, "fewshot_k": -1,
                                              "normalized": True}}
    assert json.loads(json.dumps(details)) == details  # plain JSON, as the runner writes it
    samples.to_parquet(bytes_io.BytesIO(), index=False)
    # the generator is the caller's again afterwards
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    linear_probe.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    assert torch.equal(torch.rand(3), expected)


def test_clear_errors(tmp_path):
    spec = {"clip_benchmark": {"root": ".", "datasets": ["colours"]}}
    run = lambda s=spec: linear_probe.evaluate(ColourModel(), preprocess, tokenizer, s, str(tmp_path))  # noqa: E731
    with pytest.raises(FileNotFoundError, match=r"linear probe colours: .*no folder .*wds_colours.*Download it from "
                                                r"https://huggingface.co/datasets/clip-benchmark/wds_colours"):
        run()
    folder = colour_dataset(tmp_path)
    for split in ("train", "test"):
        (folder / split).rename(folder / "moved")
        role = "trained on" if split == "train" else "scored on"
        with pytest.raises(FileNotFoundError, match=rf"the probe is {role} the split {split}/ .*its folders: "):
            run()
        (folder / "moved").rename(folder / split)
    (folder / "train" / "nshards.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"linear probe colours: .*train/nshards.txt"):
        run()
    (folder / "train" / "nshards.txt").write_text("1\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"tuned \(weight decay\) on the split val/"):
        run({**spec, "val_split": "val"})
    with pytest.raises(ValueError, match=r"insufficient data"):
        run({**spec, "fewshot_k": 5})  # 4 train images a class
    with pytest.raises(ValueError, match=r"fewshot_k must be -1"):
        run({**spec, "fewshot_k": 0})
    with pytest.raises(ValueError, match=r"names no dataset"):
        run({"epochs": 3})
    for name in ("zeroshot_classification_templates.txt", "classnames.txt"):  # the library asserts both
        (folder / name).unlink()
        with pytest.raises(FileNotFoundError, match=rf"linear probe colours: expected .*; found no .*{name}"):
            run()


def test_a_test_class_without_train_images_is_refused(tmp_path):
    folder = tmp_path / "wds_colours"
    write_split(folder, "train", [((255, 0, 0), 0), ((0, 255, 0), 1)])
    write_split(folder, "test", [((0, 0, 255), 2)])
    (folder / "classnames.txt").write_text("red\ngreen\nblue\n", encoding="utf-8")
    (folder / "zeroshot_classification_templates.txt").write_text("a {c} square\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"test label 2 has no train image"):
        linear_probe.evaluate(ColourModel(), preprocess, tokenizer,
                              {"clip_benchmark": {"root": ".", "datasets": ["colours"]}}, str(tmp_path))


def test_real_data_paths_name_each_split_without_reading():
    assert linear_probe.clip_benchmark_paths({"clip_benchmark": None}) == []
    paths = linear_probe.clip_benchmark_paths({"clip_benchmark": {"root": "/d", "datasets": ["vtab/dtd"]},
                                               "val_split": "val"})
    assert paths == [(f"eval.linear_probe.clip_benchmark.datasets.vtab/dtd.{s}", f"/d/wds_vtab-dtd/{s}")
                     for s in ("train", "test", "val")]
    assert len(linear_probe.clip_benchmark_paths({"clip_benchmark": {"root": "/d"}})) == 2 * 20  # VTAB + ImageNet
    with pytest.raises(ValueError, match="found no root"):
        linear_probe.clip_benchmark_paths({"clip_benchmark": {"datasets": ["x"]}})
