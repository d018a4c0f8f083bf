"""VisMin in the authors' layouts, written tiny here with images made here: the hub's mair-lab/vismin-bench as
datasets' save_to_disk leaves it (data/dataset_dict.json; data/test/state.json, dataset_info.json and
data-0000k-of-0000n.arrow, Arrow IPC streams with the columns id, image_0, text_0, image_1, text_1, text_question_0,
text_question_1, image_question_0, image_question_1, category), its parquet conversion, and the paper code's CSVs
({object,attribute,relation,counting}.csv: image_path, caption, edited_image_path, edited_caption, edit_id;
original_images/, edited_images/). Scores against a per-item reference of vismin-bench/metric.py's lines computed in
this file from open_clip features of a tiny random model, one item at a time."""

import csv
import hashlib
import io as bytes_io
import json
import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from helpers.colour_model import COLOURS, ColourModel
from helpers.colour_model import preprocess as colour_preprocess
from helpers.colour_model import tokenizer as colour_tokenizer
from PIL import Image

from tripletclip import blind
from tripletclip.evals import vismin

RGB = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 180, 60), "yellow": (240, 220, 40),
       "white": (250, 250, 250), "black": (10, 10, 10)}
# (category, id, text_0, text_1, (top, bottom) of image_0, of image_1); ids numbered within each category, as the
# released vqa_solution.csv numbers them; items 0 and 1 of "object" edit one original image
ITEMS = [
    ("object", 0, "a red umbrella over a blue dress", "a red umbrella over a green dress", ("red", "blue"),
     ("red", "green")),
    ("object", 1, "a red umbrella over a blue dress", "a yellow kite over a blue dress", ("red", "blue"),
     ("yellow", "blue")),
    ("attribute", 0, "a white cat on a black sofa", "a white cat on a red sofa", ("white", "black"),
     ("white", "red")),
    ("relation", 0, "a green car to the left of a yellow sign", "a green car to the right of a yellow sign",
     ("green", "yellow"), ("yellow", "green")),
    ("relation", 1, "a blue ball above a red box", "a blue ball below a red box", ("blue", "red"), ("red", "blue")),
    ("counting", 0, "two black birds on a white fence", "one black bird on a white fence", ("black", "white"),
     ("white", "white")),
    ("counting", 1, "three red apples", "two red apples", ("red", "red"), ("red", "white")),
]
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema([("id", pa.int64()), ("image_0", IMAGE), ("text_0", pa.string()), ("image_1", IMAGE),
                    ("text_1", pa.string()), ("text_question_0", pa.string()), ("text_question_1", pa.string()),
                    ("image_question_0", pa.string()), ("image_question_1", pa.string()), ("category", pa.string())])
# the hub's data/test/dataset_info.json features
FEATURES = {"id": {"dtype": "int64", "_type": "Value"}, "image_0": {"_type": "Image"},
            "text_0": {"dtype": "string", "_type": "Value"}, "image_1": {"_type": "Image"},
            "text_1": {"dtype": "string", "_type": "Value"},
            **{f"{kind}_question_{k}": {"dtype": "string", "_type": "Value"} for kind in ("text", "image")
               for k in (0, 1)},
            "category": {"dtype": "string", "_type": "Value"}}


def two_colour(top, bottom, kind):
    """Encoded bytes of a 16x16 image, top half `top`: JPEG (COCO's originals) or PNG (the edits)."""
    image = Image.new("RGB", (16, 16), RGB[bottom])
    image.paste(RGB[top], (0, 0, 16, 8))
    out = bytes_io.BytesIO()
    image.save(out, format=kind, **({"quality": 95} if kind == "JPEG" else {}))
    return out.getvalue()


