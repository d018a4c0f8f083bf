"""SugarCrepe++ (tripletclip/evals/sugarcrepe_pp.py): a tiny benchmark in the real layout (Sri-Harsha/scpp: data/ with
five JSON lists of {id, filename, caption, caption2, negative_caption}, images/ beside it) scored by the colour model
(tests/helpers/colour_model.py: an image is its mean colour, a caption the colour words it counts), answers worked out
by hand; the clear errors for a wrong folder; the shapes analogue read back and balanced against the blind scorers;
the blind scorers' own verdicts."""

import json

import pandas as pd
import pytest
import yaml
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from helpers.dag import REPO
from PIL import Image

from tripletclip import blind, shapes
from tripletclip.evals import sugarcrepe_pp

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))

# (id, image colour, caption P1, caption2 P2, negative caption N). With a = 1/√2 and b = 1/√5, the cosines:
CASES = {
    "replace_obj": [
        # s(I, P1) = s(I, P2) = 1 > s(I, N) = 0: ITT right; s(P1, P2) = 1 > s(P1, N) = s(P2, N) = 0: TOT right
        (0, "red", "a red thing", "red it is", "a blue thing"),
        # s(I, P2) = 0 = s(I, N): a tie, ITT wrong; s(P1, P2) = 0 = s(P1, N): a tie, TOT wrong
        (1, "red", "red", "blue", "green"),
    ],  # ITT 50, TOT 50
    # s(I, ·) = 1, a, 0: ITT right; s(P1, P2) = a = s(P2, N) ("green blue" against "blue"): a tie, TOT wrong
    "replace_att": [(0, "green", "green", "green blue", "blue")],  # ITT 100, TOT 0
    # the image disagrees, the texts agree: s(I, P1) = 0 < s(I, N) = 1, ITT wrong; "red red" is red: s(P1, P2) = 1
    # > 0 = s(P1, N) = s(P2, N), TOT right
    "replace_rel": [(0, "blue", "red", "red red", "blue")],  # ITT 0, TOT 100
    "swap_obj": [
        # the real swap_obj's quirk (its ids 2 and 8): N == P1, so s(I, P1) = s(I, N), a tie, ITT wrong; s(P1, N) = 1
        # > s(P1, P2) = 2b, TOT wrong
        (2, "red", "red", "red red green", "red"),
        (8, "green", "green", "green green", "red"),  # 1, 1 > 0: ITT right; 1 > 0, 0: TOT right
    ],  # ITT 50, TOT 50
    # s(I, ·) = a, a, 0: ITT right; s(P1, P2) = 1/2 = s(P1, N) ("red blue", "red green", "blue green"): TOT wrong
    "swap_att": [(0, "red", "red blue", "red green", "blue green")],  # ITT 100, TOT 0
}
EXPECTED = {
    "replace_obj_itt": 50.0, "replace_att_itt": 100.0, "replace_rel_itt": 0.0, "swap_obj_itt": 50.0,
    "swap_att_itt": 100.0, "avg_itt": 300 / 5, "avg_samples_itt": 100 * 4 / 7,  # 4 of the 7 samples right
    "replace_obj_tot": 50.0, "replace_att_tot": 0.0, "replace_rel_tot": 100.0, "swap_obj_tot": 50.0,
    "swap_att_tot": 0.0, "avg_tot": 200 / 5, "avg_samples_tot": 100 * 3 / 7,
}


