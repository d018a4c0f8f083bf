"""Zero-shot classification through the CLIP_benchmark library (its webdataset layout, its classifier), and our
retrieval, SugarCrepe and Winoground evaluators against the library's own implementations of those benchmarks, on
the same tiny files and model. Every file is written here in the layout the library reads; nothing is downloaded."""

import io as bytes_io
import shutil
import sys
import tarfile
import types

import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image

from tripletclip import io
from tripletclip.evals import retrieval, sugarcrepe, winoground, zeroshot

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}


def png(colour: str) -> bytes:
    buffer = bytes_io.BytesIO()
    Image.new("RGB", (4, 4), COLOURS[colour]).save(buffer, format="PNG")
    return buffer.getvalue()


def write_wds(folder, samples, classnames, templates, shards=1):
    """A CLIP_benchmark webdataset as `clip_benchmark.webdataset_builder.convert_dataset` writes one: keys s0000000,
    ..., `{key}.png` and `{key}.cls` (the label as text) in test/{i}.tar, test/nshards.txt, classnames.txt and
    zeroshot_classification_templates.txt (`{c}` for the class name)."""
    (folder / "test").mkdir(parents=True)
    per_shard = -(-len(samples) // shards)
    for shard in range(shards):
        with tarfile.open(folder / "test" / f"{shard}.tar", "w") as tar:
            for index in range(shard * per_shard, min(len(samples), (shard + 1) * per_shard)):
                colour, label = samples[index]
                for suffix, data in (("png", png(colour)), ("cls", str(label).encode())):
                    info = tarfile.TarInfo(f"s{index:07d}.{suffix}")
                    info.size = len(data)
                    tar.addfile(info, bytes_io.BytesIO(data))
    (folder / "test" / "nshards.txt").write_text(f"{shards}\n", encoding="utf-8")
    (folder / "classnames.txt").write_text("".join(f"{c}\n" for c in classnames), encoding="utf-8")
    (folder / "zeroshot_classification_templates.txt").write_text("".join(f"{t}\n" for t in templates),
                                                                    encoding="utf-8")


def test_the_default_list_is_clip_benchmarks_vtab_collection_and_imagenet():
    from clip_benchmark.datasets.builder import dataset_collection

    assert zeroshot.VTAB == tuple(dataset_collection["vtab"]) and len(zeroshot.VTAB) == 19
    assert zeroshot.DEFAULT_DATASETS[-1] == "imagenet1k" and "vtab/cifar10" not in zeroshot.VTAB  # VTAB's 19 tasks
    paths = zeroshot.clip_benchmark_paths({"clip_benchmark": {"root": "/data/wds"}})
    # named as the HF repos clip-benchmark/wds_vtab-cifar100, ...
    assert len(paths) == 20 and paths[1] == ("eval.zeroshot.clip_benchmark.datasets.vtab/cifar100",
                                             "/data/wds/wds_vtab-cifar100")
    assert paths[17][1] == "/data/wds/wds_sun397" and paths[-1][1] == "/data/wds/wds_imagenet1k"
    assert zeroshot.clip_benchmark_paths({"clip_benchmark": None, "datasets": None}) == []


def test_top1_top5_and_vtab_average_through_the_library(tmp_path):
    # ColourModel: an image is its mean colour, a prompt counts colour words, so "a {c} thing" / "a photo of a {c}"
    # give each class its own colour axis. vtab/dtd: red, green, blue right; a red image labelled green is wrong:
    # 3/4 = 75 %. vtab/eurosat: green right, blue labelled red wrong: 50 %. vtab_avg = (75 + 50) / 2 = 62.5.
    # imagenet1k: red right, blue labelled green wrong (green ties red at 0 for it: rank 2 or 3): top-1 50 %, top-5
    # 100 % (three classes). VTAB's tasks get no top-5 (VTAB reports top-1 only).
    names, templates = ["blue", "green", "red"], ["a {c} thing", "a photo of a {c}"]
    write_wds(tmp_path / "wds" / "wds_vtab-dtd", [("red", 2), ("green", 1), ("blue", 0), ("red", 1)], names,
              templates, shards=2)
    write_wds(tmp_path / "wds" / "wds_vtab-eurosat", [("green", 1), ("blue", 2)], names, templates)
    write_wds(tmp_path / "wds" / "wds_imagenet1k", [("red", 2), ("blue", 1)], names, templates)
    spec = {"datasets": None,
            "clip_benchmark": {"root": "wds", "datasets": ["vtab/dtd", "vtab/eurosat", "imagenet1k"]}}
    metrics, details, samples = zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path),
                                                  batch_size=3)
    assert metrics == {"vtab_dtd_top1": 75.0, "vtab_eurosat_top1": 50.0, "imagenet1k_top1": 50.0,
                       "imagenet1k_top5": 100.0, "vtab_avg": 62.5}
    assert zeroshot.metrics_from_samples(samples) == metrics
    assert details["vtab_dtd"]["top1_per_class"] == {"blue": 100.0, "green": 50.0, "red": 100.0}
    assert details["vtab_avg"] == {"datasets": ["vtab_dtd", "vtab_eurosat"], "of": 19}
    assert samples.drop(columns="rank").values.tolist() == [  # the shards' order, keys as sample ids
        ["vtab_dtd", "s0000000", True, "red", "red", 2, 2], ["vtab_dtd", "s0000001", True, "green", "green", 1, 1],
        ["vtab_dtd", "s0000002", True, "blue", "blue", 0, 0], ["vtab_dtd", "s0000003", False, "green", "red", 1, 2],
        ["vtab_eurosat", "s0000000", True, "green", "green", 1, 1],
        ["vtab_eurosat", "s0000001", False, "red", "blue", 2, 0],
        ["imagenet1k", "s0000000", True, "red", "red", 2, 2], ["imagenet1k", "s0000001", False, "green", "blue", 1, 0]]
    assert samples["rank"].tolist()[-1] in (2, 3)