def rows_of(items):
    """The hub's rows: the images' bytes inside, image_0 a JPEG, image_1 a PNG."""
    return [{"id": id_, "image_0": {"bytes": two_colour(*c0, "JPEG"), "path": None}, "text_0": t0,
             "image_1": {"bytes": two_colour(*c1, "PNG"), "path": None}, "text_1": t1,
             "text_question_0": f"Does this image depict: (A) {t0}, or (B) {t1}?",
             "text_question_1": f"Does this image depict: (A) {t0}, or (B) {t1}?",
             "image_question_0": f'Which one better aligns with the description: "{t0}"?',
             "image_question_1": f'Which one better aligns with the description: "{t1}"?', "category": category}
            for category, id_, t0, t1, c0, c1 in items]


def write_hub(repo, items=ITEMS, shards=2, schema=SCHEMA, rows=None):
    """mair-lab/vismin-bench as downloaded: data/dataset_dict.json and data/test/ (datasets' save_to_disk)."""
    rows = rows_of(items) if rows is None else rows
    split = repo / "data" / "test"
    split.mkdir(parents=True, exist_ok=True)
    (repo / "data" / "dataset_dict.json").write_text(json.dumps({"splits": ["test"]}), encoding="utf-8")
    (split / "dataset_info.json").write_text(json.dumps({"citation": "", "description": "", "features": FEATURES,
                                                         "homepage": "", "license": ""}), encoding="utf-8")
    schema = schema.with_metadata({"huggingface": json.dumps({"info": {"features": FEATURES}})})
    names, size = [], -(-len(rows) // shards)
    for s in range(shards):
        names.append(f"data-{s:05d}-of-{shards:05d}.arrow")
        with pa.OSFile(str(split / names[-1]), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            writer.write_table(pa.Table.from_pylist(rows[s * size:(s + 1) * size], schema=schema))
    (split / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": n} for n in names], "_fingerprint": "0123456789abcdef", "_format_columns": None,
        "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": None}, indent=2),
        encoding="utf-8")
    return rows


def write_parquet(folder, items=ITEMS):
    """The hub's parquet conversion: default/test/0000.parquet, the same columns."""
    (folder / "default" / "test").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows_of(items), schema=SCHEMA), folder / "default" / "test" / "0000.parquet")


def write_csvs(folder, items=ITEMS):
    """The paper code's layout: {category}.csv each, original_images/ and edited_images/ (the same bytes as the
    hub's); image_path with a leading "/", which the reader strips (dataset.py lines 816-821)."""
    frames = {}
    for row, (category, id_, *_) in zip(rows_of(items), items):
        original = f"coco/{hashlib.sha1(row['image_0']['bytes']).hexdigest()[:12]}.jpg"
        edited = f"{category}/{id_}/0.png"
        for sub, name, key in (("original_images", original, "image_0"), ("edited_images", edited, "image_1")):
            (folder / sub / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / sub / name).write_bytes(row[key]["bytes"])
        frames.setdefault(category, []).append({"image_path": f"/{original}", "caption": row["text_0"],
                                                "edited_image_path": edited, "edited_caption": row["text_1"],
                                                "edit_id": id_})
    for category in vismin.CATEGORIES:
        pd.DataFrame(frames.get(category, []), columns=list(vismin.CSV_COLUMNS)).to_csv(
            folder / f"{category}.csv", index=False, encoding="utf-8")


def reference(tiny, rows):
    """vismin-bench/eval.py and metric.py, one item at a time: T{j}_I{k} the cosine similarity of text_j and image_k,
    each encoded on its own; text right iff T0_I0 > T1_I0 and T1_I1 > T0_I1, image right iff T0_I0 > T0_I1 and
    T1_I1 > T1_I0, group both. [(T0_I0, T0_I1, T1_I0, T1_I1, text, image, group)], and the smallest margin."""
    model, preprocess, tokenizer = tiny
    out, margins = [], []
    with torch.no_grad():
        for row in rows:
            images = [model.encode_image(preprocess(Image.open(bytes_io.BytesIO(row[f"image_{k}"]["bytes"]))
                                                    .convert("RGB"))[None])[0] for k in (0, 1)]
            texts = [model.encode_text(tokenizer([row[f"text_{j}"]]))[0] for j in (0, 1)]
            t0i0, t0i1, t1i0, t1i1 = (float(torch.nn.functional.cosine_similarity(texts[j], images[k], dim=0))
                                      for j, k in ((0, 0), (0, 1), (1, 0), (1, 1)))
            text = t0i0 > t1i0 and t1i1 > t0i1
            image = t0i0 > t0i1 and t1i1 > t1i0
            out.append((t0i0, t0i1, t1i0, t1i1, text, image, text and image))
            margins += [abs(t0i0 - t1i0), abs(t1i1 - t0i1), abs(t0i0 - t0i1), abs(t1i1 - t1i0)]
    return out, min(margins)


