"""SVO-Probes in the authors' layout (deepmind/svo_probes README lines 16-23: svo_probes.csv, one row per sentence
and negative, with sentence, pos_triplet, neg_triplet, subj_neg, verb_neg, obj_neg, pos_url, neg_url, pos_image_id,
neg_image_id; the images downloaded from the URLs, here saved as {image_id}.jpg), written tiny here with images made
here; scored against a per-row reference computed in this file from open_clip features of a tiny random model, one
row at a time: right iff s(sentence, positive image) > s(sentence, negative image), per negative type."""

import csv
import io as stdio
import logging

import pandas as pd
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip.evals import svo_probes

HEADER = ["sentence", "pos_triplet", "neg_triplet", "subj_neg", "verb_neg", "obj_neg", "pos_url", "neg_url",
          "pos_image_id", "neg_image_id"]
RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 60), "yellow": (240, 220, 40),
       "white": (250, 250, 250), "black": (10, 10, 10)}
# image id -> (top, bottom) colours
IMAGES = {101: ("red", "blue"), 102: ("blue", "red"), 103: ("green", "yellow"), 104: ("yellow", "green"),
          105: ("white", "black"), 106: ("black", "white"), 107: ("red", "green"), 108: ("green", "red")}
# (sentence, pos_triplet, neg_triplet, type, pos id, neg id): images are shared between rows, as in the release
# (an image positive in one row is negative in another); a sentence with a comma is quoted in the CSV
ROWS = [
    ("A girl stands in the grass.", "girl,stand,grass", "boy,stand,grass", "subj_neg", 101, 102),
    ("A man rides a horse.", "man,ride,horse", "man,feed,horse", "verb_neg", 103, 104),
    ("A dog catches a ball.", "dog,catch,ball", "dog,catch,frisbee", "obj_neg", 105, 106),
    ("A child kicks a ball.", "child,kick,ball", "child,catch,ball", "verb_neg", 106, 105),
    ("A woman holds a cup.", "woman,hold,cup", "man,hold,cup", "subj_neg", 107, 108),
    ("A boy throws a frisbee, laughing.", "boy,throw,frisbee", "boy,throw,ball", "obj_neg", 108, 101),
    ("A cat sleeps on a sofa.", "cat,sleep,sofa", "cat,sit,sofa", "verb_neg", 102, 103),
    # no type true, and two types true: in none of the authors' three frames (notebook lines 223-228)
    ("A bird sits on a branch.", "bird,sit,branch", "bird,sit,fence", None, 104, 107),
    ("A horse pulls a cart.", "horse,pull,cart", "man,push,cart", "subj_neg+verb_neg", 103, 101),
]
TYPES = ("subj_neg", "verb_neg", "obj_neg")


def two_colour_jpeg(path, top, bottom):
    image = Image.new("RGB", (16, 16), RGB[bottom])
    image.paste(RGB[top], (0, 0, 16, 8))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=95)


