"""The VL-CheckList evaluator on a hand-built case whose answer is known (macro over files, sources, sub-types and
types), its options and errors, and the shapes analogue (its format read back, no blind scorer beating chance)."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from helpers.dag import REPO
from PIL import Image

from tripletclip import blind, browse, shapes
from tripletclip.evals import vl_checklist

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
WORLD, SEED = CONFIG["world"], CONFIG["seed"]
# the config's default (60 until config.yaml has a vl_checklist block)
SAMPLES = CONFIG["eval"].get("vl_checklist", {}).get("shapes_samples_per_category", 60)

# (corpus yaml under corpus/v1, ANNO_PATH as the release names it, IMG_ROOT) -> entries (image colour, POS, NEG).
# The colour model's image is its colour, a caption the count of its colour words: the score is their cosine.
RIGHT, WRONG = ("red", ["red"], ["blue"]), ("red", ["blue"], ["red"])
SWIG_RIGHT = ("green", ["green", "red", "red"], ["red", "green", "green"])  # only the first of each is read
SWIG_WRONG = ("green", ["red", "green", "green"], ["green", "red", "red"])
CASES = {
    ("Object/Size/large/vg_obj", "data/Object/Size/vg_size/vg_obj_large.json", "vg/"): [RIGHT],  # 100
    ("Object/Size/large/vg_subj", "data/Object/Size/vg_size/vg_subj_large.json", "vg/"): [WRONG],  # 0: vg 50
    ("Object/Size/large/swig_agent", "data/Object/Size/swig_size/swig_agent/swig_agent_large.json",
     "swig/"): [SWIG_RIGHT],  # 100
    ("Object/Size/large/swig_destination",
     "data/Object/Size/swig_size/swig_destination/swig_destination_large.json", "swig/"): [SWIG_WRONG],  # 0
    ("Object/Size/large/swig_item", "data/Object/Size/swig_size/swig_item/swig_item_large.json",
     "swig/"): [SWIG_WRONG],  # 0
    ("Object/Size/large/swig_tool", "data/Object/Size/swig_size/swig_tool/swig_tool_large.json",
     "swig/"): [SWIG_WRONG, SWIG_WRONG],  # 0: swig 25
    ("Object/Size/large/hake", "data/Object/Size/hake_size/hake_obj_large.json", "hake/"): [
        ("blue", ["blue"], ["green"])],  # 100: object_size_large (50 + 25 + 100) / 3
    ("Attribute/color/vg", "data/Attribute/vg/color.json", "vg"): [RIGHT, WRONG],  # 50
    # VAW's images are VG's; a tie (no colour word in either) is wrong
    ("Attribute/color/vaw", "data/Attribute/vaw/color.json", "vg"): [RIGHT, ("red", ["a"], ["b"])],  # 50
    ("Relation/action/vg", "data/Relation/vg/action.json", "vg/"): [WRONG],  # 0
    ("Relation/action/swig", "data/Relation/swig_action.json", "swig/"): [SWIG_RIGHT],  # 100
    ("Relation/action/hake", "data/Relation/hake_action.json", "hake/"): [("blue", ["blue green"], ["green"])],
}  # hake: 1/sqrt(2) > 0: 100; relation_action 200 / 3
SUBTYPES = ["object_size_large", "attribute_color", "relation_action"]


def write_release(folder, cases=CASES):
    """VL-CheckList's layout: corpus/v1/{path}.yaml naming data/... JSON lists of [image path, {POS, NEG}], images
    in one folder per source (vg/VG_100K/, swig/, hake/openimages/)."""
    subfolder = {"vg": "VG_100K/", "swig": "", "hake": "openimages/"}
    for (corpus, anno, img_root), entries in cases.items():
        path = folder / "corpus" / "v1" / f"{corpus}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'ANNO_PATH: "{anno}"\nIMG_ROOT: "{img_root}"\nTYPE: "TUPLE_JSON"\n', encoding="utf-8")
        (folder / anno).parent.mkdir(parents=True, exist_ok=True)
        sub = subfolder[img_root.strip("/")]
        (folder / anno).write_text(json.dumps([[f"{sub}{colour}.jpg", {"POS": pos, "NEG": neg}]
                                               for colour, pos, neg in entries]), encoding="utf-8")
    for root, sub in subfolder.items():
        (folder / "images" / root / sub).mkdir(parents=True, exist_ok=True)
        for name, rgb in COLOURS.items():  # JPEG, as the sources' are; a solid colour survives it
            Image.new("RGB", (8, 8), rgb).save(folder / "images" / root / sub / f"{name}.jpg", quality=100)
    return {"benchmark": str(folder), "image_root": str(folder / "images"), "subtypes": SUBTYPES}


def test_evaluator_gets_the_known_answer(tmp_path):
    spec = write_release(tmp_path)
    results, details, samples = vl_checklist.evaluate(ColourModel(), preprocess, tokenizer, spec, batch_size=2)
    expected = {"object_size_large": 175 / 3, "attribute_color": 50, "relation_action": 200 / 3,
                "object": 175 / 3, "attribute": 50, "relation": 200 / 3, "avg": (175 / 3 + 50 + 200 / 3) / 3}
    assert results == pytest.approx(expected) and list(results) == list(expected)
    assert details["files"] == {"Object_Size_large_vg_obj": 100, "Object_Size_large_vg_subj": 0,
                                "Object_Size_large_swig_agent": 100, "Object_Size_large_swig_destination": 0,
                                "Object_Size_large_swig_item": 0, "Object_Size_large_swig_tool": 0,
                                "Object_Size_large_hake": 100, "Attribute_color_vg": 50, "Attribute_color_vaw": 50,
                                "Relation_action_vg": 0, "Relation_action_swig": 100, "Relation_action_hake": 100}
    assert details["skipped"] == dict.fromkeys(details["files"], 0)
    assert samples["category"].tolist() == [k for k, n in details["samples"].items() for _ in range(n)]
    first = samples.iloc[2]  # swig_agent's: the first POS and NEG only
    assert (first["caption"], first["negative_caption"], first["image"], first["source"]) == (
        "green", "red", "green.jpg", "swig")
    # JPEG leaves a solid colour within a few levels of itself
    assert first["score_positive"] == pytest.approx(1, abs=0.02)
    assert first["score_negative"] == pytest.approx(0, abs=0.02)
    assert samples["score_positive"].iloc[-1] == pytest.approx(0.5 ** 0.5, abs=0.02)
    assert samples["sample_id"].tolist()[:7] == ["0"] * 6 + ["1"]  # the entry's index in its file
    assert vl_checklist.metrics_from_samples(samples) == results


def test_options_max_per_file_sources_and_missing_images(tmp_path):
    spec = write_release(tmp_path)
    model = (ColourModel(), preprocess, tokenizer)
    results, details, _ = vl_checklist.evaluate(*model, {**spec, "max_per_file": 1, "sources": ["vg"]})
    # vg only: object_size_large (100 + 0) / 2, attribute_color vg's first entry, right, relation_action 0
    assert results == {"object_size_large": 50, "attribute_color": 100, "relation_action": 0, "object": 50,
                       "attribute": 100, "relation": 0, "avg": 50}
    assert details["samples"] == {"Object_Size_large_vg_obj": 1, "Object_Size_large_vg_subj": 1,
                                  "Attribute_color_vg": 1, "Relation_action_vg": 1}
    (tmp_path / "images" / "swig" / "green.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"Object_Size_large_swig_agent images in .*swig: 1 of 1 images are "
                                                r"missing"):
        vl_checklist.evaluate(*model, spec)
    # the authors' loader skips an entry whose image is missing; so does skip_missing_images, counting them. Every
    # SWiG entry's image is green.jpg: SWiG drops out of the sources' mean
    results, details, _ = vl_checklist.evaluate(*model, {**spec, "skip_missing_images": True})
    assert {k: v for k, v in details["skipped"].items() if v} == {
        "Object_Size_large_swig_agent": 1, "Object_Size_large_swig_destination": 1, "Object_Size_large_swig_item": 1,
        "Object_Size_large_swig_tool": 2, "Relation_action_swig": 1}
    assert not any("swig" in k for k in details["files"])
    assert results["object_size_large"] == 75 and results["relation_action"] == 50  # (vg + hake) / 2
    # image_dirs puts one IMG_ROOT elsewhere
    moved = tmp_path / "elsewhere"
    (tmp_path / "images" / "hake").rename(moved)
    results, _, _ = vl_checklist.evaluate(*model, {**spec, "sources": ["hake"], "image_dirs": {"hake": str(moved)}})
    assert results["object_size_large"] == 100 and results["relation_action"] == 100


def test_the_browser_finds_every_scored_image_where_the_evaluator_read_it(tmp_path):
    spec = write_release(tmp_path)
    (tmp_path / "images" / "hake").rename(tmp_path / "elsewhere")
    spec = {**spec, "image_dirs": {"hake/": str(tmp_path / "elsewhere")}}
    _, _, samples = vl_checklist.evaluate(ColourModel(), preprocess, tokenizer, spec)
    roots = browse.image_roots("vl_checklist", spec)
    assert set(roots) == {f"vl_checklist/{key}" for key in samples["category"]}
    assert roots["vl_checklist/Attribute_color_vaw"] == str(tmp_path / "images" / "vg")  # IMG_ROOT "vg", no slash
    assert roots["vl_checklist/Relation_action_hake"] == str(tmp_path / "elsewhere")
    for row in samples.itertuples():
        assert (Path(roots[f"vl_checklist/{row.category}"]) / row.image).is_file()


def test_max_per_file_defaults_to_the_authors_first_thousand(tmp_path):
    # configs/sample.yaml's MAX_NUM 2000 keeps each file's first 1000 entries (evaluate.py: [:int(max_number / 2)])
    assert vl_checklist.MAX_PER_FILE == 1000
    cases = {("Relation/spatial/vg", "data/Relation/vg/spatial.json", "vg/"): [RIGHT] * 1000 + [WRONG] * 2}
    spec = {**write_release(tmp_path, cases), "subtypes": ["relation_spatial"]}
    model = (ColourModel(), preprocess, tokenizer)
    results, details, _ = vl_checklist.evaluate(*model, spec)  # no max_per_file: the authors' 1000, all right
    assert results["relation_spatial"] == 100 and details["samples"] == {"Relation_spatial_vg": 1000}
    results, details, _ = vl_checklist.evaluate(*model, {**spec, "max_per_file": None})  # null: every entry
    assert results["relation_spatial"] == pytest.approx(100000 / 1002)
    assert details["samples"] == {"Relation_spatial_vg": 1002}


def test_bad_input_is_named(tmp_path):
    model = (ColourModel(), preprocess, tokenizer)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        vl_checklist.evaluate(*model, {"benchmark": str(tmp_path / "nowhere")})
    spec = write_release(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"lacks 44 of the 56 corpus files: corpus/v1/Object/Size/medium/"
                                                r"vg_obj.yaml"):  # the 13 sub-types: VL-CheckList's whole corpus
        vl_checklist.evaluate(*model, {**spec, "subtypes": None})
    with pytest.raises(ValueError, match="unknown sub-types or sources"):
        vl_checklist.evaluate(*model, {**spec, "subtypes": ["object_colour"]})
    anno = tmp_path / "data" / "Relation" / "vg" / "action.json"
    anno.write_text(json.dumps([["VG_100K/red.jpg", {"POS": ["red"]}]]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"Relation_action_vg .*: entry 0 is .*; expected \[image path, "):
        vl_checklist.evaluate(*model, spec)
    anno.unlink()
    with pytest.raises(FileNotFoundError, match=r"Relation_action_vg .*expected a JSON file, found nothing"):
        vl_checklist.evaluate(*model, spec)
    (tmp_path / "corpus" / "v1" / "Relation" / "action" / "vg.yaml").write_text("IMG_ROOT: vg\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected ANNO_PATH and IMG_ROOT"):
        vl_checklist.evaluate(*model, spec)


@pytest.fixture(scope="module")
def default_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("vl_checklist")
    spec = vl_checklist.build_shapes(str(out), WORLD, {"shapes_samples_per_category": SAMPLES}, SEED)
    return out, spec


def test_shapes_analogue_is_in_vl_checklist_format_and_read_back(default_build):
    out, spec = default_build
    assert spec == {"benchmark": ".", "image_root": ".", "subtypes": list(vl_checklist.SHAPES_SUBTYPES),
                    "sources": ["vg"]}
    heldout = shapes.heldout_combos(SEED, WORLD["heldout_combos"])
    for (subtype, name), anno in vl_checklist._SHAPES_DATA.items():
        config = yaml.safe_load((out / "corpus" / "v1" / vl_checklist.SUBTYPES[subtype][1] / f"{name}.yaml")
                                .read_text(encoding="utf-8"))
        assert config == {"ANNO_PATH": anno, "IMG_ROOT": "vg/", "TYPE": "TUPLE_JSON"}
        entries = json.loads((out / anno).read_text(encoding="utf-8"))
        assert len(entries) == SAMPLES
        for path, texts in entries:
            assert path.startswith("VG_100K/") and (out / "vg" / path).is_file()
            assert set(texts) == {"POS", "NEG"} and len(texts["POS"]) == len(texts["NEG"]) == 1
            scene, negative = shapes.parse(texts["POS"][0])[0], shapes.parse(texts["NEG"][0])[0]
            assert scene.combos() & heldout and scene != negative
            changed = [i for i, (a, b) in enumerate(zip(scene.objects, negative.objects)) if a != b]
            if subtype.startswith("object_size"):  # the subject's (vg_subj) or object's shape, of that size
                i = 0 if name == "vg_subj" else 1
                assert changed == [i] and scene.objects[i].size == subtype.rsplit("_", 1)[1]
                assert scene.objects[i].shape != negative.objects[i].shape
            elif subtype == "relation_spatial":
                assert not changed and scene.relation != negative.relation
            else:
                field = "colour" if subtype == "attribute_color" else "size"
                assert len(changed) == 1 and getattr(scene.objects[changed[0]], field) != \
                    getattr(negative.objects[changed[0]], field)
    results, details, samples = vl_checklist.evaluate(ColourModel(), preprocess, tokenizer, spec, str(out))
    assert set(details["samples"].values()) == {SAMPLES} and len(samples) == 7 * SAMPLES
    assert list(results) == [*vl_checklist.SHAPES_SUBTYPES, "object", "attribute", "relation", "avg"]
    assert vl_checklist.metrics_from_samples(samples) == results
    # the colour model reads colour words only: a shape, size or relation changed leaves them equal, a tie: wrong
    assert results["object"] == results["attribute_size"] == results["relation"] == 0


def test_no_blind_scorer_beats_chance_on_the_default_build(default_build):
    out, spec = default_build
    data = vl_checklist.load(out, spec["subtypes"], spec["sources"])
    pairs = pd.DataFrame([{"category": key, "sample_id": str(i), "caption": e[1]["POS"][0],
                           "negative_caption": e[1]["NEG"][0]} for key, f in data.items()
                          for i, e in enumerate(f["entries"])])
    scorers = blind.fit_scorers(blind.training_captions(WORLD, SEED, 3000))
    accuracy = blind.accuracy(blind.blind_samples(pairs, scorers))
    assert set(accuracy) == {"blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"}
    for model, per_file in accuracy.items():
        assert len(per_file) == 7
        assert all(45 <= a <= 55 for a in per_file.values()), (model, per_file)
    assert json.loads((out / "blind.json").read_text(encoding="utf-8"))["accuracy"] == accuracy