def authors_scores(rows, reference_rows):
    """metric.py's compute_contrastive_accuracy: per category, round(100 k / n, 2) of text, image and group."""
    counts = {}
    for row, (*_, text, image, group) in zip(rows, reference_rows):
        c = counts.setdefault(row["category"], {"text": 0, "image": 0, "group": 0, "count": 0})
        c["text"] += text
        c["image"] += image
        c["group"] += group
        c["count"] += 1
    return {category: {k: round(c[k] * 100 / c["count"], 2) for k in ("text", "image", "group")}
            for category, c in counts.items()}


def test_scores_are_the_authors_per_item_and_per_category(tmp_path, tiny):
    rows = write_hub(tmp_path / "vismin-bench")
    metrics, details, samples = vismin.evaluate(*tiny, {"data": "vismin-bench"}, str(tmp_path), batch_size=4)
    expected, margin = reference(tiny, rows)
    assert margin > 1e-4  # no comparison so close that rounding could flip it
    assert list(samples.columns) == list(vismin.COLUMNS)
    got = samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist()
    assert got == [pytest.approx(r[:4], abs=1e-5) for r in expected]
    verdicts = samples[["text_correct", "image_correct", "group_correct"]].values.tolist()
    assert verdicts == [list(r[4:]) for r in expected]
    assert samples["correct"].equals(samples["group_correct"])
    # the table: the hub's rows in their order (two shards), ids within a category, texts as given, the images named
    assert samples[["category", "sample_id"]].values.tolist() == [[c, str(i)] for c, i, *_ in ITEMS]
    assert samples[["caption_0", "caption_1"]].values.tolist() == [[t0, t1] for _, _, t0, t1, *_ in ITEMS]
    assert samples["image_1"].tolist() == [f"{c}_{i}_image_1" for c, i, *_ in ITEMS]

    authors = authors_scores(rows, expected)
    categories = list(vismin.CATEGORIES)
    for category in categories:
        for k in ("text", "image", "group"):
            assert round(metrics[f"{category}_{k}"], 2) == authors[category][k]
    # the page's AVG: the mean of the twelve category columns
    assert metrics["avg"] == pytest.approx(sum(authors[c][k] for c in categories for k in authors[c]) / 12, abs=1e-4)
    pooled = {k: pytest.approx(100 * sum(r[4 + n] for r in expected) / len(expected))
              for n, k in enumerate(("text", "image", "group"))}
    assert {k: metrics[k] for k in ("text", "image", "group")} == pooled
    assert list(metrics) == ["text", "image", "group", "avg"] + [f"{c}_{k}" for c in categories
                                                                 for k in ("text", "image", "group")]
    assert vismin.metrics_from_samples(samples) == metrics  # the same floats
    assert details == {"examples": 7, "layout": "arrow", "per_category": {
        c: {"examples": n, **{k: metrics[f"{c}_{k}"] for k in ("text", "image", "group")}}
        for c, n in zip(categories, (2, 1, 2, 2))}}
    buffer = bytes_io.BytesIO()
    samples.to_parquet(buffer, index=False)
    assert pd.read_parquet(buffer).equals(samples)


