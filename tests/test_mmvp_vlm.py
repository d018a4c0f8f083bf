"""MMVP-VLM in the authors' layout (tsb0601/MMVP `scripts/evaluate_vlm.py` lines 16-17, 35-50: the MMVP_VLM folder
holds Questions.csv, a header `Question ID,Type,Statement` then one row per statement, two consecutive rows a pair,
and `MLLM_VLM Images/{Type}/{Question ID}.jpg`), written tiny here with JPEGs made here; scored against a per-pair
reference of the authors' lines (52-85: "a photo of " + statement, softmax over the two images, > 0.5 picks image
1, the id's parity the truth) and of Winoground's definitions, computed in this file from open_clip features of a
tiny random model, one pair at a time."""

import csv
import logging

import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip import blind
from tripletclip.evals import mmvp_vlm

HEADER = ["Question ID", "Type", "Statement"]
RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 60), "yellow": (240, 220, 40),
       "white": (250, 250, 250), "black": (10, 10, 10)}
# (Type, statement 1, statement 2, (top, bottom) colours of image 1): image 2 has the two colours exchanged; ids are
# given in order from 1, so each pair is (odd, even) as in the released file. A statement with a comma is quoted in
# the CSV, as csv.reader (the authors' reader) takes it.
PAIRS = [
    ("Orientation", "The dog's head is turned to the left", "The dog's head is turned to the right", ("red", "blue")),
    ("Orientation", "The arrow points up, toward the sky", "The arrow points down", ("green", "yellow")),
    ("Color", "The umbrella is red", "The umbrella is blue", ("white", "black")),
    ("Color", "The flower is yellow", "The flower is white", ("yellow", "red")),
    ("Camera Perspective", "The photo is taken from above", "The photo is taken from below", ("blue", "green")),
    ("Camera Perspective", "A close-up of a face", "A face seen from far away", ("black", "white")),
]
CATEGORY = {"Orientation": "orientation_and_direction", "Color": "color_and_appearance",
            "Camera Perspective": "viewpoint_and_perspective"}


def two_colour_jpeg(path, top, bottom):
    image = Image.new("RGB", (16, 16), RGB[bottom])
    image.paste(RGB[top], (0, 0, 16, 8))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=95)


def write_questions(data, rows, header=HEADER, encoding="utf-8"):
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "Questions.csv", "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_mmvp(data, pairs=PAIRS):
    """The authors' MMVP_VLM folder: Questions.csv and MLLM_VLM Images/{Type}/{id}.jpg; returns the rows."""
    rows = []
    for n, (type_, statement_1, statement_2, (top, bottom)) in enumerate(pairs):
        q1, q2 = 2 * n + 1, 2 * n + 2
        two_colour_jpeg(data / "MLLM_VLM Images" / type_ / f"{q1}.jpg", top, bottom)
        two_colour_jpeg(data / "MLLM_VLM Images" / type_ / f"{q2}.jpg", bottom, top)
        rows += [[q1, type_, statement_1], [q2, type_, statement_2]]
    write_questions(data, rows)
    return rows


def reference(tiny, data, rows):
    """Per pair, following evaluate_vlm.py lines 38-85 with open_clip in place of `clip`: the two images batched
    (lines 49-60), each statement with "a photo of " (52-53) against them, logits_per_text = logit_scale * cosine,
    softmax over the two images (64-68), image 1 picked iff its probability > 0.5 (70-74), the truth by the id's
    parity (76-77), the pair right iff both statements pick their image (83). Also Winoground's verdicts of the same
    similarities. Returns [(s00, s01, s10, s11, authors, text, image, group, pred1, pred2)] (pred: 0 for "img1", 1
    for "img2") and the smallest margin of any comparison."""
    model, preprocess, tokenizer = tiny
    out, margins = [], []
    with torch.no_grad():
        for (qid1, type1, statement1), (qid2, _, statement2) in zip(rows[0::2], rows[1::2]):
            imgs = torch.cat([preprocess(Image.open(data / "MLLM_VLM Images" / type1 / f"{q}.jpg").convert("RGB"))[None]
                              for q in (qid1, qid2)])
            image_features = torch.nn.functional.normalize(model.encode_image(imgs), dim=-1)
            sims, preds = [], []
            for statement in (statement1, statement2):
                text = torch.nn.functional.normalize(model.encode_text(tokenizer(["a photo of " + statement])), dim=-1)
                logits_per_text = model.logit_scale.exp() * text @ image_features.T
                probs = logits_per_text.softmax(dim=-1).numpy()
                preds.append("img1" if probs[0][0] > 0.5 else "img2")
                sims.append([float(s) for s in (text @ image_features.T)[0]])
            gt1 = "img1" if qid1 % 2 == 1 else "img2"
            gt2 = "img1" if qid2 % 2 == 1 else "img2"
            (s00, s01), (s10, s11) = sims
            text_ok = s00 > s10 and s11 > s01
            image_ok = s00 > s01 and s11 > s10
            out.append((s00, s01, s10, s11, preds[0] == gt1 and preds[1] == gt2, text_ok, image_ok,
                        text_ok and image_ok, *(["img1", "img2"].index(p) for p in preds)))
            margins += [abs(s00 - s01), abs(s11 - s10), abs(s00 - s10), abs(s11 - s01)]
    return out, min(margins)


