"""BiVLC (Miranda et al., NeurIPS 2024 Datasets and Benchmarks, "BiVLC: Extending Vision-Language Compositionality
Evaluation with Text-to-Image Retrieval", arXiv 2406.09952): SugarCrepe's pairs with a synthetic negative image each,
scored both ways.

Format (the Hugging Face dataset imirandam/BiVLC, split test, 2,933 rows; its dataset card's `dataset_info`): the
parquet files `data/test-00000-of-00002.parquet` and `data/test-00001-of-00002.parquet` (the first uploads named
them `test-0000N-of-00002-{hash}.parquet`; the hub's converted copy, branch refs/convert/parquet, has
`default/test/000N.parquet`), columns in this order:
- image: the `datasets` Image feature, stored as struct<bytes: binary, path: string> (a COCO 2017 val image, JPEG);
- caption: string (SugarCrepe's positive, a COCO caption, formatted uniformly by the BiVLC authors: IMirandaM/BiVLC
  README.md:73, "Step 1", so 957 of the 2,933 differ from SugarCrepe's string, in spacing, letter case or a final
  period: "Frisbee" -> "frisbee", a trailing space stripped);
- negative_caption: string (SugarCrepe's hard negative of the caption, formatted likewise: 129 differ);
- negative_image: Image, struct<bytes, path> (generated from negative_caption by the authors, chosen by annotators);
- type: string (replace, swap, add); subtype: string (obj, att, rel): SugarCrepe's seven categories, with 1,200
  replace_obj, 437 replace_att, 462 replace_rel, 81 swap_obj, 278 swap_att, 399 add_obj and 76 add_att rows.
(The counts: the dataset's rows as the authors' script wrote them back from the first upload, IMirandaM/BiVLC
`results/BiVLC_ViT-B-32.csv`, against their `source_data/SugarCrepe/test_SugarCrepe.csv`; the re-upload under the
present names, hub commit 29ab400, keeps the card's num_examples and num_bytes.) There is no id column: a row's id
here is its position over the files in name order (0 to 2,932), the order `load_dataset` gives. `examples` is a
parquet file, a glob of them, or a folder holding one of `FOLDER_LAYOUTS` (the downloaded dataset repository).

Protocol (IMirandaM/BiVLC, `src/CLIP_fine_tuning/CLIP_utils.py`, `evaluate_BiVLC`, lines 136-179, run by
`main_evaluation_BiVLC.py`, which gives the paper's I2T, T2I and group scores): with L2-normalized embeddings, C0/C1
the caption and negative caption, I0/I1 the image and negative image (`dataset`, lines 102-119), and s(Cj, Ik) their
cosine similarity (`c{j}_i{k}` below), four retrievals, each strict (a tie is wrong; lines 161-164): Ipos_2T =
s(C0, I0) > s(C1, I0), Ineg_2T = s(C1, I1) > s(C0, I1) (each image picks its caption), Tpos_2I = s(C0, I0) >
s(C0, I1), Tneg_2I = s(C1, I1) > s(C1, I0) (each caption picks its image); I2T = Ipos_2T and Ineg_2T, T2I = Tpos_2I
and Tneg_2I, group = I2T and T2I (lines 166-168; Winoground's text, image and group scores: `protocols.group_2x2`). The
paper reports I2T, T2I and group over all rows (the README's results table); the script also prints them per `type`
(replace, swap, add) and the four retrievals' rates (`main_evaluation_BiVLC.py`, lines 87 and 100-106). Here: `i2t`,
`t2i`, `group` overall and `{type}_{i2t,t2i,group}` per type; details hold the same per category (`{type}_{subtype}`)
and the four retrievals' rates.
"""

from __future__ import annotations

import io as bytes_io
import json
import logging
from pathlib import Path

import pandas as pd

from .. import shapes, world
from . import encode, protocols

log = logging.getLogger(__name__)

