"""The blind scorers (tripletclip.blind) on hand-built cases, and the shapes SugarCrepe they are balanced on: on the
default build no scorer that never sees the image beats chance in any category, and the build is deterministic."""

import json
import random

import pandas as pd
import pytest
import yaml
from helpers.dag import REPO

from tripletclip import blind, shapes
from tripletclip.evals import sugarcrepe

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
WORLD = CONFIG["world"]
SAMPLES = CONFIG["eval"]["sugarcrepe"]["samples_per_category"]  # 200


def test_shorter_prefers_the_shorter_caption():
    scorer = blind.Shorter()
    assert scorer.score("a red circle") > scorer.score("a small red circle")
    assert scorer.score("a red circle, and a star") == -6  # words, not punctuation
    assert scorer.score("a red circle") == scorer.score("a blue star")


def test_frequent_prefers_frequent_words_whatever_the_length():
    scorer = blind.Frequent.fit(["a red circle", "a red square", "a red star", "a blue circle"])
    assert scorer.score("a red circle") > scorer.score("a blue circle") > scorer.score("a green circle")
    # a mean, not a sum: repeating a caption's words does not change its score
    assert scorer.score("a red circle a red circle") == pytest.approx(scorer.score("a red circle"))


def test_ngram_prefers_a_training_like_word_order_over_a_shuffled_one():
    scorer = blind.Ngram.fit(blind.training_captions(WORLD, 0, 1000))
    rng = random.Random(0)
    captions = blind.training_captions(WORLD, 1, 50)  # another seed: captions not fitted on
    for caption in captions:
        words = caption.split()
        rng.shuffle(words)
        assert scorer.score(caption) > scorer.score(" ".join(words)), caption
    # length-normalised: a training caption with a third object is as plausible per token as one without
    two = [c for c in captions if "," not in c]
    three = [c for c in captions if "," in c]
    mean = lambda cs: sum(map(scorer.score, cs)) / len(cs)  # noqa: E731
    assert abs(mean(two) - mean(three)) < 0.5
    assert scorer.score("a small red circle left of a zebra") > float("-inf")  # an unseen word is floored


def test_novel_counts_the_word_pairs_training_never_had():
    scorer = blind.Novel.fit(["a red circle above a blue square"])
    assert scorer.score("a red circle above a blue square") == 0
    assert scorer.score("a blue circle above a red square") == 2


def test_blind_samples_rows_and_ties():
    pairs = pd.DataFrame({"category": ["add_att", "replace_att"], "sample_id": ["0", "0"],
                          "caption": ["a red circle", "a red circle"],
                          "negative_caption": ["a hollow red circle", "a blue circle"]})
    table = blind.blind_samples(pairs, {"shorter": blind.Shorter()})
    assert list(table.columns) == list(blind.COLUMNS)
    assert table["model"].tolist() == ["blind-shorter"] * 2 and table["correct"].dtype == bool
    assert table["correct"].iloc[0] and table["score_negative"].iloc[0] == -4
    # a tie: the pair's own coin, the same in any table and any order
    again = blind.blind_samples(pairs.iloc[::-1], {"shorter": blind.Shorter()})
    assert again["correct"].iloc[0] == table["correct"].iloc[1] == blind.tie_break("blind-shorter", "a red circle",
                                                                                   "a blue circle")
    assert blind.accuracy(table) == {"blind-shorter": {"add_att": 100.0,
                                                       "replace_att": 100.0 * table["correct"].iloc[1]}}


def test_training_captions_are_the_training_distribution():
    captions = blind.training_captions(WORLD, 0, 300)
    assert len(captions) == 300 and captions == blind.training_captions(WORLD, 0, 600)[:300]
    heldout = shapes.heldout_combos(0, WORLD["heldout_combos"])
    assert not any(shapes.parse(c)[0].combos() & heldout for c in captions)


@pytest.fixture(scope="module")
def default_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("sugarcrepe")
    sugarcrepe.build_shapes(str(out), WORLD, {"samples_per_category": SAMPLES}, CONFIG["seed"])
    return out


def read_pairs(folder) -> pd.DataFrame:
    return pd.DataFrame([{"category": c, "sample_id": k, **s} for c, d in sugarcrepe.load(folder).items()
                         for k, s in d.items()])