def write_benchmark(folder, cases=CASES):
    """The authors' layout (VLMs/ of Sri-Harsha/scpp): data/{subset}.json lists and images/ beside data/."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (4, 4), rgb).save(folder / "images" / f"{name}.png")
    for subset, samples in cases.items():
        (folder / "data" / f"{subset}.json").write_text(json.dumps(
            [{"id": i, "filename": f"{image}.png", "caption": p1, "caption2": p2, "negative_caption": n}
             for i, image, p1, p2, n in samples], indent=1), encoding="utf-8")


def run(spec, root="."):
    return sugarcrepe_pp.evaluate(ColourModel(), preprocess, tokenizer, spec, root, batch_size=2)


def test_both_tasks_get_the_hand_worked_answers(tmp_path):
    write_benchmark(tmp_path)
    metrics, details, samples = run({"benchmark": str(tmp_path)})  # the repository's folder: data/ and images/
    assert metrics == pytest.approx(EXPECTED)
    assert list(metrics) == list(EXPECTED)
    assert sugarcrepe_pp.metrics_from_samples(samples) == metrics  # the same floats
    # the authors' Image-P1-Neg and Image-P2-Neg per subset
    assert details == {"samples": {c: len(CASES[c]) for c in sugarcrepe_pp.CATEGORIES},
                       "image_p1_neg": {"replace_obj": 100.0, "replace_att": 100.0, "replace_rel": 0.0,
                                        "swap_obj": 50.0, "swap_att": 100.0},
                       "image_p2_neg": {"replace_obj": 50.0, "replace_att": 100.0, "replace_rel": 0.0,
                                        "swap_obj": 50.0, "swap_att": 100.0}}
    assert list(samples.columns) == list(sugarcrepe_pp.COLUMNS)
    # two rows per sample, ITT then TOT, subsets in order, each file's order; the sample id is the entry's "id"
    items = [(c, i, image, p1, p2, n) for c in sugarcrepe_pp.CATEGORIES for i, image, p1, p2, n in CASES[c]]
    assert samples[["category", "sample_id", "task", "subset", "image", "caption", "caption2",
                    "negative_caption"]].values.tolist() == [
        [f"{c}_{task}", str(i), task, c, f"{image}.png", p1, p2, n] for task in ("itt", "tot")
        for c, i, image, p1, p2, n in items]
    assert samples["correct"].tolist() == [True, False, True, False, False, True, True,  # ITT
                                           True, False, False, True, False, True, False]  # TOT
    a, b = 0.5 ** 0.5, 0.2 ** 0.5
    itt, tot = samples[samples["task"] == "itt"], samples[samples["task"] == "tot"]
    assert itt[["image_caption", "image_caption2", "image_negative"]].values.tolist() == [
        pytest.approx(row) for row in ([1, 1, 0], [1, 0, 0], [1, a, 0], [0, 0, 1], [1, 2 * b, 1], [1, 1, 0],
                                       [a, a, 0])]
    assert tot[["caption_caption2", "caption_negative", "caption2_negative"]].values.tolist() == [
        pytest.approx(row) for row in ([1, 0, 0], [0, 0, 0], [a, 0, a], [1, 0, 0], [2 * b, 1, 2 * b], [1, 0, 0],
                                       [0.5, 0.5, 0.5])]
    # each task's row leaves the other task's similarities empty
    assert itt[list(sugarcrepe_pp.SCORES["tot"])].isna().all().all()
    assert tot[list(sugarcrepe_pp.SCORES["itt"])].isna().all().all()
    # the verdict compares score_positive with score_negative: ITT the weaker positive against the negative, TOT
    # s(P1, P2) against the closer of the negative's pairs; the ties are exact, and wrong
    assert itt["score_positive"].tolist() == pytest.approx([1, 0, a, 0, 2 * b, 1, a])
    assert tot["score_negative"].tolist() == pytest.approx([0, 0, a, 0, 1, 0, 0.5])
    assert (samples["correct"] == (samples["score_positive"] > samples["score_negative"])).all()
    assert itt["image_caption2"].iloc[1] == itt["image_negative"].iloc[1]
    assert tot["caption_caption2"].iloc[2] == tot["caption2_negative"].iloc[2]
    # the folder of the five files itself, with the images named, gives the same table
    pd.testing.assert_frame_equal(run({"benchmark": "data", "image_dir": "images"}, str(tmp_path))[2], samples)


def test_a_wrong_folder_says_what_it_expected_and_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        run({"benchmark": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match="lacks 5 of the 5 subset files: replace_obj.json, replace_att.json"):
        run({"benchmark": str(tmp_path)})
    write_benchmark(tmp_path)
    (tmp_path / "data" / "swap_att.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks 1 of the 5 subset files: swap_att.json"):
        run({"benchmark": str(tmp_path)})
    # SugarCrepe's own swap_att.json (RAIVNLab/sugar-crepe): the same name, no caption2
    (tmp_path / "data" / "swap_att.json").write_text(json.dumps(
        {"0": {"filename": "red.png", "caption": "red", "negative_caption": "blue"}}), encoding="utf-8")
    with pytest.raises(ValueError, match="no caption2: SugarCrepe's file"):
        run({"benchmark": str(tmp_path)})


def test_a_missing_field_image_or_repeated_id_is_named(tmp_path):
    write_benchmark(tmp_path)
    path = tmp_path / "data" / "replace_rel.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps([{k: v for k, v in entries[0].items() if k != "caption2"}]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"replace_rel.json: entry 0 has \['caption', 'filename', 'id', "
                                         r"'negative_caption'\]; expected the keys \['filename', 'caption', "
                                         r"'caption2', 'negative_caption'\]"):
        run({"benchmark": str(tmp_path)})
    path.write_text(json.dumps(entries * 2), encoding="utf-8")
    with pytest.raises(ValueError, match="replace_rel.json: the ids 0 occur more than once"):
        run({"benchmark": str(tmp_path)})
    path.write_text(json.dumps(entries), encoding="utf-8")
    (tmp_path / "images" / "blue.png").unlink()  # replace_rel's image
    with pytest.raises(FileNotFoundError, match=r"SugarCrepe\+\+ images in .*: 1 of 3 images are missing, e.g. "
                                                r".*blue.png"):
        run({"benchmark": str(tmp_path)})


def parsed(caption):
    return shapes.parse(caption)[0]


def test_shapes_analogue_is_in_the_real_format_and_read_back(tmp_path):
    spec = sugarcrepe_pp.build_shapes(str(tmp_path), WORLD, {"shapes_samples_per_category": 10}, 0)
    assert spec == {"benchmark": ".", "image_dir": "images"}
    heldout = shapes.heldout_combos(0, WORLD["heldout_combos"])
    for subset in sugarcrepe_pp.CATEGORIES:
        data = json.loads((tmp_path / f"{subset}.json").read_text(encoding="utf-8"))
        assert isinstance(data, list) and [s["id"] for s in data] == list(range(10))
        for sample in data:
            assert list(sample) == ["id", "filename", "caption", "caption2", "negative_caption"]
            assert (tmp_path / "images" / sample["filename"]).is_file() and len(sample["filename"]) == 16
            (p1, phrasing), n = shapes.parse(sample["caption"]), shapes.parse(sample["negative_caption"])
            p2 = parsed(sample["caption2"])
            assert p1.combos() & heldout  # a test-split image
            # P2: the same picture in other words; N: another picture in P1's words
            assert sugarcrepe_pp.same_picture(p1, p2) and sample["caption2"] != sample["caption"]
            assert not sugarcrepe_pp.same_picture(p1, n[0]) and n[1] == phrasing
    # the analogue is what the evaluator reads: 2 tasks x 5 subsets x 10 samples
    metrics, details, samples = run(spec, str(tmp_path))
    assert len(samples) == 100 and details["samples"] == dict.fromkeys(sugarcrepe_pp.CATEGORIES, 10)
    assert sugarcrepe_pp.metrics_from_samples(samples) == metrics and list(metrics) == list(EXPECTED)
    # deterministic for a seed
    again = tmp_path / "again"
    sugarcrepe_pp.build_shapes(str(again), WORLD, {"shapes_samples_per_category": 10}, 0)
    for name in [f"{c}.json" for c in sugarcrepe_pp.CATEGORIES] + ["blind.json"]:
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_rewordings_are_the_same_picture():
    scene = shapes.Scene((shapes.Obj("small", "red", "circle"), shapes.Obj("large", "blue", "star")), "left")
    options = sugarcrepe_pp.rewordings(scene, shapes.Phrasing())
    # 5 frames x 3 relation phrases, the scene and its converse, less the first wording
    assert len(options) == 2 * 5 * 3 - 1 and "a small red circle left of a large blue star" not in options
    assert "a large blue star right of a small red circle" in options
    assert all(sugarcrepe_pp.same_picture(scene, parsed(o)) for o in options)
    assert not sugarcrepe_pp.same_picture(scene, shapes.Scene(scene.objects, "right"))
    twins = shapes.Scene((scene.objects[0], scene.objects[0]), "left")  # two identical objects: left is right
    assert sugarcrepe_pp.same_picture(twins, shapes.Scene(twins.objects, "right"))


def test_no_blind_scorer_beats_chance_on_the_default_build(tmp_path):
    samples = CONFIG["eval"].get("sugarcrepe_pp", {}).get("shapes_samples_per_category", 100)
    sugarcrepe_pp.build_shapes(str(tmp_path), CONFIG["world"], {"shapes_samples_per_category": samples},
                               CONFIG["seed"])
    folder, data = sugarcrepe_pp.load(tmp_path)
    scorers = blind.fit_scorers(blind.training_captions(CONFIG["world"], CONFIG["seed"],
                                                        blind.BUILD_CAPTIONS))
    report = json.loads((tmp_path / "blind.json").read_text(encoding="utf-8"))
    for field, key in (("caption", "accuracy"), ("caption2", "accuracy_caption2")):
        pairs = pd.DataFrame([{"category": c, "sample_id": s["sample_id"], "caption": s[field],
                               "negative_caption": s["negative_caption"]} for c, d in data.items() for s in d])
        accuracy = blind.accuracy(blind.blind_samples(pairs, scorers))
        assert report[key] == accuracy
        assert set(accuracy) == {"blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"}
        for model, per_subset in accuracy.items():
            assert list(per_subset) == list(sugarcrepe_pp.CATEGORIES)
            assert all(45 <= a <= 55 for a in per_subset.values()), (field, model, per_subset)
    # ITT asks both positives to beat the negative: blind, well under even a two-way guess's 50 %
    table = pd.DataFrame([{"category": f"{c}_itt", "task": "itt", "subset": c, **s} for c, d in data.items()
                          for s in d])
    for name, scorer in scorers.items():
        scored = sugarcrepe_pp.score_blind(table, scorer, blind.model_name(name))
        itt = {c: 100 * rows["correct"].mean() for c, rows in scored.groupby("subset", sort=False)}
        assert report["accuracy_itt"][blind.model_name(name)] == pytest.approx(itt)
        assert all(a < 45 for a in itt.values()), (name, itt)
    for subset, d in data.items():
        assert len(d) == samples and len({s["filename"] for s in d}) == samples  # an image of its own
        words = {f: sum(len(blind.words(s[f])) for s in d) / samples for f in ("caption", "caption2",
                                                                             "negative_caption")}
        assert report["mean_words"][subset] == pytest.approx(words)
        assert abs(words["caption"] - words["negative_caption"]) < 0.5
        assert abs(words["caption2"] - words["negative_caption"]) < 0.5


def items(triples):
    """A model's per-sample table of `triples` (P1, P2, N) in every subset, both tasks, scores left out."""
    return pd.DataFrame([{"category": f"{c}_{task}", "sample_id": str(i), "correct": True, "task": task,
                          "subset": c, "image": "x.jpg", "caption": p1, "caption2": p2, "negative_caption": n}
                         for task in sugarcrepe_pp.TASKS for c in sugarcrepe_pp.CATEGORIES
                         for i, (p1, p2, n) in enumerate(triples)])