def test_scores_are_the_authors_and_winogrounds_per_pair(tmp_path, tiny):
    data = tmp_path / "mmvp" / "MMVP_VLM"
    rows = write_mmvp(data)
    metrics, details, samples = mmvp_vlm.evaluate(*tiny, {"data": "mmvp/MMVP_VLM"}, str(tmp_path), batch_size=5)
    expected, margin = reference(tiny, data, rows)
    assert margin > 1e-4  # no comparison so close that rounding could flip it
    assert list(samples.columns) == list(mmvp_vlm.COLUMNS)
    assert samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [
        pytest.approx(r[:4], abs=1e-5) for r in expected]
    assert samples["correct"].tolist() == [r[4] for r in expected]
    assert samples[["text_correct", "image_correct", "group_correct"]].values.tolist() == [
        list(r[5:8]) for r in expected]
    # the image each statement picks, as the authors' softmax > 0.5 picks it; a pair is right iff (0, 1)
    assert samples[["pred_0", "pred_1"]].values.tolist() == [list(r[8:]) for r in expected]
    assert samples["correct"].tolist() == [p == [0, 1] for p in samples[["pred_0", "pred_1"]].values.tolist()]
    # random weights see a pair's two images nearly alike: both statements pick the same image and every pair is
    # wrong here, but which image varies, so the picks above are checked both ways; test_known_verdicts_by_hand has
    # right pairs
    assert set(samples["pred_0"]) == {0, 1} and not samples["correct"].any()

    # the table: the authors' pattern, the ids, the statements as scored, the image paths in the data folder
    assert samples["category"].tolist() == [CATEGORY[p[0]] for p in PAIRS]
    assert samples["type"].tolist() == [p[0] for p in PAIRS]
    assert samples["sample_id"].tolist() == ["1_2", "3_4", "5_6", "7_8", "9_10", "11_12"]
    assert samples[["qid_0", "qid_1"]].values.tolist() == [[2 * n + 1, 2 * n + 2] for n in range(6)]
    assert samples[["caption_0", "caption_1"]].values.tolist() == [["a photo of " + p[1], "a photo of " + p[2]]
                                                                   for p in PAIRS]
    assert samples["caption_0"][1] == "a photo of The arrow points up, toward the sky"  # quoted in the CSV
    assert samples[["image_0", "image_1"]].values.tolist()[4] == ["MLLM_VLM Images/Camera Perspective/9.jpg",
                                                                  "MLLM_VLM Images/Camera Perspective/10.jpg"]
    assert all((data / path).is_file() for path in samples[["image_0", "image_1"]].values.ravel())

    def share(values):
        return pytest.approx(100 * sum(values) / len(values))

    want = {}
    for category in CATEGORY.values():
        picked = [r for r, p in zip(expected, PAIRS) if CATEGORY[p[0]] == category]
        want[category] = share([r[4] for r in picked])
    want["avg"] = pytest.approx(sum(want[c].expected for c in CATEGORY.values()) / 3)
    want.update({name: share([r[5 + k] for r in expected]) for k, name in enumerate(("text", "image", "group"))})
    for category in CATEGORY.values():
        picked = [r for r, p in zip(expected, PAIRS) if CATEGORY[p[0]] == category]
        want.update({f"{category}_{name}": share([r[5 + k] for r in picked])
                     for k, name in enumerate(("text", "image", "group"))})
    assert metrics == want
    assert list(metrics)[:4] == ["orientation_and_direction", "color_and_appearance", "viewpoint_and_perspective",
                                 "avg"]  # the file's order, which on the released file is the authors'
    assert mmvp_vlm.metrics_from_samples(samples) == metrics  # the same floats
    assert details["pairs"] == 6 and list(details["per_pattern"]) == list(CATEGORY.values())
    assert details["per_pattern"]["viewpoint_and_perspective"] == {
        "name": "Viewpoint and Perspective", "types": ["Camera Perspective"], "pairs": 2,
        "score": metrics["viewpoint_and_perspective"],
        **{k: metrics[f"viewpoint_and_perspective_{k}"] for k in ("text", "image", "group")}}
    # an absolute `data` is read as it is; every distinct image and statement encoded once gives the same table
    _, _, again = mmvp_vlm.evaluate(*tiny, {"data": str(data)}, "/elsewhere", batch_size=256)
    pd.testing.assert_frame_equal(again, samples, check_exact=False, atol=1e-5)


