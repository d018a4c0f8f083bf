"""The VALSE evaluator on a hand-built case whose answer is known, its errors, and the shapes analogue (its format
read back, and no blind scorer beating chance on the default build)."""

import base64
import io as bytes_io
import json

import pandas as pd
import pytest
import yaml
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from helpers.dag import REPO
from PIL import Image

from tripletclip import blind, browse, shapes
from tripletclip.evals import valse

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
WORLD, SEED = CONFIG["world"], CONFIG["seed"]
# the config's default (80 until config.yaml has a valse block)
SAMPLES = CONFIG["eval"].get("valse", {}).get("shapes_samples_per_category", 80)

# The release's `dataset` value of each piece (Heidelberg-NLP/VALSE data/).
DATASETS = {"existence": "visual7w", "plurals": "coco2017", "counting-hard": "visual7w",
            "counting-small-quant": "visual7w", "counting-adversarial": "visual7w", "relations": "coco_2017",
            "action-replacement": "SWiG", "actant-swap": "SWiG", "coreference-standard": "VisDial_v1.0",
            "coreference-hard": "VisDial_v1.0", "foil-it": "FOIL dataset"}
# image colour, caption, foil, annotators' votes for the caption (valid iff >= 2). The colour model's image is its
# colour, a caption the count of its colour words (both L2-normalized): the score is their cosine.
CASES = {
    "existence": [("red", "red", "blue", 3),  # 1 > 0: right
                  ("blue", "red", "blue", 1),  # not validated: left out (it would be wrong)
                  ("green", "red", "blue", 2)],  # 0 = 0, a tie: wrong -> 50
    "plurals": [("red", "red", "green", 3)],  # 100
    "counting-hard": [("blue", "red", "blue", 3)],  # 0
    "counting-small-quant": [("green", "green", "red", 3), ("green", "red", "green", 3)],  # 50
    "counting-adversarial": [("red", "red red", "red green", 3)],  # 1 > 1/sqrt(2): 100
    "relations": [("blue", "blue green", "blue", 2)],  # 1/sqrt(2) < 1: 0
    "action-replacement": [("red", "red", "blue", 3)],  # 100
    "actant-swap": [("red", "blue", "red", 3), ("red", "red", "blue", 3)],  # 50
    "coreference-standard": [("green", "green", "blue", 3)],  # 100 (its image in the second VisDial folder)
    "coreference-hard": [("blue", "blue", "red", 0),  # not validated: left out (it would be right)
                         ("blue", "green", "blue", 2)],  # 0
    "foil-it": [("green", "green", "red", 3)],  # 100
}
PIECE_ACCURACY = {"existence": 50, "plurals": 100, "counting-hard": 0, "counting-small-quant": 50,
                  "counting-adversarial": 100, "relations": 0, "action-replacement": 100, "actant-swap": 50,
                  "coreference-standard": 100, "coreference-hard": 0, "foil-it": 100}


def solid(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), COLOURS[colour]).save(path)