FIELDS = ("image", "caption", "negative_caption", "negative_image", "type", "subtype")  # the dataset's columns
IMAGES = ("image", "negative_image")
TYPES = ("replace", "swap", "add")  # the paper's order
FOLDER_LAYOUTS = ("data/test-*.parquet", "test-*.parquet", "default/test/*.parquet")  # the first found
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "ipos_2t", "ineg_2t", "tpos_2i",
           "tneg_2i", "i2t_correct", "t2i_correct", "group_correct", "type", "subtype", "caption_0", "caption_1",
           "image_0", "image_1")
SCORES = ("i2t", "t2i", "group")
# BiVLC's four retrievals, each a `protocols.Group` field: each image picks its caption, each caption its image
RETRIEVALS = {"ipos_2t": "i0_picks_c0", "ineg_2t": "i1_picks_c1", "tpos_2i": "c0_picks_i0", "tneg_2i": "c1_picks_i1"}


def _schema():
    """The parquet schema `datasets` writes for BiVLC's features, with its "huggingface" metadata."""
    import pyarrow as pa

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    string = {"dtype": "string", "_type": "Value"}
    features = {"image": {"_type": "Image"}, "caption": string, "negative_caption": string,
                "negative_image": {"_type": "Image"}, "type": string, "subtype": string}
    return pa.schema([("image", image), ("caption", pa.string()), ("negative_caption", pa.string()),
                      ("negative_image", image), ("type", pa.string()), ("subtype", pa.string())],
                     metadata={"huggingface": json.dumps({"info": {"features": features}})})


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """A test-split scene and its negative scene, one row each, the negative of each of SugarCrepe's (and the
    shapes world's) seven types in turn (`shapes.NEGATIVE_TYPES`: type and subtype are the kind's two halves, e.g.
    swap_att -> swap, att), so the categories are equal in size; a scene that has no negative of the type due is
    passed over. The caption and negative caption are the two scenes worded alike; the negative image is rendered
    from the negative scene, as BiVLC's negative images are generated from the negative captions.

    Writes `data/test-00000-of-00001.parquet` with BiVLC's columns (`_schema`: the images PNG bytes in the
    datasets Image struct, path null, as the hub stores an image made in memory) and returns the spec
    {"examples": "."}, the folder as the downloaded dataset repository is laid out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = shapes.keyed_rng("bivlc", seed)
    size = world_cfg["image_size"]
    rows = []
    for scene, phrasing in world.test_scenes(world_cfg, seed, "bivlc"):
        if len(rows) == options["shapes_examples"]:
            break
        kind = shapes.NEGATIVE_TYPES[len(rows) % len(shapes.NEGATIVE_TYPES)]
        other = shapes.negative(scene, kind, rng)
        if other is None:
            continue
        i = len(rows)
        kind_type, subtype = kind.split("_")
        rows.append({"image": _png(shapes.render(scene, size, seed=f"bivlc:{seed}:{i}:image")),
                     "caption": shapes.describe(scene, phrasing),
                     "negative_caption": shapes.describe(other, phrasing),
                     "negative_image": _png(shapes.render(other, size, seed=f"bivlc:{seed}:{i}:negative_image")),
                     "type": kind_type, "subtype": subtype})
    path = Path(out_dir) / "data" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), path)
    return {"examples": "."}


def _png(image) -> dict:
    out = bytes_io.BytesIO()
    image.save(out, format="PNG")
    return {"bytes": out.getvalue(), "path": None}


def load(root: str, spec: dict) -> tuple[list[dict], int, list[Path]]:
    """(rows, skipped, files): each row {"index" (its position over the files, from 0), "caption", "negative_caption",
    "type", "subtype", "image", "negative_image" (the PNG/JPEG bytes), "image_name", "negative_image_name"}; how many
    rows lacked a caption, a type or an image's bytes and were skipped (logged); the files read.

    Raises FileNotFoundError when no file is found (saying what was expected and what the folder holds), ValueError
    when a file is not parquet, lacks a column of `FIELDS` or stores an image column otherwise than as the Image
    struct, or when no row is left."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = encode.example_files(root, spec, "BiVLC", FOLDER_LAYOUTS,
                                 "a parquet file of imirandam/BiVLC, a glob of them, or the downloaded dataset folder")
    rows, bad, index = [], [], 0
    for path in files:
        with open(path, "rb") as f:
            if f.read(4) != b"PAR1":
                raise ValueError(f"BiVLC examples: expected parquet files (imirandam/BiVLC's data/test-*.parquet), "
                                 f"{path} is not one")
        schema = pq.read_schema(path)
        missing = [c for c in FIELDS if c not in schema.names]
        if missing:
            raise ValueError(f"BiVLC parquet {path}: no column {missing}; found {schema.names}, expected "
                             f"imirandam/BiVLC's ({', '.join(FIELDS)})")
        for column in IMAGES:
            kind = schema.field(column).type
            if not (pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0):
                raise ValueError(f"BiVLC parquet {path}: column {column} is {kind}; expected the datasets Image "
                                 f"feature, struct<bytes: binary, path: string>")
        for row in pq.read_table(path, columns=list(FIELDS)).to_pylist():
            row["index"], index = index, index + 1
            lacking = [c for c in ("caption", "negative_caption", "type", "subtype") if not row[c]]
            lacking += [c for c in IMAGES if not (row[c] or {}).get("bytes")]
            if lacking:
                bad.append((row["index"], lacking))
                continue
            for column in IMAGES:
                # the struct's file name where it has one, else the row's position and the column
                name = row[column].get("path")
                row[f"{column}_name"] = Path(name).name if name else f"{row['index']}/{column}"
                row[column] = row[column]["bytes"]
            rows.append(row)
    if bad:
        log.warning("BiVLC: %d of %d rows lack a value and are skipped, e.g. row %d lacks %s", len(bad), index,
                    *bad[0])
    if not rows:
        raise ValueError(f"BiVLC examples: no complete row in {', '.join(map(str, files))} ({index} rows"
                         + (f", e.g. row {bad[0][0]} lacks {bad[0][1]}" if bad else "") + ")")
    log.info("BiVLC: %d rows from %s", len(rows), ", ".join(map(str, files)))
    return rows, len(bad), files


