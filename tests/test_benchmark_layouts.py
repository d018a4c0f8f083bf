"""Benchmarks in the layouts people download today (Winoground's parquet, SugarCrepe's first and current release, a
flat ImageNet validation folder), and the clear message each reader gives for a missing or malformed input.
Each is built tiny, in exactly the real layout, with images made here; scores come from the colour model, whose
answers are worked out by hand (tests/helpers/colour_model.py)."""

import base64
import io as bytes_io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image
from test_sugarcrepe import CASES, write_benchmark

from tripletclip import browse, io
from tripletclip.evals import aro, sugarcrepe, winoground, zeroshot

# ---------------------------------------------------------------------------------------------------------------
# Winoground: data/examples.jsonl + images/, or data/test-*.parquet with the images inside

# Three examples whose scores are worked out by hand (the same as test_evals' JSONL test): text 2/3, image 1/3,
# group 1/3; tag "a" 100/50/50, tag "b" all wrong.
EXAMPLES = [
    {"id": 0, "caption_0": "red", "caption_1": "blue", "image_0": "ex_0_img_0", "image_1": "ex_0_img_1", "tag": "a",
     "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "Object"},
    # s(c1, i1) = s(c1, i0) = .71: the text score holds, the image score does not (a tie is wrong)
    {"id": 1, "caption_0": "red", "caption_1": "red green", "image_0": "ex_1_img_0", "image_1": "ex_1_img_1",
     "tag": "a", "secondary_tag": "Symbolic", "num_main_preds": 1, "collapsed_tag": "Relation"},
    {"id": 2, "caption_0": "blue", "caption_1": "red", "image_0": "ex_2_img_0", "image_1": "ex_2_img_1", "tag": "b",
     "secondary_tag": "", "num_main_preds": 2, "collapsed_tag": "Both"},
]
COLOUR_OF = {"ex_0_img_0": "red", "ex_0_img_1": "blue", "ex_1_img_0": "red", "ex_1_img_1": "green",
             "ex_2_img_0": "red", "ex_2_img_1": "blue"}
EXPECTED = {"text": 200 / 3, "image": 100 / 3, "group": 100 / 3}

# The columns of facebook/winoground's features (its loading script), as `datasets` writes them to parquet: an
# Image is struct<bytes, path>; the schema's "huggingface" metadata records the features.
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema([("id", pa.int32()), ("image_0", IMAGE), ("image_1", IMAGE), ("caption_0", pa.string()),
                    ("caption_1", pa.string()), ("tag", pa.string()), ("secondary_tag", pa.string()),
                    ("num_main_preds", pa.int32()), ("collapsed_tag", pa.string())])
STRING, INT32 = {"dtype": "string", "_type": "Value"}, {"dtype": "int32", "_type": "Value"}
FEATURES = {"id": INT32, "image_0": {"_type": "Image"}, "image_1": {"_type": "Image"}, "caption_0": STRING,
            "caption_1": STRING, "tag": STRING, "secondary_tag": STRING, "num_main_preds": INT32,
            "collapsed_tag": STRING}


def png(colour: str) -> bytes:
    """A PNG with some texture, so that decoding matters: the colour on the left, its half on the right."""
    image = Image.new("RGB", (6, 4), COLOURS[colour])
    image.paste(Image.new("RGB", (3, 4), tuple(c // 2 for c in COLOURS[colour])), (3, 0))
    out = bytes_io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_jsonl_layout(folder):
    (folder / "data" / "images").mkdir(parents=True)
    for name, colour in COLOUR_OF.items():
        (folder / "data" / "images" / f"{name}.png").write_bytes(png(colour))
    (folder / "data" / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES), encoding="utf-8")


def write_parquet_layout(folder, shards=1, schema=SCHEMA):
    (folder / "data").mkdir(parents=True)
    rows = [{**e, **{f"image_{k}": {"bytes": png(COLOUR_OF[e[f"image_{k}"]]), "path": f"{e[f'image_{k}']}.png"}
                     for k in (0, 1)}} for e in EXAMPLES]
    schema = schema.with_metadata({"huggingface": json.dumps({"info": {"features": FEATURES}})})
    for i in range(shards):
        table = pa.Table.from_pylist(rows[i::shards], schema=schema)
        pq.write_table(table, folder / "data" / f"test-{i:05d}-of-{shards:05d}.parquet")


def test_winoground_scores_are_the_same_from_the_parquet_and_the_jsonl_layout(tmp_path):
    write_jsonl_layout(tmp_path / "jsonl")
    write_parquet_layout(tmp_path / "parquet")
    write_parquet_layout(tmp_path / "sharded", shards=2)  # rows 0, 2 and row 1: per-tag scores must not care
    results = {}
    for layout, spec in {
        "jsonl file": {"examples": "jsonl/data/examples.jsonl", "image_dir": "jsonl/data/images"},
        "jsonl file, images beside it": {"examples": "jsonl/data/examples.jsonl", "image_dir": None},
        "jsonl folder": {"examples": "jsonl"},
        "parquet file": {"examples": "parquet/data/test-00000-of-00001.parquet"},
        "parquet folder": {"examples": "parquet", "image_dir": "ignored"},
        "parquet glob": {"examples": "sharded/data/test-*.parquet"},
        "parquet folder of shards": {"examples": "sharded"},
    }.items():
        results[layout] = winoground.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path), batch_size=4)
    for layout, (metrics, details, samples) in results.items():
        assert metrics == pytest.approx(EXPECTED), layout
        assert details["per_tag"]["a"] == pytest.approx({"text": 100.0, "image": 50.0, "group": 50.0}), layout
        assert details["per_tag"]["b"] == {"text": 0.0, "image": 0.0, "group": 0.0}, layout
        assert details["examples"] == 3 and details["layout"] == layout.split()[0]
    first, _, table = results["jsonl file"]
    assert all(metrics == first for metrics, _, _ in results.values())  # identical, not merely close
    # the same rows, the images named as the JSONL names them, whichever layout (the sharded one's order aside)
    assert table["image_0"].tolist() == [e["image_0"] for e in EXAMPLES]
    assert table["sample_id"].tolist() == ["0", "1", "2"] and table["category"].tolist() == ["a", "a", "b"]
    for layout, (_, _, samples) in results.items():
        pd.testing.assert_frame_equal(samples.sort_values("sample_id", ignore_index=True), table, obj=layout)


def test_the_error_browser_shows_the_images_inside_winogrounds_parquet(tmp_path):
    write_jsonl_layout(tmp_path / "jsonl")
    write_parquet_layout(tmp_path / "sharded", shards=2)
    for spec in ({"examples": "sharded"}, {"examples": "jsonl"}):  # a folder of either layout
        _, _, table = winoground.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
        samples = table.assign(model="colour", benchmark="winoground")
        roots = browse.image_roots("winoground", spec, str(tmp_path))
        data = browse.browser_data(samples, roots, "t", max_per_view=10, thumbnail=16, max_images=100)
        items = data["benchmarks"][0]["categories"][0]["items"] + data["benchmarks"][0]["categories"][1]["items"]
        shown = {path: index for item in items for path, index, _ in item["images"]}
        # the wrong examples (1 and 2: group score wrong) show both images; ex_2_img_0 is red as ex_1_img_0 but
        # another image (by name): 4 distinct thumbnails, each the colour its name says
        assert set(shown) == {"ex_1_img_0", "ex_1_img_1", "ex_2_img_0", "ex_2_img_1"} and None not in shown.values()
        assert len(data["images"]) == 4 and data["images_shown"] == 4
        for path, index in shown.items():
            uri = data["images"][index]
            thumb = Image.open(bytes_io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
            assert max(abs(a - b) for a, b in zip(thumb.getpixel((0, 0)), COLOURS[COLOUR_OF[path]])) < 30, path
    # and only the images shown are read: a page capped at one image asks for one name
    asked = []
    source = roots["winoground"]
    source.read = lambda names: asked.append(set(names)) or {}
    browse.browser_data(samples, roots, "t", max_per_view=10, thumbnail=16, max_images=1)
    assert asked == [{"ex_1_img_0"}]


def test_winoground_says_what_it_expected_and_found(tmp_path):
    def run(spec):
        return winoground.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))

    write_jsonl_layout(tmp_path / "jsonl")
    with pytest.raises(FileNotFoundError, match="holds none of data/test-\\*.parquet, .*found \\['ex_0_img_0.png', "):
        run({"examples": "jsonl/data/images"})
    with pytest.raises(FileNotFoundError, match="no file matches .*nothing-\\*.parquet"):
        run({"examples": "jsonl/nothing-*.parquet"})
    with pytest.raises(FileNotFoundError, match="expected the folder of \\{image\\}.png files .* at .*elsewhere"):
        run({"examples": "jsonl/data/examples.jsonl", "image_dir": "elsewhere"})
    (tmp_path / "jsonl" / "data" / "images" / "ex_1_img_1.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 6 images are missing, e.g. .*ex_1_img_1.png"):
        run({"examples": "jsonl"})
    (tmp_path / "bad.jsonl").write_text('{"id": 0, "caption_0": "red", "image_0": "a", "image_1": "b"}\n',
                                        encoding="utf-8")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="entry 0 has \\['caption_0', 'id', 'image_0', 'image_1'\\]; expected the "
                                         "keys \\['caption_0', 'caption_1', 'image_0', 'image_1'\\]"):
        run({"examples": "bad.jsonl"})
    # a parquet whose images are file names, not the datasets Image struct
    schema = SCHEMA.set(1, pa.field("image_0", pa.string()))
    (tmp_path / "names" / "data").mkdir(parents=True)
    rows = [{**e, "image_1": {"bytes": png("red"), "path": None}} for e in EXAMPLES]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "names" / "data" / "test-0.parquet")
    with pytest.raises(ValueError, match="column image_0 is string; expected the datasets Image feature"):
        run({"examples": "names"})