def test_every_layout_gives_the_same_scores(tmp_path, tiny):
    """The save_to_disk folder (as the repository, its data/ or data/test/), the parquet conversion and the paper's
    CSVs: the same items, the same images, the same scores; only the images' names differ."""
    write_hub(tmp_path / "hub", shards=3)
    write_parquet(tmp_path / "parquet")
    write_csvs(tmp_path / "csv")
    runs = {name: vismin.evaluate(*tiny, {"data": name}, str(tmp_path), batch_size=3)
            for name in ("hub", "hub/data", "hub/data/test", "parquet", "csv")}
    assert {name: run[1]["layout"] for name, run in runs.items()} == {
        "hub": "arrow", "hub/data": "arrow", "hub/data/test": "arrow", "parquet": "parquet", "csv": "csv"}
    first = runs["hub"][2]
    for name, (metrics, _, samples) in runs.items():
        assert metrics == runs["hub"][0], name
        pd.testing.assert_frame_equal(samples.drop(columns=["image_0", "image_1"]),
                                      first.drop(columns=["image_0", "image_1"]))
    csv_table = runs["csv"][2]
    # the paper's paths under original_images/ and edited_images/, the leading "/" of image_path stripped
    assert csv_table["image_0"].str.startswith("original_images/coco/").all()
    assert csv_table["image_1"].tolist() == [f"edited_images/{c}/{i}/0.png" for c, i, *_ in ITEMS]
    # the CSV layout reads the categories in config.py's order: here the same as the hub's rows
    assert csv_table["category"].tolist() == [c for c, *_ in ITEMS]


def test_the_browser_reads_the_images_by_name(tmp_path):
    rows = write_hub(tmp_path / "hub")
    write_csvs(tmp_path / "csv")
    hub = vismin.image_bytes({"data": "hub"}, str(tmp_path), {"relation_1_image_0", "object_0_image_1"})
    assert hub == {"relation_1_image_0": rows[4]["image_0"]["bytes"], "object_0_image_1": rows[0]["image_1"]["bytes"]}
    every = vismin.image_bytes({"data": "csv"}, str(tmp_path))
    assert len(every) == 13  # 14 images, the two "object" items' original being one file
    assert every["edited_images/counting/1/0.png"] == rows[6]["image_1"]["bytes"]


def test_known_verdicts_by_hand(tmp_path):
    """The colour model (tests/helpers/colour_model.py): an image is its mean colour, a caption its colour-word
    counts. Solid PNGs are lossless, so a tie is a tie to the bit."""
    def solid(colour):
        out = bytes_io.BytesIO()
        Image.new("RGB", (4, 4), COLOURS[colour]).save(out, format="PNG")
        return {"bytes": out.getvalue(), "path": None}

    cases = [("object", "red", "blue"),  # s = 1, 0, 0, 1: text, image and group right
             # s(t0, i0) = 1 > s(t1, i0) = a and s(t1, i1) = a > s(t0, i1) = 0: text right; s(t1, i0) = s(t1, i1): the
             # image score ties, wrong
             ("object", "red", "red blue"),
             ("counting", "blue", "red"),  # s = 0, 1, 1, 0: all wrong
             ("counting", "red blue", "blue red")]  # equal counts: every comparison a tie, all wrong
    rows = [{"id": i % 2, "image_0": solid("red"), "text_0": t0, "image_1": solid("blue"), "text_1": t1,
             **{f"{kind}_question_{k}": "" for kind in ("text", "image") for k in (0, 1)}, "category": category}
            for i, (category, t0, t1) in enumerate(cases)]
    write_hub(tmp_path / "hub", rows=rows, shards=1)
    metrics, details, samples = vismin.evaluate(ColourModel(), colour_preprocess, colour_tokenizer, {"data": "hub"},
                                                str(tmp_path), batch_size=3)
    assert samples[["text_correct", "image_correct", "group_correct"]].values.tolist() == [
        [True, True, True], [True, False, False], [False, False, False], [False, False, False]]
    assert samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist()[3] == [pytest.approx(0.5 ** 0.5)] * 4
    assert metrics == {"text": 50.0, "image": 25.0, "group": 25.0, "avg": pytest.approx(200 / 6),
                       "object_text": 100.0, "object_image": 50.0, "object_group": 50.0,
                       "counting_text": 0.0, "counting_image": 0.0, "counting_group": 0.0}
    assert list(details["per_category"]) == ["object", "counting"]


