"""BiVLC: imirandam/BiVLC's parquet files (image, caption, negative_caption, negative_image, type, subtype; the images
as the datasets Image struct), written tiny in that layout with images made here; scores from the colour model
(tests/helpers/colour_model.py), worked out by hand."""

import base64
import io as bytes_io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.colour_model import COLOURS, ColourModel, preprocess, tokenizer
from PIL import Image

from tripletclip import blind, browse, shapes
from tripletclip.evals import bivlc

WORLD = {"heldout_combos": 6, "image_size": 32, "hollow_rate": 0.2, "third_object_rate": 0.3}


def png(colour: str) -> bytes:
    """A solid PNG: lossless, so the colour model sees exactly (1, 0, 0), (0, 1, 0) or (0, 0, 1)."""
    out = bytes_io.BytesIO()
    Image.new("RGB", (4, 4), COLOURS[colour]).save(out, format="PNG")
    return out.getvalue()


def image(colour, path=None):
    return {"bytes": png(colour) if colour else None, "path": path}


# (image, caption, negative_caption, negative_image, type, subtype); with a = 1/√2 and b = 1/√5:
ROWS = [
    # s(C0, I0) = 1, s(C0, I1) = 0, s(C1, I0) = 0, s(C1, I1) = 1: every retrieval right
    (image("red", "000000397133.jpg"), "red", "blue", image("blue"), "replace", "obj"),
    # s = 1, 0, a, a: both images pick their caption (I2T right); Tneg_2I asks s(C1, I1) > s(C1, I0), a tie: T2I wrong
    (image("red"), "red", "red green", image("green"), "swap", "att"),
    (image("red"), "red", "blue", image(None), "add", "att"),  # no negative image: skipped, counted
    (image("red"), "blue", "red", image("blue"), "add", "obj"),  # s = 0, 1, 1, 0: every retrieval wrong
    # "red green green" = (1, 2, 0)/√5, "red blue blue" = (1, 0, 2)/√5: s = b, 0, b, 2b. Ipos_2T asks s(C0, I0) >
    # s(C1, I0), a tie: I2T wrong; Tpos_2I (b > 0) and Tneg_2I (2b > b) hold: T2I right
    (image("red"), "red green green", "red blue blue", image("blue"), "replace", "att"),
]
# i2t: rows 0 and 1; t2i: rows 0 and 4; group: row 0 (of the four scored)
EXPECTED = {"i2t": 50.0, "t2i": 50.0, "group": 25.0, "replace_i2t": 50.0, "replace_t2i": 100.0,
            "replace_group": 50.0, "swap_i2t": 100.0, "swap_t2i": 0.0, "swap_group": 0.0, "add_i2t": 0.0,
            "add_t2i": 0.0, "add_group": 0.0}


def write_bivlc(folder, rows=ROWS, shards=2, pattern="data/test-{i:05d}-of-{n:05d}.parquet", schema=None):
    """The rows as `datasets` writes BiVLC's features, in `shards` consecutive files named by `pattern`."""
    schema = schema or bivlc._schema()
    records = [dict(zip(bivlc.FIELDS, row)) for row in rows]
    size = -(-len(records) // shards)
    for i in range(shards):
        path = folder / pattern.format(i=i, n=shards)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records[i * size:(i + 1) * size], schema=schema), path)


def run(folder, spec):
    return bivlc.evaluate(ColourModel(), preprocess, tokenizer, spec, str(folder), batch_size=3)