# ---------------------------------------------------------------------------------------------------------------
# SugarCrepe: the seven files of today's release, never fewer


def test_sugarcrepe_refuses_a_partial_folder_naming_what_is_missing(tmp_path):
    write_benchmark(tmp_path, {c: s for c, s in CASES.items() if c not in ("replace_rel", "add_att")})
    with pytest.raises(FileNotFoundError, match="lacks 2 of the 7 category files: replace_rel.json, add_att.json$"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, {"benchmark": str(tmp_path)})


def test_sugarcrepe_refuses_its_first_release_and_says_why(tmp_path):
    # The first release (RAIVNLab/sugar-crepe 42b927f): replace_ent, swap_ent, add_ent instead of *_obj
    old = {c.replace("_obj", "_ent"): s for c, s in CASES.items()}
    write_benchmark(tmp_path, old)
    with pytest.raises(FileNotFoundError, match="lacks 3 of the 7 category files: replace_obj.json, swap_obj.json, "
                                                "add_obj.json. It holds replace_ent.json, swap_ent.json, "
                                                "add_ent.json: the first release .*download data/ of "
                                                "RAIVNLab/sugar-crepe again"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, {"benchmark": str(tmp_path)})


def test_sugarcrepe_names_a_malformed_file_and_missing_images(tmp_path):
    write_benchmark(tmp_path, CASES)
    spec = {"benchmark": str(tmp_path)}
    (tmp_path / "images" / "green.png").unlink()
    with pytest.raises(FileNotFoundError, match="SugarCrepe images in .*: 1 of 3 images are missing, e.g. .*green"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, spec)
    (tmp_path / "swap_obj.json").write_text(json.dumps({"0": {"filename": "red.png", "caption": "red"}}),
                                            encoding="utf-8")
    with pytest.raises(ValueError, match="swap_obj.json: entry 0 has \\['caption', 'filename'\\]; expected the keys"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, spec)
    (tmp_path / "swap_obj.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="swap_obj.json: expected a non-empty \\{id: .*found an empty list"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, spec)
    (tmp_path / "swap_obj.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="swap_obj.json: expected a UTF-8 JSON file"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, spec)


# ---------------------------------------------------------------------------------------------------------------
# Zero-shot: ImageNet's validation tarball unpacks flat


def test_zeroshot_explains_how_to_sort_a_flat_imagenet_val_folder(tmp_path):
    (tmp_path / "val").mkdir()
    for i, colour in enumerate(COLOURS, 1):  # as ILSVRC2012_img_val.tar unpacks: every image in one folder
        Image.new("RGB", (4, 4), COLOURS[colour]).save(tmp_path / "val" / f"ILSVRC2012_val_{i:08d}.JPEG")
    (tmp_path / "val" / "LICENSE.txt").write_text("not an image", encoding="utf-8")
    spec = {"datasets": {"imagenet": {"image_dir": "val", "classnames": "imagenet", "templates": "openai_imagenet"}}}
    with pytest.raises(FileNotFoundError, match="zero-shot imagenet: expected torchvision's ImageFolder layout.* "
                                                "holds 3 images and no class folder.*valprep.sh.*"
                                                "torchvision.datasets.ImageNet\\(root, split='val'\\)"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    spec["datasets"]["imagenet"]["image_dir"] = "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere is not a folder"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    (tmp_path / "sorted" / "n01440764").mkdir(parents=True)  # class folders without an image
    spec["datasets"]["imagenet"]["image_dir"] = "sorted"
    with pytest.raises(FileNotFoundError, match="zero-shot imagenet: expected .*Found no valid file"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))


def test_zeroshot_names_a_missing_or_bad_list(tmp_path):
    for colour in COLOURS:
        (tmp_path / "val" / colour).mkdir(parents=True)
        Image.new("RGB", (4, 4), COLOURS[colour]).save(tmp_path / "val" / colour / "a.png")
    spec = {"datasets": {"toy": {"image_dir": "val", "classnames": "names.txt", "templates": "templates.txt"}}}
    with pytest.raises(FileNotFoundError, match="zero-shot toy classnames: expected a text file.*found no file"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))
    (tmp_path / "names.txt").write_text("blue\ngreen\nred\n", encoding="utf-8")
    (tmp_path / "templates.txt").write_text("a photo of a {}\na photo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="every line must hold \\{\\} .*1 do not, e.g. 'a photo'"):
        zeroshot.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))


# ---------------------------------------------------------------------------------------------------------------
# ARO: missing or malformed files


def test_aro_names_missing_annotations_folders_and_images(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (4, 4), COLOURS["red"]).save(tmp_path / "images" / "1.png")
    case = {"image_path": "1.png", "bbox_x": 0, "bbox_y": 0, "bbox_w": 4, "bbox_h": 4, "relation_name": "on",
            "true_caption": "red", "false_caption": "blue"}

    def run(annotations="rel.json", image_dir="images"):
        spec = {"datasets": {"vg_relation": {"kind": "relation", "annotations": annotations, "image_dir": image_dir}}}
        return aro.evaluate(ColourModel(), preprocess, tokenizer, spec, str(tmp_path))

    with pytest.raises(FileNotFoundError, match="ARO vg_relation annotations: expected a JSON file, found nothing"):
        run()
    io.write_json(tmp_path / "rel.json", [case, {**case, "image_path": "2.png"}])
    with pytest.raises(FileNotFoundError, match="ARO vg_relation: expected the image folder at .*gqa, found no"):
        run(image_dir="gqa")
    with pytest.raises(FileNotFoundError, match="ARO vg_relation images in .*: 1 of 2 images are missing, e.g. "
                                                ".*2.png"):
        run()
    io.write_json(tmp_path / "rel.json", [{k: v for k, v in case.items() if k != "relation_name"}])
    with pytest.raises(ValueError, match="entry 0 has .*; expected the keys .*'relation_name'"):
        run()
    io.write_json(tmp_path / "rel.json", {"0": case})
    with pytest.raises(ValueError, match="expected a list of .*found a dict"):
        run()


def test_winoground_parquet_gives_the_similarities_the_jsonl_layout_gives(tmp_path):
    """The shapes analogue (PNG files) converted to today's parquet, scored by open_clip's tiny model: every
    similarity s(c_j, i_k), not only the scores, is bit for bit the same."""
    import torch

    from tripletclip import models

    world = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}
    spec = winoground.build_shapes(str(tmp_path / "files"), world, {"shapes_examples": 6}, 0)
    images = tmp_path / "files" / spec["image_dir"]
    rows = [{**e, "secondary_tag": "", "num_main_preds": 1, "collapsed_tag": "",
             **{f"image_{k}": {"bytes": (images / f"{e[f'image_{k}']}.png").read_bytes(),
                               "path": f"{e[f'image_{k}']}.png"} for k in (0, 1)}}
            for e in io.read_jsonl(tmp_path / "files" / spec["examples"])]
    (tmp_path / "hub" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), tmp_path / "hub" / "data" / "test-00000-of-00001.parquet")
    torch.manual_seed(0)
    model, _, clip_preprocess, clip_tokenizer = models.create("ViT-Tiny-P16-64")
    results, tables = [], []
    for root, layout_spec in ((tmp_path / "files", spec), (tmp_path, {"examples": "hub"})):
        metrics, details, samples = winoground.evaluate(model, clip_preprocess, clip_tokenizer, layout_spec,
                                                        str(root), 4)
        results.append((metrics, details["per_tag"]))
        tables.append(samples)
    assert len(tables[0]) == 6 and results[0] == results[1]
    # every similarity (c{j}_i{k}: the float32 values as exact floats) and name, bit for bit
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