def test_the_submission_is_the_readmes_csv(tmp_path, tiny, caplog):
    write_hub(tmp_path / "hub")
    _, _, samples = vismin.evaluate(*tiny, {"data": "hub"}, str(tmp_path))
    path = tmp_path / "out" / "submission.csv"
    path.parent.mkdir()
    path.write_text("an older file\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tripletclip.evals.vismin"):
        assert vismin.write_submission(samples, path) == path
    assert "ids repeat across categories" in caplog.text  # object 0, attribute 0, ...: matched by row order
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "id,T0_I0,T0_I1,T1_I0,T1_I1" and lines[-1] == "" and len(lines) == 9
    with open(path, encoding="utf-8", newline="") as f:
        read = list(csv.DictReader(f))
    assert [r["id"] for r in read] == [str(i) for _, i, *_ in ITEMS]
    for row, (_, item) in zip(read, samples.iterrows()):
        # exactly the table's similarities: T{j}_I{k} = c{j}_i{k}
        assert [float(row[f"T{j}_I{k}"]) for j in (0, 1) for k in (0, 1)] == [item[f"c{j}_i{k}"] for j in (0, 1)
                                                                              for k in (0, 1)]
    assert sorted(p.name for p in path.parent.iterdir()) == ["submission.csv"]  # written in place, nothing left
    vismin.write_submission(samples, path, category=True)
    with open(path, encoding="utf-8", newline="") as f:
        read = list(csv.reader(f))
    assert read[0] == ["id", "T0_I0", "T0_I1", "T1_I0", "T1_I1", "category"]
    assert [r[5] for r in read[1:]] == [c for c, *_ in ITEMS]
    before = path.read_bytes()
    with pytest.raises(ValueError, match="lacks the column\\(s\\) c1_i1; expected evaluate's table"):
        vismin.write_submission(samples.drop(columns=["c1_i1"]), path)
    with pytest.raises(ValueError, match="the table has no row"):
        vismin.write_submission(samples.iloc[:0], path)
    assert path.read_bytes() == before


def test_a_blind_scorer_gets_every_item_wrong():
    items = pd.DataFrame([{"category": "object", "sample_id": str(i), "correct": True, "c0_i0": 0.3, "c0_i1": 0.1,
                           "c1_i0": 0.1, "c1_i1": 0.3, "text_correct": True, "image_correct": True,
                           "group_correct": True, "caption_0": c0, "caption_1": c1, "image_0": f"object_{i}_image_0",
                           "image_1": f"object_{i}_image_1"}
                          for i, (c0, c1) in enumerate([("a red cup on a table", "a blue cup on a table"),
                                                        ("a red cup", "a small blue cup")])])
    scored = vismin.score_blind(items, blind.Shorter(), "blind-shorter")
    assert list(scored.columns) == list(vismin.COLUMNS)
    assert scored[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-6, -6, -6, -6], [-3, -3, -4, -4]]
    assert not scored[["correct", "text_correct", "image_correct", "group_correct"]].values.any()
    assert vismin.metrics_from_samples(scored) == {"text": 0.0, "image": 0.0, "group": 0.0, "avg": 0.0,
                                                   "object_text": 0.0, "object_image": 0.0, "object_group": 0.0}
    assert scored[["caption_0", "image_1", "sample_id"]].equals(items[["caption_0", "image_1", "sample_id"]])