def solid_jpeg(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), COLOURS[colour]).save(path, format="JPEG", quality=95)


def test_known_verdicts_by_hand(tmp_path):
    """The colour model (tests/helpers/colour_model.py): an image is its mean colour, a statement its colour-word
    counts. A statement naming no colour is the zero vector: it scores exactly 0 against either image, a tie to the
    bit, however the JPEG decodes."""
    data = tmp_path / "MMVP_VLM"
    pairs = [("Orientation", "red", "blue"),  # s = 1, ~0, ~0, 1: all right
             ("Orientation", "blue", "red"),  # each statement picks the other image: all wrong
             # statement 1 picks its image; statement 2 ties (0 = 0), and a tie picks image 2 (softmax 0.5 is not
             # > 0.5): the authors' pair is right. Winoground's image score needs s(c1, i1) > s(c1, i0): wrong, and
             # its text score s(c1, i1) = 0 > s(c0, i1) >= 0: wrong
             ("Color", "red", "a cat"),
             ("Color", "a cat", "blue")]  # statement 1 ties and so picks image 2: wrong by every score
    rows = []
    for n, (type_, statement_1, statement_2) in enumerate(pairs):
        solid_jpeg(data / "MLLM_VLM Images" / type_ / f"{2 * n + 1}.jpg", "red")
        solid_jpeg(data / "MLLM_VLM Images" / type_ / f"{2 * n + 2}.jpg", "blue")
        rows += [[2 * n + 1, type_, statement_1], [2 * n + 2, type_, statement_2]]
    write_questions(data, rows, encoding="utf-8-sig")  # a byte-order mark changes nothing
    metrics, details, samples = mmvp_vlm.evaluate(ColourModel(), colour_preprocess, colour_tokenizer,
                                                  {"data": "MMVP_VLM"}, str(tmp_path), batch_size=3)
    assert samples[["pred_0", "pred_1", "correct"]].values.tolist() == [[0, 1, True], [1, 0, False], [0, 1, True],
                                                                        [1, 1, False]]
    assert samples[["text_correct", "image_correct", "group_correct"]].values.tolist() == [
        [True, True, True], [False, False, False], [False, False, False], [False, False, False]]
    assert samples["c1_i0"][2] == samples["c1_i1"][2] == 0 and samples["c0_i0"][3] == samples["c0_i1"][3] == 0
    assert metrics == {"orientation_and_direction": 50.0, "color_and_appearance": 50.0, "avg": 50.0,
                       "text": 25.0, "image": 25.0, "group": 25.0,
                       "orientation_and_direction_text": 50.0, "orientation_and_direction_image": 50.0,
                       "orientation_and_direction_group": 50.0, "color_and_appearance_text": 0.0,
                       "color_and_appearance_image": 0.0, "color_and_appearance_group": 0.0}
    assert details["per_pattern"]["color_and_appearance"]["score"] == 50.0


def test_the_authors_verdicts_settle_ties_as_their_softmax_does():
    # s(c0, i0), s(c0, i1), s(c1, i0), s(c1, i1): ties everywhere, then each statement's tie alone
    verdicts = mmvp_vlm.authors_verdicts([0.5, 0.5, 0.6, 0.6], [0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.4],
                                         [0.3, 0.4, 0.1, 0.3])
    assert verdicts == {"pred_0": [1, 1, 0, 0], "pred_1": [1, 1, 1, 0], "correct": [False, False, True, False]}