def write_csv(path, rows, header=HEADER, index=False):
    """svo_probes.csv as pandas writes a frame (booleans True / False); `index`: with pandas' unnamed index column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(([""] if index else []) + header)
        for i, (sentence, pos_triplet, neg_triplet, type_, pos, neg) in enumerate(rows):
            flags = {t: str(t in (type_ or "").split("+")) for t in TYPES}
            values = {"sentence": sentence, "pos_triplet": pos_triplet, "neg_triplet": neg_triplet, **flags,
                      "pos_url": f"http://thumbs.example.com/z/{pos}.jpg",
                      "neg_url": f"https://c8.example.com/comp/{neg}.jpg", "pos_image_id": pos, "neg_image_id": neg}
            writer.writerow(([i] if index else []) + [values[c] for c in header])


def write_svo(root, rows=ROWS, index=False, name="{image_id}.jpg"):
    """svo_probes.csv and images/ with each image saved as `name`; returns the spec."""
    write_csv(root / "svo_probes.csv", rows, index=index)
    for image_id, (top, bottom) in IMAGES.items():
        two_colour_jpeg(root / "images" / name.format(image_id=image_id), top, bottom)
    return {"data": "svo_probes.csv", "image_dir": "images", "image_name": name}


def reference(tiny, image_dir, rows):
    """Per typed row, on its own: the sentence and its two images encoded one by one, L2-normalized, s = the dot
    product (the cosine); right iff s(sentence, positive) > s(sentence, negative). Returns {CSV row index: (type,
    s_pos, s_neg, right)} and the smallest margin."""
    model, preprocess, tokenizer = tiny
    out, margins = {}, []

    def image(image_id):
        pixels = preprocess(Image.open(image_dir / f"{image_id}.jpg").convert("RGB"))[None]
        return torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)[0]

    with torch.no_grad():
        for i, (sentence, _, _, type_, pos, neg) in enumerate(rows):
            if type_ not in TYPES:
                continue
            text = torch.nn.functional.normalize(model.encode_text(tokenizer([sentence])), dim=-1)[0]
            s_pos, s_neg = float(text @ image(pos)), float(text @ image(neg))
            out[i] = (type_, s_pos, s_neg, s_pos > s_neg)
            margins.append(abs(s_pos - s_neg))
    return out, min(margins)


def expected_metrics(ref):
    def share(values):
        return pytest.approx(100 * sum(values) / len(values))

    per_type = {t: [r[3] for r in ref.values() if r[0] == t] for t in TYPES}
    metrics = {t: share(v) for t, v in per_type.items() if v}
    metrics["avg"] = pytest.approx(sum(100 * sum(v) / len(v) for v in per_type.values() if v) / len(metrics))
    metrics["all"] = share([r[3] for r in ref.values()])
    return metrics


def test_each_row_is_its_sentence_choosing_its_positive_image(tmp_path, tiny):
    spec = write_svo(tmp_path / "svo")
    metrics, details, samples = svo_probes.evaluate(*tiny, spec, str(tmp_path / "svo"), batch_size=3)
    ref, margin = reference(tiny, tmp_path / "svo" / "images", ROWS)
    assert margin > 1e-4  # no comparison so close that rounding could flip it
    assert list(samples.columns) == list(svo_probes.COLUMNS)
    # the typed rows, in the CSV's order, sample_id their index in it; the two untyped rows left out
    assert samples["sample_id"].tolist() == [str(i) for i in range(7)]
    assert samples["category"].tolist() == [r[3] for r in ROWS[:7]]
    got = samples[["score_positive", "score_negative"]].values.tolist()
    assert got == [pytest.approx([ref[i][1], ref[i][2]], abs=1e-5) for i in range(7)]
    assert samples["correct"].tolist() == [ref[i][3] for i in range(7)]
    assert 0 < samples["correct"].sum() < 7  # the reference has both verdicts: the comparison is tested both ways
    assert samples["caption"].tolist() == [r[0] for r in ROWS[:7]]
    assert samples[["pos_triplet", "neg_triplet"]].values.tolist() == [[r[1], r[2]] for r in ROWS[:7]]
    assert samples[["image", "negative_image"]].values.tolist() == [[f"{r[4]}.jpg", f"{r[5]}.jpg"] for r in ROWS[:7]]
    assert metrics == expected_metrics(ref) and list(metrics) == ["subj_neg", "verb_neg", "obj_neg", "avg", "all"]
    assert metrics["avg"] == pytest.approx(sum(metrics[t] for t in TYPES) / 3)
    assert details == {"rows": 9, "untyped": 2, "images": 8, "missing_images": 0, "unreadable_images": 0,
                       "scored": 7, "per_type": {"subj_neg": {"rows": 2, "scored": 2, "skipped": 0},
                                                 "verb_neg": {"rows": 3, "scored": 3, "skipped": 0},
                                                 "obj_neg": {"rows": 2, "scored": 2, "skipped": 0}}}
    # the metrics are the table's, also after parquet (as workflow_scripts/evaluate.py writes it)
    assert svo_probes.metrics_from_samples(samples) == metrics
    buffer = stdio.BytesIO()
    samples.to_parquet(buffer, index=False)
    assert svo_probes.metrics_from_samples(pd.read_parquet(buffer)) == metrics

    # the columns by name, in any order, beside pandas' unnamed index column; absolute paths as they are; ids padded
    # by a format spec, in a subfolder
    other = tmp_path / "other"
    padded = write_svo(other, index=True, name="jpg/{image_id:08d}.jpg")
    assert (other / "images" / "jpg" / "00000101.jpg").is_file()
    frame = pd.read_csv(other / "svo_probes.csv", dtype=str, keep_default_na=False)
    frame[list(reversed(frame.columns))].to_csv(other / "svo_probes.csv", index=False)
    padded = {**padded, "data": str(other / "svo_probes.csv"), "image_dir": str(other / "images")}
    again_metrics, _, again = svo_probes.evaluate(*tiny, padded, "/elsewhere")
    assert again_metrics == metrics
    assert again["image"].tolist() == [f"jpg/{r[4]:08d}.jpg" for r in ROWS[:7]]
    pd.testing.assert_frame_equal(again.drop(columns=["image", "negative_image"]),
                                  samples.drop(columns=["image", "negative_image"]), check_exact=False, atol=1e-5)


def test_unavailable_images_are_counted_and_the_rest_scored(tmp_path, tiny, caplog):
    spec = write_svo(tmp_path)
    _, _, full = svo_probes.evaluate(*tiny, spec, str(tmp_path))
    (tmp_path / "images" / "104.jpg").unlink()  # row 1 (verb_neg); row 7 is untyped anyway
    # a download that is an HTML page saved under the image's name: rows 4 (subj_neg) and 5 (obj_neg)
    (tmp_path / "images" / "108.jpg").write_text("<html><body>Not found</body></html>", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tripletclip.evals.svo_probes"):
        metrics, details, samples = svo_probes.evaluate(*tiny, spec, str(tmp_path))
    assert samples["sample_id"].tolist() == ["0", "2", "3", "6"]
    kept = full.set_index("sample_id").loc[["0", "2", "3", "6"]].reset_index()[list(svo_probes.COLUMNS)]
    pd.testing.assert_frame_equal(samples, kept, check_exact=False, atol=1e-6)
    assert metrics == svo_probes.metrics_from_samples(kept)
    assert details == {"rows": 9, "untyped": 2, "images": 8, "missing_images": 1, "unreadable_images": 1,
                       "scored": 4, "per_type": {"subj_neg": {"rows": 2, "scored": 1, "skipped": 1},
                                                 "verb_neg": {"rows": 3, "scored": 2, "skipped": 1},
                                                 "obj_neg": {"rows": 2, "scored": 1, "skipped": 1}}}
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "SVO-Probes: 2 of 9 rows left out: not exactly one of subj_neg, verb_neg, obj_neg is true"
    assert messages[1] == (f"SVO-Probes: 1 of 7 rows left out, their positive or negative image missing from "
                           f"{tmp_path / 'images'} (1 of 8 images, e.g. 104.jpg): subj_neg 0, verb_neg 1, obj_neg 0")
    assert messages[2].startswith("SVO-Probes: 1 of 7 images could not be decoded (e.g. ") and "108.jpg" in messages[2]

    # a type with no row left: the others are scored, `avg` is their mean, and it is said
    (tmp_path / "images" / "105.jpg").unlink()  # rows 2 and 3: obj_neg has none left
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tripletclip.evals.svo_probes"):
        metrics, details, samples = svo_probes.evaluate(*tiny, spec, str(tmp_path))
    assert samples["sample_id"].tolist() == ["0", "6"] and list(metrics) == ["subj_neg", "verb_neg", "avg", "all"]
    assert details["per_type"]["obj_neg"] == {"rows": 2, "scored": 0, "skipped": 2}
    assert "no obj_neg row could be scored" in caplog.records[-1].getMessage()

    # no row left: an error naming the folder and what was looked for
    for image_id in IMAGES:
        (tmp_path / "images" / f"{image_id}.jpg").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match=r"none of the 7 rows has both its images in .*images \(8 of 8 "
                                                r"images missing, e\.g\. .*images/101\.jpg\); expected each image "
                                                r"saved as \{image_id\}\.jpg"):
        svo_probes.evaluate(*tiny, spec, str(tmp_path))
    # every file there but none decodable
    for image_id in IMAGES:
        (tmp_path / "images" / f"{image_id}.jpg").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no row has both its images readable \\(8 images could not be "
                                                "decoded"):
        svo_probes.evaluate(*tiny, spec, str(tmp_path))


def test_known_verdicts_by_hand(tmp_path):
    """The colour model (tests/helpers/colour_model.py): an image is its mean colour, a sentence its colour-word
    counts. Solid PNGs are lossless, so a tie is a tie to the bit, and a tie is wrong."""
    images = {1: "red", 2: "blue", 3: "green", 4: "green"}  # 3 and 4: two ids, the same picture
    for image_id, colour in images.items():
        (tmp_path / "png").mkdir(exist_ok=True)
        Image.new("RGB", (4, 4), COLOURS[colour]).save(tmp_path / "png" / f"{image_id}.png", format="PNG")
    rows = [("a red ball", "subj_neg", 1, 2),  # s = 1 against 0: right
            ("a red ball", "subj_neg", 2, 1),  # s = 0 against 1: wrong
            ("a red and blue kite", "verb_neg", 1, 2),  # 1/sqrt(2) against 1/sqrt(2): a tie, wrong
            ("a green car", "verb_neg", 3, 4),  # the same picture twice: a tie, wrong
            ("a ball", "verb_neg", 1, 2),  # no colour word: 0 against 0, a tie, wrong
            ("a green car", "obj_neg", 3, 1),  # right
            ("a blue sky", "obj_neg", 2, 4)]  # right
    write_csv(tmp_path / "svo_probes.csv", [(s, "x,y,z", "x,y,w", t, p, n) for s, t, p, n in rows])
    metrics, details, samples = svo_probes.evaluate(
        ColourModel(), colour_preprocess, colour_tokenizer,
        {"data": "svo_probes.csv", "image_dir": "png", "image_name": "{image_id}.png"}, str(tmp_path), batch_size=2)
    assert samples["correct"].tolist() == [True, False, False, False, False, True, True]
    assert samples[["score_positive", "score_negative"]].values.ravel().tolist() == pytest.approx(
        [1, 0, 0, 1, 2 ** -0.5, 2 ** -0.5, 1, 1, 0, 0, 1, 0, 1, 0])
    # the ties are exact: the same float32 on either side
    ties = samples.iloc[2:5]
    assert (ties["score_positive"] == ties["score_negative"]).all()
    assert metrics == {"subj_neg": 50.0, "verb_neg": 0.0, "obj_neg": 100.0, "avg": 50.0,
                       "all": pytest.approx(300 / 7)}
    assert samples[["image", "negative_image"]].values.tolist()[3] == ["3.png", "4.png"]
    assert details["images"] == 4 and details["scored"] == 7


def test_the_download_list_is_every_image_once_with_its_url(tmp_path):
    write_csv(tmp_path / "svo_probes.csv", ROWS)
    pairs = svo_probes.image_ids(str(tmp_path), {"data": "svo_probes.csv"})
    assert pairs[:3] == [("101", "http://thumbs.example.com/z/101.jpg"), ("102", "https://c8.example.com/comp/102.jpg"),
                         ("103", "http://thumbs.example.com/z/103.jpg")]
    assert sorted(int(i) for i, _ in pairs) == sorted(IMAGES)
    write_csv(tmp_path / "svo_probes.csv", ROWS, header=[c for c in HEADER if c != "neg_url"])
    with pytest.raises(ValueError, match="no pos_url / neg_url column"):
        svo_probes.image_ids(str(tmp_path), {"data": "svo_probes.csv"})


def test_svo_probes_says_what_layout_it_expected(tmp_path):
    def run(**spec):
        return svo_probes.load(str(tmp_path), {"data": "repo/svo_probes.csv", "image_dir": "repo/images", **spec})

    with pytest.raises(ValueError, match="the spec names no `data` \\(expected the authors' svo_probes.csv"):
        run(data=None)
    with pytest.raises(ValueError, match="the spec names no `image_dir`"):
        run(image_dir="")
    with pytest.raises(FileNotFoundError, match="expected the authors' svo_probes.csv .* found nothing at "
                                                ".*repo/svo_probes.csv"):
        run()
    write_svo(tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match="found a folder at .*repo; .*repo/svo_probes.csv exists: set `data` "
                                                "to that file"):
        run(data="repo")
    with pytest.raises(FileNotFoundError, match="a folder of the downloaded images \\(\\{image_id\\}.jpg\\) at "
                                                ".*repo/pictures, found nothing"):
        run(image_dir="repo/pictures")
    with pytest.raises(ValueError, match="image_name '\\{id\\}.jpg' names the field\\(s\\) \\['id'\\]; expected "
                                         "\\{image_id\\} and no other"):
        run(image_name="{id}.jpg")
    with pytest.raises(ValueError, match="image_name 'image.jpg' names the field\\(s\\) \\[\\]"):
        run(image_name="image.jpg")
    with pytest.raises(ValueError, match="cannot format an id"):
        run(image_name="{image_id:q}.jpg")
    assert len(run()[0]) == 7  # the layout itself is read

    path = tmp_path / "repo" / "svo_probes.csv"
    write_csv(path, ROWS, header=[c for c in HEADER if c != "verb_neg"])
    with pytest.raises(ValueError, match="no column\\(s\\) \\['verb_neg'\\]; found \\['sentence', 'pos_triplet'"):
        run()
    rows = [list(r) for r in ROWS]
    write_csv(path, rows)
    text = path.read_text(encoding="utf-8").replace("True", "yes", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="row 0: subj_neg is 'yes'; expected True or False"):
        run()
    write_csv(path, [(*ROWS[0][:4], "abc", 102)])
    with pytest.raises(ValueError, match="row 0: pos_image_id is 'abc'; expected an integer image id"):
        run()
    write_csv(path, [ROWS[0], (" ", *ROWS[1][1:])])
    with pytest.raises(ValueError, match="row 1: an empty sentence"):
        run()
    write_csv(path, [])
    with pytest.raises(ValueError, match="a header and no row"):
        run()
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty; expected the authors' svo_probes.csv"):
        run()
    path.write_bytes("sentence\n\xff\xfe".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        run()
    write_csv(path, ROWS[7:])
    with pytest.raises(ValueError, match="none of its 2 rows has exactly one of subj_neg, verb_neg, obj_neg true"):
        run()