def test_vismin_says_what_layout_it_expected(tmp_path, tiny):
    def run(data="bench"):
        return vismin.evaluate(*tiny, {"data": data}, str(tmp_path))

    with pytest.raises(ValueError, match="the spec names no `data` \\(expected the hub's mair-lab/vismin-bench"):
        run(None)
    with pytest.raises(FileNotFoundError, match="VisMin data: expected the hub's mair-lab/vismin-bench .* at "
                                                ".*bench, found nothing"):
        run()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "README.md").write_text("VisMin\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="bench holds none of the layouts read here; expected the hub's "
                                                ".*original_images/ and edited_images/\\), found \\['README.md'\\]"):
        run()

    # the paper's CSVs: all four, their columns, their images
    write_csvs(tmp_path / "bench")
    (tmp_path / "bench" / "counting.csv").unlink()
    with pytest.raises(FileNotFoundError, match="the paper's CSV layout without counting.csv; expected all four"):
        run()
    write_csvs(tmp_path / "bench")
    frame = pd.read_csv(tmp_path / "bench" / "attribute.csv")
    frame.drop(columns=["edit_id"]).to_csv(tmp_path / "bench" / "attribute.csv", index=False)
    with pytest.raises(ValueError, match="attribute.csv: no column \\['edit_id'\\]; found .* expected the paper's"):
        run()
    pd.concat([frame, frame]).to_csv(tmp_path / "bench" / "attribute.csv", index=False)
    with pytest.raises(ValueError, match="ids are not unique within a category, e.g. attribute id 0 is given twice"):
        run()
    frame.to_csv(tmp_path / "bench" / "attribute.csv", index=False)
    (tmp_path / "bench" / "edited_images" / "relation" / "1" / "0.png").unlink()
    with pytest.raises(FileNotFoundError, match="VisMin images in .*bench .*: 1 of 13 images are missing, e.g. "
                                                ".*edited_images/relation/1/0.png"):
        run()

    # the hub's folder: its shards, its columns, the images inside
    rows = write_hub(tmp_path / "hub")
    (tmp_path / "hub" / "data" / "test" / "data-00001-of-00002.arrow").unlink()
    with pytest.raises(FileNotFoundError, match="VisMin hub shards named by .*state.json: 1 of 2 images are missing"):
        run("hub")
    write_hub(tmp_path / "hub", schema=SCHEMA.remove(SCHEMA.get_field_index("category")),
              rows=[{k: v for k, v in r.items() if k != "category"} for r in rows])
    with pytest.raises(ValueError, match="no column \\['category'\\]; found .* expected the hub's"):
        run("hub")
    flat = SCHEMA.set(SCHEMA.get_field_index("image_1"), pa.field("image_1", pa.binary()))
    write_hub(tmp_path / "hub", schema=flat, rows=[{**r, "image_1": r["image_1"]["bytes"]} for r in rows])
    with pytest.raises(ValueError, match="column image_1 is binary; expected the datasets Image feature"):
        run("hub")
    write_hub(tmp_path / "hub", rows=[*rows[:3], {**rows[3], "image_1": {"bytes": None, "path": "/coco/x.png"}}])
    with pytest.raises(ValueError, match="item relation 0 has no bytes in image_1 \\(path '/coco/x.png'\\)"):
        run("hub")
    write_hub(tmp_path / "hub", rows=[*rows[:3], {**rows[3], "text_1": ""}])
    with pytest.raises(ValueError, match="row 3 has id=0, text_1=''; expected an id and non-empty strings"):
        run("hub")
    write_hub(tmp_path / "hub", rows=[rows[0], {**rows[1], "id": 0}])
    with pytest.raises(ValueError, match="e.g. object id 0 is given twice"):
        run("hub")
    # ids that repeat across categories are the released numbering, not an error
    write_hub(tmp_path / "hub", rows=rows[:3])
    assert run("hub")[2]["sample_id"].tolist() == ["0", "1", "0"]


def test_equal_images_are_encoded_once(tmp_path):
    """Items 0 and 1 edit one original: its bytes, hashed, are one image to encode."""
    rows = write_hub(tmp_path / "hub")
    examples, layout, open_image, read_bytes = vismin.load(str(tmp_path), {"data": "hub"})
    assert layout == "arrow" and examples[0]["key_0"] == examples[1]["key_0"]
    assert len({e[f"key_{k}"] for e in examples for k in (0, 1)}) == 13
    assert examples[0]["key_0"] == hashlib.sha1(rows[0]["image_0"]["bytes"]).hexdigest()
    assert read_bytes(examples[6]["key_1"]) == rows[6]["image_1"]["bytes"]
    assert open_image(examples[0]["key_0"]).size == (16, 16)