def test_no_blind_scorer_beats_chance_on_the_default_build(default_build):
    pairs = read_pairs(default_build)
    scorers = blind.fit_scorers(blind.training_captions(WORLD, CONFIG["seed"], blind.BUILD_CAPTIONS))
    accuracy = blind.accuracy(blind.blind_samples(pairs, scorers))
    assert set(accuracy) == {"blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"}
    report = json.loads((default_build / "blind.json").read_text(encoding="utf-8"))
    assert report["accuracy"] == accuracy and report["training_captions"] == blind.BUILD_CAPTIONS
    for model, per_category in accuracy.items():
        assert list(per_category) == list(sugarcrepe.CATEGORIES)
        assert all(45 <= a <= 55 for a in per_category.values()), (model, per_category)
    heldout = shapes.heldout_combos(CONFIG["seed"], WORLD["heldout_combos"])
    for category in sugarcrepe.CATEGORIES:
        sub = pairs[pairs["category"] == category]
        assert len(sub) == SAMPLES and sub["filename"].is_unique
        positive = sub["caption"].map(lambda c: len(blind.words(c))).mean()
        negative = sub["negative_caption"].map(lambda c: len(blind.words(c))).mean()
        assert abs(positive - negative) < 0.5, category
        assert report["mean_words"][category] == pytest.approx({"caption": positive, "negative_caption": negative})
        scenes = [(shapes.parse(p)[0], shapes.parse(n)[0]) for p, n in zip(sub["caption"], sub["negative_caption"])]
        assert all(p.combos() & heldout and p != n for p, n in scenes)  # test-split images, false negatives
        if category in ("add_obj", "add_att"):  # both directions: the negative adds, or removes
            def count(scene):
                return len(scene.objects) if category == "add_obj" else sum(o.hollow for o in scene.objects)
            added = sum(count(n) > count(p) for p, n in scenes)
            assert added + sum(count(n) < count(p) for p, n in scenes) == SAMPLES and added == SAMPLES // 2


def test_the_default_build_is_deterministic(default_build, tmp_path):
    sugarcrepe.build_shapes(str(tmp_path), WORLD, {"samples_per_category": SAMPLES}, CONFIG["seed"])
    names = sorted(p.name for p in default_build.iterdir() if p.is_file())
    assert names == sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == sorted([f"{c}.json" for c in sugarcrepe.CATEGORIES] + ["blind.json"])
    for name in names:
        assert (default_build / name).read_bytes() == (tmp_path / name).read_bytes(), name
    images = sorted(p.name for p in (default_build / "images").iterdir())
    assert images == sorted(p.name for p in (tmp_path / "images").iterdir())
    assert all((default_build / "images" / i).read_bytes() == (tmp_path / "images" / i).read_bytes()
               for i in images[:20])


def test_a_benchmarks_items_scored_blind_give_its_own_metrics():
    """score_items keeps every column but the scores and verdicts, so the benchmark's metrics_from_samples applies:
    SugarCrepe's categories, ARO's best false caption among several."""
    from tripletclip.evals import aro

    pairs = [("a red circle", "a small red circle"), ("a small red circle", "a red circle")]
    items = pd.DataFrame([{"category": category, "sample_id": str(i), "correct": True, "score_positive": 0.3,
                           "score_negative": 0.1, "image": "a.jpg", "caption": caption, "negative_caption": negative}
                          for category in sugarcrepe.CATEGORIES for i, (caption, negative) in enumerate(pairs)])
    scored = blind.score_items(items, blind.Shorter(), "blind-shorter")
    assert scored["correct"].tolist()[:2] == [True, False] and set(scored["image"]) == {"a.jpg"}
    assert scored["score_positive"].tolist()[:2] == [-3, -4]
    assert sugarcrepe.metrics_from_samples(scored)["avg"] == 50.0
    order = pd.DataFrame({"category": ["order"] * 2, "sample_id": ["0/0", "0/1"], "correct": [True, True],
                          "score_positive": [1.0, 1.0], "score_negative": [0.0, 0.0], "image": ["x.jpg"] * 2,
                          "caption": ["a red circle", "a blue star"], "negative_caption": ["circle a red"] * 2,
                          "kind": ["order"] * 2, "group": [None, None], "averaged": [True, True],
                          "scores_negative": [[0.0, 0.0], [0.0, 0.0]],
                          "negative_captions": [["circle a red", "a red circle circle"], ["star blue a", "blue"]]})
    scored = blind.score_items(order, blind.Shorter(), "blind-shorter")
    # the second caption loses to its one-word perturbation, the best of its false captions for the length rule
    assert scored["negative_caption"].tolist() == ["circle a red", "blue"]
    assert not scored["correct"].tolist()[1]
    assert aro.metrics_from_samples(scored)["order"] == 100 * scored["correct"].mean()
    # without training captions (an evaluation-only run) only the length rule, which needs none
    assert set(blind.evaluate("sugarcrepe", items, [])) == {"blind-shorter"}
    assert set(blind.evaluate("sugarcrepe", items, ["a red circle", "a star"])) == {
        "blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"}