def write_release(folder, cases=CASES):
    """VALSE's layout: data/{piece}.json, {id: {dataset, image_file, caption, foil, mturk, ...}}, and image folders
    per source: Visual7W, COCO 2017 val, SWiG, VisDial (train2014 and val2014 searched in order; coreference-hard's
    own folder) and COCO val2014 for FOIL (the spec's `image_dir`)."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for piece, samples in cases.items():
        (folder / "data" / f"{piece}.json").write_text(json.dumps({
            f"{piece}_{i}": {"dataset": DATASETS[piece], "original_split": "test", "linguistic_phenomena": piece,
                             "image_file": f"{colour}.png", "caption": caption, "foil": foil, "classes": "x",
                             "classes_foil": "y", "mturk": {"foil": 3 - votes, "caption": votes, "other": 0}}
            for i, (colour, caption, foil, votes) in enumerate(samples)}), encoding="utf-8")
    for colour in COLOURS:
        for sub in ("v7w", "val2017", "swig", "val2014", "visdial_val"):
            solid(folder / sub / f"{colour}.png", colour)
    return {"data": str(folder / "data"), "image_dir": str(folder / "val2014"),
            "image_dirs": {"visual7w": str(folder / "v7w"), "coco2017": str(folder / "val2017"),
                           "coco_2017": str(folder / "val2017"), "SWiG": str(folder / "swig"),
                           "VisDial_v1.0": [str(folder / "train2014"), str(folder / "val2014")],
                           "coreference-hard": str(folder / "visdial_val")}}


def test_evaluator_gets_the_known_answer(tmp_path):
    spec = write_release(tmp_path)
    # coreference-hard reads its piece's folder, not VisDial's (whose train2014/ is not there: val2014/ is searched)
    (tmp_path / "val2014" / "blue.png").unlink()
    results, details, samples = valse.evaluate(ColourModel(), preprocess, tokenizer, spec, batch_size=2)
    expected = dict(PIECE_ACCURACY)
    expected.update({"instrument_existence": 50, "instrument_plurality": 100, "instrument_counting": 50,
                     "instrument_relations": 0, "instrument_actions": 75, "instrument_coreference": 50,
                     "instrument_foil-it": 100, "avg": 650 / 11})  # the eleven pieces' mean
    assert results == pytest.approx(expected) and list(results) == list(expected)
    assert details["files"] == {p: len(CASES[p]) for p in valse.PIECES}
    assert details["samples"] == {p: sum(v >= 2 for *_, v in CASES[p]) for p in valse.PIECES}
    valid = [(p, f"{p}_{i}", c) for p in valse.PIECES for i, c in enumerate(CASES[p]) if c[3] >= 2]
    assert samples[["category", "sample_id", "caption", "negative_caption", "image", "dataset"]].values.tolist() == [
        [p, key, caption, foil, f"{colour}.png", DATASETS[p]] for p, key, (colour, caption, foil, _) in valid]
    assert samples["correct"].tolist() == [True, False, True, False, True, False, True, False, True, False, True,
                                           True, False, True]
    assert samples["score_positive"].tolist()[10] == pytest.approx(1)  # actant-swap's second: red on red
    assert samples["score_negative"].tolist()[6] == pytest.approx(0.5 ** 0.5)  # "red green" against red
    assert valse.metrics_from_samples(samples) == results


def test_the_error_browser_finds_each_image_in_its_pieces_folder(tmp_path):
    spec = write_release(tmp_path)
    _, _, samples = valse.evaluate(ColourModel(), preprocess, tokenizer, spec)
    roots = browse.image_roots("valse", spec)
    data = browse.browser_data(samples.assign(model="colour", benchmark="valse"), roots, "t", max_per_view=20,
                               thumbnail=16, max_images=100)
    slots = [slot for cat in data["benchmarks"][0]["categories"] for item in cat["items"] for slot in item["images"]]
    assert len(slots) == int((~samples["correct"]).sum()) and all(index is not None for _, index, _ in slots)
    for name, index, _ in slots:  # each image_file is its colour's, in every folder
        thumb = Image.open(bytes_io.BytesIO(base64.b64decode(data["images"][index].split(",", 1)[1])))
        assert max(abs(a - b) for a, b in zip(thumb.convert("RGB").getpixel((1, 1)),
                                              COLOURS[name.removesuffix(".png")])) < 30


def test_all_samples_scores_the_unvalidated_too(tmp_path):
    spec = write_release(tmp_path)
    results, details, _ = valse.evaluate(ColourModel(), preprocess, tokenizer, {**spec, "all_samples": True})
    assert results["existence"] == pytest.approx(100 / 3)  # right, wrong (red against blue on blue), tie
    assert results["coreference-hard"] == 50  # blue on blue is right, green is not
    assert details["samples"] == details["files"]


def test_a_spec_may_name_fewer_pieces(tmp_path):
    spec = write_release(tmp_path, {p: CASES[p] for p in ("existence", "actant-swap", "coreference-hard")})
    results, _, _ = valse.evaluate(ColourModel(), preprocess, tokenizer,
                                   {**spec, "pieces": ["coreference-hard", "existence", "actant-swap"]})
    assert results == {"existence": 50, "actant-swap": 50, "coreference-hard": 0, "instrument_existence": 50,
                       "instrument_actions": 50, "instrument_coreference": 0, "avg": pytest.approx(100 / 3)}


def test_bad_input_is_named(tmp_path):
    model = (ColourModel(), preprocess, tokenizer)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        valse.evaluate(*model, {"data": str(tmp_path / "nowhere"), "image_dir": "."})
    spec = write_release(tmp_path, {"existence": CASES["existence"]})
    with pytest.raises(FileNotFoundError, match="lacks 10 of the 11 piece files: plurals.json, counting-hard.json"):
        valse.evaluate(*model, spec)
    with pytest.raises(ValueError, match="unknown pieces"):
        valse.evaluate(*model, {**spec, "pieces": ["existance"]})
    only = {**spec, "pieces": ["existence"]}
    path = tmp_path / "data" / "existence.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({k: {f: v for f, v in s.items() if f != "foil"} for k, s in data.items()}),
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"existence.json: entry 0 has .*; expected the keys \['dataset', "
                                         r"'image_file', 'caption', 'foil', 'mturk'\]"):
        valse.evaluate(*model, only)
    path.write_text(json.dumps({k: {**s, "mturk": "3"} for k, s in data.items()}), encoding="utf-8")
    with pytest.raises(ValueError, match="sample 'existence_0' has mturk '3'"):
        valse.evaluate(*model, only)
    path.write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "v7w" / "red.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"VALSE images .*: 1 of 2 images are missing, e.g. .*v7w/red.png"):
        valse.evaluate(*model, only)
    with pytest.raises(ValueError, match="no image folder for dataset 'visual7w'"):
        valse.evaluate(*model, {"data": spec["data"], "pieces": ["existence"]})


@pytest.fixture(scope="module")
def default_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("valse")
    spec = valse.build_shapes(str(out), WORLD, {"shapes_samples_per_category": SAMPLES}, SEED)
    return out, spec


def test_shapes_analogue_is_in_valse_format_and_read_back(default_build):
    out, spec = default_build
    assert spec == {"data": ".", "image_dir": "images", "pieces": list(valse.SHAPES_PIECES)}
    heldout = shapes.heldout_combos(SEED, WORLD["heldout_combos"])
    for piece in valse.SHAPES_PIECES:
        data = json.loads((out / f"{piece}.json").read_text(encoding="utf-8"))
        assert len(data) == SAMPLES
        for sample in data.values():
            assert set(valse.FIELDS) <= set(sample) and sample["mturk"]["caption"] == 3
            assert (out / "images" / sample["image_file"]).is_file() and sample["caption"] != sample["foil"]
        if piece in ("relations", "foil-it"):  # the world's captions: a held-out scene and a false one
            for sample in data.values():
                scene, foil = shapes.parse(sample["caption"])[0], shapes.parse(sample["foil"])[0]
                assert scene.combos() & heldout and scene != foil
        if piece == "counting-small-quant":  # the caption's number is the scene's: 2 or 3, the foil's the other
            assert {(s["classes"], s["classes_foil"]) for s in data.values()} == {(2, 3), (3, 2)}
    results, details, samples = valse.evaluate(ColourModel(), preprocess, tokenizer, spec, str(out))
    assert details["samples"] == {p: SAMPLES for p in valse.SHAPES_PIECES}
    assert list(results) == [*valse.SHAPES_PIECES, "instrument_existence", "instrument_plurality",
                             "instrument_counting", "instrument_relations", "instrument_foil-it", "avg"]
    assert len(samples) == 5 * SAMPLES and valse.metrics_from_samples(samples) == results
    # the colour model reads colour words only: it can tell no foil of these pieces but foil-it's and relations'
    # apart (a shape or a relation word changed leaves its colour counts equal: a tie, wrong)
    assert results["existence"] == results["plurals"] == results["counting-small-quant"] == results["relations"] == 0


def test_no_blind_scorer_beats_chance_on_the_default_build(default_build):
    out, spec = default_build
    data = valse.load(out, spec["pieces"])
    pairs = pd.DataFrame([{"category": p, "sample_id": k, "caption": s["caption"], "negative_caption": s["foil"]}
                          for p, d in data.items() for k, s in d.items()])
    scorers = blind.fit_scorers(blind.training_captions(WORLD, SEED, blind.BUILD_CAPTIONS))
    accuracy = blind.accuracy(blind.blind_samples(pairs, scorers))
    assert set(accuracy) == {"blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"}
    for model, per_piece in accuracy.items():
        assert list(per_piece) == list(valse.SHAPES_PIECES)
        assert all(45 <= a <= 55 for a in per_piece.values()), (model, per_piece)
    assert json.loads((out / "blind.json").read_text(encoding="utf-8"))["accuracy"] == accuracy