def test_missing_or_malformed_wds_datasets_fail_before_encoding(tmp_path):
    names, templates = ["blue", "green", "red"], ["a {c} thing"]
    write_wds(tmp_path / "wds_vtab-dtd", [("red", 2)], names, templates)
    spec = {"clip_benchmark": {"root": ".", "datasets": ["vtab/dtd", "vtab/cifar100"]}}
    with pytest.raises(FileNotFoundError, match=r"vtab/cifar100: .*wds_vtab-cifar100 .*there is no such folder"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    spec["clip_benchmark"]["datasets"] = ["vtab/dtd"]
    (tmp_path / "wds_vtab-dtd" / "zeroshot_classification_templates.txt").write_text("a {} thing\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"`\{c\}`.*1 lines lack it, e.g. 'a \{\} thing'"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    shutil.rmtree(tmp_path / "wds_vtab-dtd")
    write_wds(tmp_path / "wds_vtab-dtd", [("red", 2), ("blue", 0)], names, templates)
    with tarfile.open(tmp_path / "wds_vtab-dtd" / "test" / "0.tar", "a") as tar:  # an image without its label
        info = tarfile.TarInfo("s0000009.png")
        info.size = len(png("red"))
        tar.addfile(info, bytes_io.BytesIO(png("red")))
    with pytest.raises(ValueError, match=r"sample 's0000009' of .*0.tar has \['png'\]; expected an image .* cls"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    (tmp_path / "wds_vtab-dtd" / "test" / "nshards.txt").write_text("2\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"nshards.txt says 2 shards; 1 missing, e.g. .*1.tar"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))


def test_the_shapes_analogue_through_clip_benchmark_equals_the_image_folder_evaluator(tmp_path, tiny):
    spec = zeroshot.build_shapes(str(tmp_path), WORLD, {"shapes_images_per_class": 2}, 0)
    assert spec == {"clip_benchmark": {"root": ".", "datasets": ["shapes"]}}
    folder = tmp_path / "wds_shapes"
    classnames = (folder / "classnames.txt").read_text(encoding="utf-8").splitlines()
    templates = (folder / "zeroshot_classification_templates.txt").read_text(encoding="utf-8").splitlines()
    assert len(classnames) == 42 and templates == ["a small {c}", "a large {c}"]
    assert (folder / "test" / "nshards.txt").read_text(encoding="utf-8") == "1\n"
    # a rebuild gives the same bytes (no tar mtime), so a cached analogue and a fresh one cannot differ
    again = zeroshot.build_shapes(str(tmp_path / "again"), WORLD, {"shapes_images_per_class": 2}, 0)
    assert again == spec
    assert (tmp_path / "again" / "wds_shapes" / "test" / "0.tar").read_bytes() == (folder / "test" / "0.tar").read_bytes()
    with tarfile.open(folder / "test" / "0.tar") as tar:
        assert {member.mtime for member in tar} == {0}
    metrics, details, samples = zeroshot.evaluate(*tiny, spec, str(tmp_path))
    assert zeroshot.metrics_from_samples(samples) == metrics and list(metrics) == ["shapes_top1", "shapes_top5"]
    assert samples["sample_id"].tolist() == [f"s{i:07d}" for i in range(84)]
    assert samples["label_index"].tolist() == [i // 2 for i in range(84)]

    # the same images (the shards' PNG bytes) and prompts ("{}" for "{c}") as an ImageFolder, one folder per label
    with tarfile.open(folder / "test" / "0.tar") as tar:
        for member in tar:
            if member.name.endswith(".cls"):
                label = int(tar.extractfile(member).read())
                image = tar.extractfile(member.name.replace(".cls", ".png")).read()
                path = tmp_path / "folder" / f"{label:03d}" / member.name.replace(".cls", ".png")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(image)
    (tmp_path / "templates.txt").write_text("a small {}\na large {}\n", encoding="utf-8")
    folder_spec = {"datasets": {"shapes": {"image_dir": "folder", "classnames": "wds_shapes/classnames.txt",
                                           "templates": "templates.txt"}}}
    folder_metrics, _, folder_samples = zeroshot.evaluate(*tiny, folder_spec, str(tmp_path))
    assert folder_metrics == metrics
    # image by image: the same rank of the true class and the same prediction
    assert [i.split("/")[1].removesuffix(".png") for i in folder_samples["sample_id"]] == samples["sample_id"].tolist()
    assert folder_samples["rank"].tolist() == samples["rank"].tolist()
    assert folder_samples["predicted_index"].tolist() == samples["predicted_index"].tolist()
    assert samples["rank"].nunique() > 5  # the model ranks the true classes all over: a comparison with content


def recall_metrics(library: dict, dataset: str) -> dict:
    """The library's zeroshot_retrieval metrics (fractions; text retrieval = an image querying the captions) in
    our names (%): {dataset}_i2t_r{k}, {dataset}_t2i_r{k}."""
    return {f"{dataset}_{ours}_r{k}": library[f"{theirs}_retrieval_recall@{k}"] * 100
            for ours, theirs in (("i2t", "text"), ("t2i", "image")) for k in retrieval.KS}


def test_retrieval_equals_clip_benchmarks_on_coco_and_flickr_layouts(tmp_path, tiny):
    from clip_benchmark.datasets.builder import build_dataset, image_captions_collate_fn
    from clip_benchmark.metrics import zeroshot_retrieval

    model, clip_preprocess, clip_tokenizer = tiny
    spec = retrieval.build_shapes(str(tmp_path), WORLD, {"shapes_images": 12, "captions_per_image": 5}, 0)
    ours = retrieval.evaluate(model, clip_preprocess, clip_tokenizer, spec, str(tmp_path))[0]
    entries = io.read_json(tmp_path / "dataset_shapes.json")["images"]
    # mscoco_captions: {root}/val2014/ images and {root}/coco_test_karpathy.json, the COCO captions format of the
    # Karpathy test split (github.com/mehdidc/retrieval_annotations) that torchvision's CocoCaptions reads
    coco = tmp_path / "coco"
    shutil.copytree(tmp_path / "images", coco / "val2014")
    io.write_json(coco / "coco_test_karpathy.json", {
        "images": [{"id": e["imgid"], "file_name": e["filename"]} for e in entries],
        "annotations": [{"id": 100 * e["imgid"] + j, "image_id": e["imgid"], "caption": s["raw"]}
                        for e in entries for j, s in enumerate(e["sentences"])]})
    # flickr30k: {root}/ images and {root}/flickr30k_test_karpathy.txt, a header line then "image.jpg,caption"
    flickr = tmp_path / "flickr"
    shutil.copytree(tmp_path / "images", flickr)
    (flickr / "flickr30k_test_karpathy.txt").write_text("image,caption\n" + "".join(
        f"{e['filename']},{s['raw']}\n" for e in entries for s in e["sentences"]), encoding="utf-8")
    for name, root in (("mscoco_captions", coco), ("flickr30k", flickr)):
        dataset = build_dataset(name, root=str(root), transform=clip_preprocess, split="test",
                                task="zeroshot_retrieval")
        loader = torch.utils.data.DataLoader(dataset, batch_size=5, collate_fn=image_captions_collate_fn)
        library = zeroshot_retrieval.evaluate(model, loader, clip_tokenizer, "cpu", amp=False,
                                              recall_k_list=list(retrieval.KS))
        assert recall_metrics(library, "shapes") == ours, name
    assert 0 < ours["shapes_t2i_r1"] < 100  # random weights: neither all right nor all wrong


def test_sugarcrepe_equals_clip_benchmarks(tmp_path, tiny):
    from clip_benchmark.datasets.builder import build_dataset, image_captions_collate_fn
    from clip_benchmark.metrics import image_caption_selection

    model, clip_preprocess, clip_tokenizer = tiny
    spec = sugarcrepe.build_shapes(str(tmp_path), WORLD, {"samples_per_category": 5}, 0)
    ours, _, samples = sugarcrepe.evaluate(model, clip_preprocess, clip_tokenizer, spec, str(tmp_path))
    # the library's sugar_crepe/{category}: {root}/val2017/ (COCO's images) and {root}/{category}.json, SugarCrepe's
    root = tmp_path / "library"
    shutil.copytree(tmp_path / "images", root / "val2017")
    for category in sugarcrepe.CATEGORIES:
        shutil.copy(tmp_path / f"{category}.json", root / f"{category}.json")
        dataset = build_dataset(f"sugar_crepe/{category}", root=str(root), transform=clip_preprocess,
                                task="image_caption_selection")
        loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=image_captions_collate_fn)
        library = image_caption_selection.evaluate(model, loader, clip_tokenizer, "cpu", amp=False)
        # the library's float32 mean, ours 100 * count / n: the same count of right samples
        assert library["acc"] * 100 == pytest.approx(ours[category], abs=1e-4), category
    # the library takes argmax over (positive, negative), a tie going to the positive; ours counts a tie wrong
    assert not (samples["score_positive"] == samples["score_negative"]).any()


def library_winoground(model, transform, tokenizer, folder, monkeypatch) -> dict:
    """CLIP_benchmark's winoground scores (%) of examples.jsonl and images/ in `folder`: {text, image, group}.

    The library's WinoGround reads `datasets.load_dataset("facebook/winoground", cache_dir=root)["test"]`: the gated
    hub repository, which no offline run can reach (and the `datasets` package is not installed here). Only that
    call is replaced: rows of the hub's features (image_0/1 decoded to PIL images, as its Image feature does) from
    the same examples.jsonl and PNGs; the library's dataset class and metric run as they are."""
    from clip_benchmark.datasets.builder import build_dataset, image_captions_collate_fn
    from clip_benchmark.metrics import image_caption_selection

    def load_dataset(path, cache_dir=None):
        assert path == "facebook/winoground" and cache_dir == str(folder)
        rows = [{**e, **{f"image_{k}": Image.open(folder / "images" / f"{e[f'image_{k}']}.png") for k in (0, 1)}}
                for e in io.read_jsonl(folder / "examples.jsonl")]
        return {"test": rows}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    dataset = build_dataset("winoground", root=str(folder), transform=transform, task="image_caption_selection")
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=image_captions_collate_fn)
    library = image_caption_selection.evaluate(model, loader, tokenizer, "cpu", amp=False)
    # its float32 means against ours (float32 means too): compared to 1e-4 %
    return {"text": library["text_acc"] * 100, "image": library["image_acc"] * 100, "group": library["acc"] * 100}


def test_winoground_equals_clip_benchmarks(tmp_path, tiny, monkeypatch):
    # By hand, ColourModel (s = cosine of colour-word counts and mean colours), s[caption][image], no tie anywhere:
    # 0: "red"/"blue" with a red/a blue image: text, image and group right.
    # 1: the same captions, the images swapped: all wrong.
    # 2: "red green"/"green" with a red and a (51, 255, 0) image: s00 .71 > s10 0 and s11 .98 > s01 .83, text
    #    right; s00 .71 < s01 .83, image (and group) wrong. text 2/3, image 1/3, group 1/3.
    colours = {"red": (255, 0, 0), "blue": (0, 0, 255), "lime": (51, 255, 0)}
    (tmp_path / "images").mkdir()
    for name, rgb in colours.items():
        Image.new("RGB", (4, 4), rgb).save(tmp_path / "images" / f"{name}.png")
    examples = [("red", "blue", "red", "blue"), ("red", "blue", "blue", "red"), ("red green", "green", "red", "lime")]
    io.write_jsonl(tmp_path / "examples.jsonl", [
        {"id": i, "caption_0": c0, "caption_1": c1, "image_0": i0, "image_1": i1, "tag": "object",
         "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"}
        for i, (c0, c1, i0, i1) in enumerate(examples)])
    spec = {"examples": "examples.jsonl", "image_dir": "images"}
    ours = winoground.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))[0]
    assert ours == pytest.approx({"text": 200 / 3, "image": 100 / 3, "group": 100 / 3})
    assert library_winoground(ColourModel(), preprocess, tokenizer, tmp_path, monkeypatch) == \
        pytest.approx(ours, abs=1e-4)

    # the shapes analogue and the tiny open_clip model (random weights: its text score is 0, its image score not)
    shapes_dir = tmp_path / "shapes"
    spec = winoground.build_shapes(str(shapes_dir), WORLD, {"shapes_examples": 30}, 0)
    ours, _, samples = winoground.evaluate(*tiny, spec, str(shapes_dir))
    assert library_winoground(*tiny, shapes_dir, monkeypatch) == pytest.approx(ours, abs=1e-4)
    assert ours["image"] > 0
    # the library's argmax sends a tie to the first caption / image, ours counts it wrong: there is none here
    assert not (samples["c0_i0"] == samples["c1_i0"]).any() and not (samples["c0_i0"] == samples["c0_i1"]).any()