def test_score_blind_with_the_length_rule(monkeypatch):
    # Shorter: score = -(words)
    triples = [("a red circle", "there is a red circle", "a small red circle"),  # -3, -5 against -4: P2 loses
               ("a red circle", "a blue star", "a small blue star"),  # -3, -3 against -4: right
               ("a red circle", "red circle", "a blue circle")]  # -3 ties -3 (the pair's coin), -2 beats it
    coin = blind.tie_break("blind-shorter", "a red circle", "a blue circle")
    table = sugarcrepe_pp.score_blind(items(triples), blind.Shorter(), "blind-shorter")
    # the same verdicts in both tasks (TOT's s(a, b) = min(score(a), score(b)) singles out what ITT does)
    assert table["correct"].tolist() == [False, True, coin] * 10
    itt, tot = table[table["task"] == "itt"].head(3), table[table["task"] == "tot"].head(3)
    assert itt[["image_caption", "image_caption2", "image_negative", "score_positive",
                "score_negative"]].values.tolist() == [[-3, -5, -4, -5, -4], [-3, -3, -4, -3, -4],
                                                       [-3, -2, -3, -3, -3]]
    # min(P1, P2), min(P1, N), min(P2, N); then s(P1, P2) against the larger of the other two
    assert tot[["caption_caption2", "caption_negative", "caption2_negative", "score_positive",
                "score_negative"]].values.tolist() == [[-5, -4, -5, -5, -4], [-3, -4, -4, -3, -4],
                                                       [-3, -3, -3, -3, -3]]
    assert itt[list(sugarcrepe_pp.SCORES["tot"])].isna().all().all()
    assert tot[list(sugarcrepe_pp.SCORES["itt"])].isna().all().all()
    assert set(table["image"]) == {"x.jpg"} and list(table.columns[:9]) == list(items(triples).columns)
    right = 100 * (1 + coin) / 3
    metrics = sugarcrepe_pp.metrics_from_samples(table)
    assert metrics == pytest.approx({k: right for k in EXPECTED})
    # the same coin in any table: the tie's pair alone
    assert sugarcrepe_pp.score_blind(items(triples[2:]), blind.Shorter(), "blind-shorter")["correct"].tolist() == [
        coin] * 10
    # tripletclip.blind.evaluate takes this module's score_blind once the benchmark is registered
    from tripletclip import evals

    if "sugarcrepe_pp" not in evals.BENCHMARKS:
        monkeypatch.setattr(evals, "BENCHMARKS", evals.BENCHMARKS + ("sugarcrepe_pp",))
    results = blind.evaluate("sugarcrepe_pp", items(triples), [])
    assert set(results) == {"blind-shorter"}
    assert results["blind-shorter"][0] == metrics
    pd.testing.assert_frame_equal(results["blind-shorter"][1], table)