def image_bytes(spec: dict, root: str = ".", names=None) -> dict[str, bytes]:
    """{name: the encoded image} of the images `names` (the per-sample table's image_0/image_1 values, `load`'s
    image_name/negative_image_name; None: every image), read from inside the parquet files. For the error browser
    (`browse.EmbeddedImages`); raises as `load` does."""
    rows, _, _ = load(root, spec)
    return {r[f"{c}_name"]: r[c] for r in rows for c in IMAGES if names is None or r[f"{c}_name"] in names}


def _open(png: bytes):
    return encode.open_rgb(bytes_io.BytesIO(png))


def _verdicts(scores: protocols.Group) -> dict:
    """{column: its values} of BiVLC's verdict columns, in `COLUMNS` order, from `protocols.group_2x2`'s verdicts:
    the four retrievals, then I2T (Winoground's text score), T2I (its image score) and group."""
    return {"correct": scores.group, **{k: getattr(scores, field) for k, field in RETRIEVALS.items()},
            "i2t_correct": scores.text, "t2i_correct": scores.image, "group_correct": scores.group}


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): I2T, T2I and group scores (%) overall and per type (`metrics_from_samples` of
    the table); details {"rows": scored, "skipped": incomplete rows, "retrievals": {ipos_2t, ineg_2t, tpos_2i,
    tneg_2i: %}, "per_category": {"{type}_{subtype}": {"i2t", "t2i", "group", "rows"}}}; the table, one row per
    dataset row in the files' order, columns `COLUMNS`. Each distinct image (by its bytes) and caption is encoded
    once."""
    rows, skipped, _ = load(root, spec)
    images, image_row = encode.index([r[c] for r in rows for c in IMAGES])
    captions, caption_row = encode.index([r[c] for r in rows for c in ("caption", "negative_caption")])
    img = encode.images(model, preprocess, images, batch_size, device, load=_open)
    txt = encode.texts(model, tokenizer, captions, batch_size, device)

    similarities = protocols.similarities_2x2(
        *(txt[[caption_row[r[c]] for r in rows]] for c in ("caption", "negative_caption")),
        *(img[[image_row[r[c]] for r in rows]] for c in IMAGES))
    table = pd.DataFrame({
        "category": [f"{r['type']}_{r['subtype']}" for r in rows], "sample_id": [str(r["index"]) for r in rows],
        **{k: v.tolist() for k, v in _verdicts(protocols.group_2x2(*similarities)).items()},
        # the float32 similarities as exact python floats: compared again as float64, they order the same way
        **{f"c{j}_i{k}": s.tolist() for (j, k), s in zip(protocols.PAIRS, similarities)},
        **{c: [r[c] for r in rows] for c in ("type", "subtype")},
        "caption_0": [r["caption"] for r in rows], "caption_1": [r["negative_caption"] for r in rows],
        "image_0": [r["image_name"] for r in rows], "image_1": [r["negative_image_name"] for r in rows]},
        columns=COLUMNS)
    per_category = {category: {**_scores(part), "rows": len(part)}
                    for category, part in table.groupby("category", sort=False)}
    details = {"rows": len(rows), "skipped": skipped,
               "retrievals": {k: encode.mean32(table[k]) * 100 for k in RETRIEVALS}, "per_category": per_category}
    return metrics_from_samples(table), details, table


def _scores(rows: pd.DataFrame, prefix: str = "") -> dict:
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    return {f"{prefix}{k}": encode.mean32(rows[f"{k}_correct"]) * 100 for k in SCORES}


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"i2t", "t2i", "group"}: the share (%) of rows whose I2T / T2I / group score is right, over every row; then
    {"{type}_i2t", "{type}_t2i", "{type}_group"} over the rows of each type present, in the order replace, swap, add
    (a type found nowhere else comes after them).

    Columns, one row per dataset row: category ("{type}_{subtype}", e.g. swap_att), sample_id (the row's position
    over the parquet files in name order, from 0), correct (bool: group_correct), c0_i0, c0_i1, c1_i0, c1_i1
    (s(caption_j, image_k), the cosine similarity; caption 0 / 1: `caption` / `negative_caption`, image 0 / 1:
    `image` / `negative_image`), ipos_2t (s(c0, i0) > s(c1, i0)), ineg_2t (s(c1, i1) > s(c0, i1)), tpos_2i (s(c0, i0)
    > s(c0, i1)), tneg_2i (s(c1, i1) > s(c1, i0)), i2t_correct (ipos_2t and ineg_2t), t2i_correct (tpos_2i and
    tneg_2i), group_correct (both), all strict: a tie is wrong; type, subtype (the dataset's); caption_0, caption_1
    (the two captions), image_0, image_1 (the images' names: the Image struct's file name, or "{sample_id}/image" and
    "{sample_id}/negative_image" where it has none)."""
    metrics = _scores(samples)
    present = list(dict.fromkeys(samples["type"]))
    for kind in [t for t in TYPES if t in present] + [t for t in present if t not in TYPES]:
        metrics.update(_scores(samples[samples["type"] == kind], f"{kind}_"))
    return metrics


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table (`COLUMNS`) scored by a text-only `scorer` (tripletclip.blind): `protocols.blind_2x2`, the
    verdicts recomputed with BiVLC's strict comparisons. Its T2I score, and with it the group score, is wrong on
    every row, and so is its I2T (of ipos_2t and ineg_2t exactly one holds, none on a tie: the caption the scorer
    prefers). `model` is unused: no tie is settled by a coin here, BiVLC counts a tie wrong."""
    return protocols.blind_2x2(items, scorer, _verdicts)