def test_aros_two_way_analogues_leave_the_blind_scorers_at_chance(tmp_path):
    """VG-Relation's and VG-Attribution's analogues swap two objects or two colours: the same words, so the length
    and word-frequency rules tie; random objects over the whole world, so the trigram and novelty scorers find no
    held-out tell. (The order analogue is five-way and, as on the real COCO-Order, text-solvable by design: a
    shuffled caption is ungrammatical; its blind rows in the report show it.)"""
    from tripletclip.evals import aro

    aro.build_shapes(str(tmp_path), WORLD, CONFIG["eval"]["aro"], CONFIG["seed"])
    scorers = blind.fit_scorers(blind.training_captions(WORLD, CONFIG["seed"], 3000))
    for kind in ("relation", "attribution"):
        rows = json.loads((tmp_path / f"shapes_{kind}.json").read_text(encoding="utf-8"))
        pairs = pd.DataFrame({"category": kind, "sample_id": range(len(rows)),
                              "caption": [r["true_caption"] for r in rows],
                              "negative_caption": [r["false_caption"] for r in rows]})
        for model, per_category in blind.accuracy(blind.blind_samples(pairs, scorers)).items():
            assert 45 <= per_category[kind] <= 55, (kind, model, per_category)


def test_a_blind_scorer_gets_every_winoground_example_wrong():
    """s(c, i) = score(c) for both images: the text score needs score(c0) > score(c1) > score(c0), the image score a
    caption to beat itself (a tie, wrong), whichever captions and scorer."""
    from tripletclip.evals import winoground

    items = pd.DataFrame([{"category": "swap_att", "sample_id": str(i), "correct": True, "c0_i0": 0.3, "c0_i1": 0.1,
                           "c1_i0": 0.1, "c1_i1": 0.3, "text_correct": True, "image_correct": True,
                           "group_correct": True, "caption_0": c0, "caption_1": c1, "image_0": f"ex_{i}_img_0",
                           "image_1": f"ex_{i}_img_1"}
                          for i, (c0, c1) in enumerate([("a red circle", "a small red circle"),
                                                        ("a red circle", "a blue circle")])])
    results = blind.evaluate("winoground", items, ["a red circle", "a blue star"])
    assert set(results) == {"blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"}
    for metrics, table in results.values():
        assert metrics == {"text": 0.0, "image": 0.0, "group": 0.0}
        assert list(table.columns) == list(winoground.COLUMNS) and not table["correct"].any()
    table = results["blind-shorter"][1]
    assert table[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-3, -3, -4, -4], [-3, -3, -3, -3]]


def test_a_tie_among_k_options_is_right_one_time_in_k():
    """Against three false captions, a scorer that ties all four is right with probability 1/4, not a coin's 1/2;
    one tie with a single negative keeps the coin of a pair (the same draw as before several negatives existed)."""

    class Flat:
        def score(self, caption):
            return 1.0

    n = 4000
    items = pd.DataFrame({"category": "c", "sample_id": [str(i) for i in range(n)],
                          "caption": [f"true {i}" for i in range(n)],
                          "negative_captions": [[f"false {i} {k}" for k in range(3)] for i in range(n)]})
    scored = blind.score_items(items, Flat(), "blind-flat")
    assert abs(scored["correct"].mean() - 0.25) < 0.025  # 4,000 draws: sd 0.7 points
    assert scored["negative_caption"].tolist() == [f"false {i} 0" for i in range(n)]  # the first of the tied
    pairs = items.assign(negative_caption=[n[0] for n in items["negative_captions"]]).drop(
        columns="negative_captions")
    assert blind.score_items(pairs, Flat(), "blind-flat")["correct"].tolist() == [
        blind.tie_break("blind-flat", c, f"false {i} 0") for i, c in enumerate(items["caption"])]
    assert abs(blind.score_items(pairs, Flat(), "blind-flat")["correct"].mean() - 0.5) < 0.03