def test_the_patterns_are_the_authors_nine_by_name():
    # evaluate_vlm.py lines 24-30, in that order: vl_compo's column names (mmvp_vlm::{name}::text|image|group)
    assert [mmvp_vlm.slug(mmvp_vlm.authors_name(t)) for t in mmvp_vlm.TYPES] == [
        "orientation_and_direction", "presence_of_specific_features", "state_and_condition", "quantity_and_count",
        "positional_and_relational_context", "color_and_appearance", "structural_characteristics", "texts",
        "viewpoint_and_perspective"]
    assert mmvp_vlm.authors_name("Camera_Perspective") == "Viewpoint and Perspective"  # the README's folder name
    assert mmvp_vlm.authors_name("structural  character") == "Structural Characteristics"
    assert mmvp_vlm.authors_name("Shape") == "Shape" and mmvp_vlm.slug("Shape") == "shape"  # not theirs: as written


def test_a_full_file_out_of_the_authors_order_is_flagged(tmp_path, caplog):
    """The authors name a pair's pattern by its position (line 82); a released-size file (135 pairs) whose Types
    are not in their order gets a warning, since the per-pattern scores here follow the Type."""
    def write(types):
        rows = []
        for n in range(135):
            type_ = types[n // 15]
            for q in (2 * n + 1, 2 * n + 2):
                path = tmp_path / types[0] / "MLLM_VLM Images" / type_ / f"{q}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")  # load checks that the files exist, it does not decode them
                rows.append([q, type_, f"statement {q}"])
        write_questions(tmp_path / types[0], rows)
        return types[0]

    order = list(mmvp_vlm.TYPES)
    with caplog.at_level(logging.WARNING, logger="tripletclip.evals.mmvp_vlm"):
        pairs, _, _ = mmvp_vlm.load(str(tmp_path), {"data": write(order)})
    assert [p["category"] for p in pairs[::15]] == [mmvp_vlm.slug(n) for n in mmvp_vlm.TYPES.values()]
    assert not caplog.records
    swapped = [order[1], order[0], *order[2:]]
    with caplog.at_level(logging.WARNING, logger="tripletclip.evals.mmvp_vlm"):
        mmvp_vlm.load(str(tmp_path), {"data": write(swapped)})
    assert [r.getMessage() for r in caplog.records] == [
        "MMVP-VLM: 30 of 135 pairs (e.g. ids 1_2) are not where the authors' script would name their pattern by "
        "position (evaluate_vlm.py line 82); the per-pattern scores here follow each pair's Type"]


def test_a_blind_scorer_gets_every_pair_wrong():
    statements = [("a photo of The umbrella is red", "a photo of The umbrella is blue"),
                  ("a photo of red", "a photo of a small blue cup")]
    items = pd.DataFrame([{"category": "color_and_appearance", "sample_id": f"{2 * i + 1}_{2 * i + 2}",
                           "correct": True, "pred_0": 0, "pred_1": 1, "c0_i0": 0.3, "c0_i1": 0.1, "c1_i0": 0.1,
                           "c1_i1": 0.3, "text_correct": True, "image_correct": True, "group_correct": True,
                           "caption_0": c0, "caption_1": c1, "image_0": f"MLLM_VLM Images/Color/{2 * i + 1}.jpg",
                           "image_1": f"MLLM_VLM Images/Color/{2 * i + 2}.jpg", "type": "Color", "qid_0": 2 * i + 1,
                           "qid_1": 2 * i + 2}
                          for i, (c0, c1) in enumerate(statements)])
    scored = mmvp_vlm.score_blind(items, blind.Shorter(), "blind-shorter")
    assert list(scored.columns) == list(mmvp_vlm.COLUMNS)
    assert scored[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-7, -7, -7, -7], [-4, -4, -7, -7]]
    # each statement ties across the two images and so picks image 2: statement 1 always misses
    assert scored[["pred_0", "pred_1"]].values.tolist() == [[1, 1], [1, 1]]
    assert not scored[["correct", "text_correct", "image_correct", "group_correct"]].values.any()
    assert mmvp_vlm.metrics_from_samples(scored) == {
        "color_and_appearance": 0.0, "avg": 0.0, "text": 0.0, "image": 0.0, "group": 0.0,
        "color_and_appearance_text": 0.0, "color_and_appearance_image": 0.0, "color_and_appearance_group": 0.0}
    assert scored[["caption_0", "image_1", "sample_id", "type"]].equals(items[["caption_0", "image_1", "sample_id",
                                                                               "type"]])


