"""The SugarCrepe evaluator on a hand-built case whose answer is known, and the benchmark builder."""

import json

import pytest
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image

from tripletclip import shapes
from tripletclip.evals import sugarcrepe

WORLD = {"heldout_combos": 6, "image_size": 64, "hollow_rate": 0.2, "third_object_rate": 0.3}


def write_benchmark(folder, cases):
    """SugarCrepe's layout: one {id: {filename, caption, negative_caption}} file per category, solid-colour images."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (4, 4), rgb).save(folder / "images" / f"{name}.png")
    for category, samples in cases.items():
        (folder / f"{category}.json").write_text(json.dumps(
            {str(i): {"filename": f"{img}.png", "caption": c, "negative_caption": n}
             for i, (img, c, n) in enumerate(samples)}), encoding="utf-8")


# image, caption, negative caption; the colour model scores a caption by the colour words it names (cosine)
CASES = {
    "replace_obj": [("red", "a red thing", "a blue thing")],  # 100
    # 2 of 3 right
    "replace_att": [("red", "a red thing", "a blue thing"), ("blue", "a blue thing", "a green thing"),
                    ("green", "a red thing", "a green thing")],
    "replace_rel": [("blue", "red", "blue")],  # 0
    "swap_obj": [("green", "green", "red"), ("green", "red", "green")],  # 50
    # a tie is wrong: the positive must score strictly higher
    "swap_att": [("red", "a red thing", "a red red thing"), ("green", "a green thing", "a blue thing")],  # 50
    "add_obj": [("red", "red", "red red green")],  # 1 against 2/sqrt(5): 100
    "add_att": [("blue", "blue green", "blue")],  # 1/sqrt(2) against 1: 0
}


def test_evaluator_gets_the_known_answer(tmp_path):
    write_benchmark(tmp_path, CASES)
    results, details, samples = sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer,
                                                    {"benchmark": str(tmp_path)}, batch_size=2)
    expected = {"replace_obj": 100.0, "replace_att": 200 / 3, "replace_rel": 0.0, "swap_obj": 50.0, "swap_att": 50.0,
                "add_obj": 100.0, "add_att": 0.0, "replace": (100 + 200 / 3) / 3, "swap": 50.0, "add": 50.0,
                "avg": (100 + 200 / 3 + 50 + 50 + 100) / 7,  # the seven categories' mean, not the groups'
                # the three averages differ: the groups' mean weighs replace_rel's 0 a third as much as add_att's,
                # the samples' mean weighs replace_att's three samples three times replace_obj's one
                "avg_groups": ((100 + 200 / 3) / 3 + 50 + 50) / 3, "avg_samples": 100 * 6 / 11}  # 6 of 11 samples right
    assert results == pytest.approx(expected)
    assert details["samples"] == {c: len(CASES[c]) for c in sugarcrepe.CATEGORIES}
    # one row per sample, in the categories' and the files' order, scored as worked out by hand above
    assert samples[["category", "sample_id", "image", "caption", "negative_caption"]].values.tolist() == [
        [category, str(i), f"{image}.png", positive, negative] for category in sugarcrepe.CATEGORIES
        for i, (image, positive, negative) in enumerate(CASES[category])]
    assert samples["correct"].tolist() == [True, True, True, False, False, True, False, False, True, True, False]
    assert samples["score_positive"].tolist() == pytest.approx([1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0.5 ** 0.5])
    assert samples["score_negative"].tolist() == pytest.approx([0, 0, 0, 1, 1, 0, 1, 1, 0, 2 / 5 ** 0.5, 1])
    assert sugarcrepe.metrics_from_samples(samples) == results


def test_evaluator_says_when_the_folder_is_not_a_benchmark(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks 7 of the 7 category files: replace_obj.json, "):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, {"benchmark": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        sugarcrepe.evaluate(ColourModel(), preprocess, tokenizer, {"benchmark": str(tmp_path / "nowhere")})


def test_shapes_benchmark_is_in_sugarcrepe_format_and_from_held_out_scenes(tmp_path):
    spec = sugarcrepe.build_shapes(str(tmp_path), WORLD, {"samples_per_category": 20}, 0)
    assert spec == {"benchmark": ".", "image_dir": "images"}
    heldout = shapes.heldout_combos(0, 6)
    for category in sugarcrepe.CATEGORIES:
        data = json.loads((tmp_path / f"{category}.json").read_text(encoding="utf-8"))
        assert len(data) == 20
        for sample in data.values():
            assert set(sample) == {"filename", "caption", "negative_caption"}
            assert (tmp_path / "images" / sample["filename"]).exists()
            pos, neg = shapes.parse(sample["caption"])[0], shapes.parse(sample["negative_caption"])[0]
            assert pos.combos() & heldout and pos != neg
        if category == "add_obj":  # both directions: the negative adds a third object, or leaves it out
            counts = {(len(shapes.parse(s["caption"])[0].objects), len(shapes.parse(s["negative_caption"])[0].objects))
                      for s in data.values()}
            assert counts == {(2, 3), (3, 2)}