def test_bivlc_i2t_t2i_and_group_scores(tmp_path):
    write_bivlc(tmp_path)  # rows 0-2 in the first file, 3-4 in the second
    metrics, details, samples = run(tmp_path, {"examples": "."})
    assert metrics == pytest.approx(EXPECTED) and list(metrics) == list(EXPECTED)
    assert bivlc.metrics_from_samples(samples) == metrics  # the same floats
    assert details["rows"] == 4 and details["skipped"] == 1
    # Ipos_2T: rows 0, 1; Ineg_2T: 0, 1, 4; Tpos_2I: 0, 1, 4; Tneg_2I: 0, 4
    assert details["retrievals"] == {"ipos_2t": 50.0, "ineg_2t": 75.0, "tpos_2i": 75.0, "tneg_2i": 50.0}
    assert details["per_category"] == {
        "replace_obj": {"i2t": 100.0, "t2i": 100.0, "group": 100.0, "rows": 1},
        "swap_att": {"i2t": 100.0, "t2i": 0.0, "group": 0.0, "rows": 1},
        "add_obj": {"i2t": 0.0, "t2i": 0.0, "group": 0.0, "rows": 1},
        "replace_att": {"i2t": 0.0, "t2i": 100.0, "group": 0.0, "rows": 1}}
    assert list(samples.columns) == list(bivlc.COLUMNS)
    # category, sample_id (the position over both files: row 2 was skipped), correct (group), the four retrievals,
    # i2t, t2i, group, type, subtype, captions, image names (the struct's file name, else the row and column)
    assert samples.drop(columns=["c0_i0", "c0_i1", "c1_i0", "c1_i1"]).values.tolist() == [
        ["replace_obj", "0", True, True, True, True, True, True, True, True, "replace", "obj", "red", "blue",
         "000000397133.jpg", "0/negative_image"],
        ["swap_att", "1", False, True, True, True, False, True, False, False, "swap", "att", "red", "red green",
         "1/image", "1/negative_image"],
        ["add_obj", "3", False, False, False, False, False, False, False, False, "add", "obj", "blue", "red",
         "3/image", "3/negative_image"],
        ["replace_att", "4", False, False, True, True, True, False, True, False, "replace", "att", "red green green",
         "red blue blue", "4/image", "4/negative_image"]]
    a, b = 0.5 ** 0.5, 0.2 ** 0.5
    assert samples[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [
        pytest.approx([1, 0, 0, 1]), pytest.approx([1, 0, a, a]), pytest.approx([0, 1, 1, 0]),
        pytest.approx([b, 0, b, 2 * b])]
    assert samples.loc[1, "c1_i0"] == samples.loc[1, "c1_i1"] and samples.loc[3, "c0_i0"] == samples.loc[3, "c1_i0"]


def test_the_error_browser_shows_both_images_of_every_wrong_row(tmp_path):
    write_bivlc(tmp_path)
    _, _, samples = run(tmp_path, {"examples": "."})
    roots = browse.image_roots("bivlc", {"examples": "."}, str(tmp_path))
    data = browse.browser_data(samples.assign(model="colour", benchmark="bivlc"), roots, "t", max_per_view=10,
                               thumbnail=16, max_images=100)
    shown = {path: index for cat in data["benchmarks"][0]["categories"] for item in cat["items"]
             for path, index, _ in item["images"]}
    # the wrong rows, 1, 3 and 4 (row 2 skipped), by the names the table gives their images
    colour_of = {"1/image": "red", "1/negative_image": "green", "3/image": "red", "3/negative_image": "blue",
                 "4/image": "red", "4/negative_image": "blue"}
    assert set(shown) == set(colour_of) and None not in shown.values()
    for path, index in shown.items():
        thumb = Image.open(bytes_io.BytesIO(base64.b64decode(data["images"][index].split(",", 1)[1])))
        assert max(abs(a - b) for a, b in zip(thumb.convert("RGB").getpixel((1, 1)), COLOURS[colour_of[path]])) < 30


def test_every_layout_of_the_hub_gives_the_same_table(tmp_path):
    write_bivlc(tmp_path / "repo")
    write_bivlc(tmp_path / "one", shards=1)
    write_bivlc(tmp_path / "converted", pattern="default/test/{i:04d}.parquet")  # branch refs/convert/parquet
    _, _, table = run(tmp_path, {"examples": "repo"})
    for spec in ({"examples": "repo/data/test-*.parquet"}, {"examples": "one/data/test-00000-of-00001.parquet"},
                 {"examples": "one/data"}, {"examples": "converted"}):
        pd.testing.assert_frame_equal(run(tmp_path, spec)[2], table, obj=str(spec))


def test_a_blind_scorer_gets_every_row_wrong():
    """s(c, i) = score(c) for both images: T2I compares a caption's score with itself, a tie, wrong; I2T would need
    score(c0) > score(c1) > score(c0). Of Ipos_2T and Ineg_2T exactly one holds, unless the captions tie."""
    items = pd.DataFrame([{"category": "swap_att", "sample_id": str(i), "correct": True, "c0_i0": 0.3, "c0_i1": 0.1,
                           "c1_i0": 0.1, "c1_i1": 0.3, **dict.fromkeys(bivlc.RETRIEVALS, True), "i2t_correct": True,
                           "t2i_correct": True, "group_correct": True, "type": "swap", "subtype": "att",
                           "caption_0": c0, "caption_1": c1, "image_0": f"{i}/image", "image_1": f"{i}/negative_image"}
                          for i, (c0, c1) in enumerate([("a red circle", "a small red circle"),
                                                        ("a red circle", "a blue circle")])])
    scored = bivlc.score_blind(items, blind.Shorter(), "blind-shorter")
    assert list(scored.columns) == list(bivlc.COLUMNS)
    # Shorter: -(words); the first row's captions differ in length (the caption preferred), the second's tie
    assert scored[["c0_i0", "c0_i1", "c1_i0", "c1_i1"]].values.tolist() == [[-3, -3, -4, -4], [-3, -3, -3, -3]]
    assert scored[list(bivlc.RETRIEVALS)].values.tolist() == [[True, False, False, False], [False] * 4]
    assert not scored[["correct", "i2t_correct", "t2i_correct", "group_correct"]].values.any()
    assert bivlc.metrics_from_samples(scored) == {"i2t": 0.0, "t2i": 0.0, "group": 0.0, "swap_i2t": 0.0,
                                                  "swap_t2i": 0.0, "swap_group": 0.0}
    assert scored[["caption_0", "image_1", "sample_id", "type"]].equals(items[["caption_0", "image_1", "sample_id",
                                                                                "type"]])


def test_bivlc_says_what_it_expected_and_found(tmp_path):
    write_bivlc(tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match="holds none of data/test-\\*.parquet, .*found \\['repo'\\]"):
        run(tmp_path, {"examples": "."})
    with pytest.raises(FileNotFoundError, match="no file matches .*repo/data/train-\\*.parquet"):
        run(tmp_path, {"examples": "repo/data/train-*.parquet"})
    with pytest.raises(FileNotFoundError, match="no file or folder .*missing.parquet"):
        run(tmp_path, {"examples": "missing.parquet"})
    (tmp_path / "rows.json").write_text(json.dumps([]), encoding="utf-8")
    with pytest.raises(ValueError, match="expected parquet files .*rows.json is not one"):
        run(tmp_path, {"examples": "rows.json"})
    no_subtype = pa.schema([f for f in bivlc._schema() if f.name != "subtype"])
    write_bivlc(tmp_path / "no_subtype", rows=[r[:5] for r in ROWS], schema=no_subtype)
    with pytest.raises(ValueError, match="no column \\['subtype'\\]; found \\['image', 'caption', 'negative_caption', "
                                         "'negative_image', 'type'\\], expected imirandam/BiVLC's"):
        run(tmp_path, {"examples": "no_subtype"})
    names = bivlc._schema().set(3, pa.field("negative_image", pa.string()))
    write_bivlc(tmp_path / "names", rows=[r[:3] + ("neg.jpg",) + r[4:] for r in ROWS], schema=names)
    with pytest.raises(ValueError, match="column negative_image is string; expected the datasets Image feature"):
        run(tmp_path, {"examples": "names"})
    write_bivlc(tmp_path / "empty", rows=[ROWS[2]], shards=1)
    with pytest.raises(ValueError, match="no complete row in .* \\(1 rows, e.g. row 0 lacks \\['negative_image'\\]"):
        run(tmp_path, {"examples": "empty"})


def test_the_shapes_analogue_is_bivlcs_format_and_read_back(tmp_path):
    spec = bivlc.build_shapes(str(tmp_path), WORLD, {"shapes_examples": 14}, 0)
    assert spec == {"examples": "."}
    path = tmp_path / "data" / "test-00000-of-00001.parquet"
    schema = pq.read_schema(path)
    assert schema.names == list(bivlc.FIELDS)
    assert str(schema.field("image").type) == str(schema.field("negative_image").type) == \
        "struct<bytes: binary, path: string>"
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features["negative_image"] == {"_type": "Image"} and features["subtype"]["dtype"] == "string"
    rows = pq.read_table(path).to_pylist()
    assert len(rows) == 14
    heldout = shapes.heldout_combos(0, WORLD["heldout_combos"])
    kinds = []
    for row in rows:
        kind = f"{row['type']}_{row['subtype']}"
        kinds.append(kind)
        (scene, phrasing), (other, worded) = shapes.parse(row["caption"]), shapes.parse(row["negative_caption"])
        assert scene.combos() & heldout  # a test scene
        # the negative worded alike (a joiner is read back only from a caption that names a third object)
        assert (phrasing.frame, phrasing.relation) == (worded.frame, worded.relation)
        assert other in shapes._candidates(scene, kind)  # the negative of the row's type
        for column in bivlc.IMAGES:
            assert row[column]["path"] is None
            with Image.open(bytes_io.BytesIO(row[column]["bytes"])) as decoded:
                assert decoded.format == "PNG" and decoded.size == (32, 32)
        assert row["image"]["bytes"] != row["negative_image"]["bytes"]  # the negative scene is drawn otherwise
    assert kinds == list(shapes.NEGATIVE_TYPES) * 2  # each type in turn: the categories are equal in size
    metrics, details, samples = run(tmp_path, spec)
    assert details["rows"] == 14 and details["skipped"] == 0
    assert bivlc.metrics_from_samples(samples) == metrics
    assert {c: v["rows"] for c, v in details["per_category"].items()} == dict.fromkeys(shapes.NEGATIVE_TYPES, 2)
    assert samples["sample_id"].tolist() == [str(i) for i in range(14)]
    assert samples["caption_1"].tolist() == [r["negative_caption"] for r in rows]