def test_mmvp_vlm_says_what_layout_it_expected(tmp_path):
    def run(**spec):
        return mmvp_vlm.load(str(tmp_path), {"data": "hub/MMVP_VLM", **spec})

    with pytest.raises(FileNotFoundError, match="MMVP-VLM data: expected the MMVP_VLM folder .*Questions.csv .*"
                                                "'MLLM_VLM Images/\\{Type\\}/\\{Question ID\\}.jpg' at .*hub/MMVP_VLM, "
                                                "found nothing"):
        run()
    with pytest.raises(ValueError, match="the spec names no `data`"):
        run(data=None)
    data = tmp_path / "hub" / "MMVP_VLM"
    rows = write_mmvp(data, PAIRS[:4])
    assert len(run()[0]) == 4
    with pytest.raises(FileNotFoundError, match="hub holds no Questions.csv; expected .* found \\['MMVP_VLM'\\]; "
                                                "MMVP_VLM holds one: set `data` to that folder"):
        run(data="hub")
    (data / "MLLM_VLM Images").rename(data / "MMVP_VLM_Images")
    with pytest.raises(FileNotFoundError, match="holds no folder 'MLLM_VLM Images'; expected .*; found "
                                                "\\['MMVP_VLM_Images'\\]: the authors' script reads 'MLLM_VLM Images' "
                                                "\\(scripts/evaluate_vlm.py line 16\\)"):
        run()
    (data / "MMVP_VLM_Images").rename(data / "MLLM_VLM Images")
    (data / "MLLM_VLM Images" / "Color" / "6.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="MMVP-VLM images in .*: 1 of 8 images are missing, e.g. "
                                                ".*MLLM_VLM Images/Color/6.jpg"):
        run()
    two_colour_jpeg(data / "MLLM_VLM Images" / "Color" / "6.jpg", "red", "blue")

    def rewrite(new_rows, header=HEADER):
        write_questions(data, new_rows, header)

    rewrite(rows, ["Question ID", "Statement"])
    with pytest.raises(ValueError, match="the header has 2 field\\(s\\) .*; expected three, "
                                         "Question ID,Type,Statement"):
        run()
    rewrite([rows[0], [*rows[1], "extra"], *rows[2:]])
    with pytest.raises(ValueError, match="Questions.csv, line 3: 4 field\\(s\\)"):
        run()
    rewrite([["a1", "Orientation", "x"], *rows[1:]])
    with pytest.raises(ValueError, match="line 2: Question ID 'a1' is not an integer"):
        run()
    rewrite([rows[0], [rows[1][0], "Orientation", ""], *rows[2:]])
    with pytest.raises(ValueError, match="line 3: an empty Statement"):
        run()
    rewrite(rows[:-1])
    with pytest.raises(ValueError, match="7 rows, an odd number; .*the last, line 8, has no partner"):
        run()
    rewrite([rows[0], [rows[1][0], "Color", rows[1][2]], *rows[2:]])
    with pytest.raises(ValueError, match="lines 2-3: a pair of two Types, 'Orientation' \\(id 1\\) and 'Color' "
                                         "\\(id 2\\)"):
        run()
    rewrite([rows[1], rows[0], *rows[2:]])
    with pytest.raises(ValueError, match="lines 2-3: ids 2, 1; expected an odd id then an even one \\(the authors' "
                                         "ground truth is the id's parity"):
        run()
    rewrite([*rows[:2], [1, *rows[2][1:]], rows[3]])
    with pytest.raises(ValueError, match="Question ID 1 is given twice \\(lines 2 and 4\\)"):
        run()
    rewrite([])
    with pytest.raises(ValueError, match="no question after the header"):
        run()
    (data / "Questions.csv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="Questions.csv: empty; expected a header Question ID,Type,Statement"):
        run()
    for q in (1, 2):
        two_colour_jpeg(data / "MLLM_VLM Images" / "Group" / f"{q}.jpg", "red", "blue")
    rewrite([[1, "Group", "a"], [2, "Group", "b"]])
    with pytest.raises(ValueError, match="Type\\(s\\) named \\['group'\\], which are metric names of their own"):
        run()
