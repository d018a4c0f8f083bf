"""Winoground (Thrush et al., CVPR 2022): text, image and group scores over pairs of images and captions.

Protocol (the paper, §3): with s(c, i) the image-caption similarity, an example's text score is right iff
s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1); its image score iff s(c0, i0) > s(c0, i1) and
s(c1, i1) > s(c1, i0); its group score iff both. A tie is wrong. (`protocols.group_2x2`, which Cola and BiVLC
share.)

Layouts of facebook/winoground on the Hugging Face hub; `examples` names either, `evaluate` tells them apart by
content (parquet files begin with `PAR1`), not by name:
- today's: `data/test-*.parquet`, the columns of the dataset's features (its loading script `winoground.py`):
  id int32, image_0 and image_1 the `datasets` Image feature, stored as struct<bytes: binary, path: string> with
  the PNG inside, caption_0, caption_1, tag, secondary_tag, collapsed_tag (strings), num_main_preds int32.
  `examples` is a parquet file, a glob of them, or a folder holding `data/test-*.parquet` (the downloaded
  repository) or `test-*.parquet`; `image_dir` is not read.
- the original: `data/examples.jsonl`, one {"id", "caption_0", "caption_1", "image_0", "image_1", "tag",
  "secondary_tag", "num_main_preds", "collapsed_tag"} per line, image_i a name, and `data/images.zip` unpacked to
  `{name}.png` files in `image_dir` (default: the `images/` folder beside the JSONL). `examples` is that file, or a
  folder holding `data/examples.jsonl` or `examples.jsonl`.
The same examples and images give the same scores in either layout (tested).
"""

from __future__ import annotations

import io as bytes_io
import json
import logging
from pathlib import Path
from typing import Callable

import pandas as pd

from .. import io, shapes, world
from . import encode, protocols

log = logging.getLogger(__name__)

SWAPS = ("swap_att", "swap_obj")
FIELDS = ("caption_0", "caption_1", "image_0", "image_1")  # what the protocol reads; the other columns are optional
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "text_correct", "image_correct",
           "group_correct", "caption_0", "caption_1", "image_0", "image_1")
FOLDER_LAYOUTS = ("data/test-*.parquet", "test-*.parquet", "data/examples.jsonl", "examples.jsonl")  # first found


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Pairs of test-split scenes whose captions hold the same words: the second swaps the first's attributes or
    objects (tag `swap_att` / `swap_obj`), so only their composition tells them apart."""
    out = Path(out_dir)
    rng = shapes.keyed_rng("winoground", seed)
    examples, scenes = [], {}
    for scene, phrasing in world.test_scenes(world_cfg, seed, "winoground"):
        if len(examples) == options["shapes_examples"]:
            break
        kinds = shapes.applicable_types(scene, SWAPS)
        if not kinds:
            continue
        kind = rng.choice(kinds)
        other = shapes.negative(scene, kind, rng)
        i = len(examples)
        scenes[f"ex_{i}_img_0.png"], scenes[f"ex_{i}_img_1.png"] = scene, other
        examples.append({"id": i, "caption_0": shapes.describe(scene, phrasing),
                         "caption_1": shapes.describe(other, phrasing), "image_0": f"ex_{i}_img_0",
                         "image_1": f"ex_{i}_img_1", "tag": kind})
    # PNG, as Winoground ships them
    world.render_all(out / "images", scenes, world_cfg["image_size"], f"winoground:{seed}", image_format="PNG")
    io.write_jsonl(out / "examples.jsonl", examples)
    return {"examples": "examples.jsonl", "image_dir": "images"}


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def _read_jsonl(path: Path) -> list[dict]:
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")  # only "\n" ends a JSON line
    except UnicodeDecodeError as error:
        raise ValueError(f"Winoground examples: expected examples.jsonl (UTF-8) or a parquet file, {path} is "
                         f"neither ({error})") from None
    examples = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                examples.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"Winoground examples: expected one JSON object per line (examples.jsonl) or a "
                                 f"parquet file; line {number} of {path} is not JSON ({error})") from None
    return examples


def _read_parquet(files: list[Path]) -> list[dict]:
    """Examples whose image_0/image_1 are the embedded PNG bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    examples = []
    for path in files:
        schema = pq.read_schema(path)
        missing = [c for c in FIELDS if c not in schema.names]
        if missing:
            raise ValueError(f"Winoground parquet {path}: no column {missing}; found {schema.names}, expected "
                             f"facebook/winoground's (id, image_0, image_1, caption_0, caption_1, tag, ...)")
        for column in ("image_0", "image_1"):
            kind = schema.field(column).type
            if not (pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0):
                raise ValueError(f"Winoground parquet {path}: column {column} is {kind}; expected the datasets "
                                 f"Image feature, struct<bytes: binary, path: string>")
        for row in pq.read_table(path).to_pylist():
            for k, column in enumerate(("image_0", "image_1")):
                if not (row[column] or {}).get("bytes"):
                    raise ValueError(f"Winoground parquet {path}: example {row.get('id')} has no bytes in {column}")
                # the name the JSONL layout gives the image: the struct's file name, or Winoground's own naming
                name = row[column].get("path")
                row[f"{column}_name"] = Path(name).stem if name else f"ex_{row.get('id')}_img_{k}"
                row[column] = row[column]["bytes"]
            examples.append(row)
    return examples


def _open_png(png: bytes):
    return encode.open_rgb(bytes_io.BytesIO(png))


def load(root: str, spec: dict) -> tuple[list[dict], str, Callable]:
    """(examples, layout, open_image): each example's image_0/image_1 is a key that `open_image` turns into a PIL
    image (a PNG path in the JSONL layout, the PNG bytes in the parquet layout), equal keys for equal images, and
    image_0_name/image_1_name the image's name as the JSONL gives it (ex_{id}_img_{k}; in the parquet layout, the
    Image struct's file name without .png, or that naming where it has none)."""
    files = encode.example_files(root, spec, "Winoground", FOLDER_LAYOUTS,
                                 "examples.jsonl, a parquet file, a glob of them or the downloaded folder")
    kinds = [_is_parquet(f) for f in files]
    if all(kinds):
        examples, layout, open_image = _read_parquet(files), "parquet", _open_png
        if spec.get("image_dir"):
            log.info("Winoground: image_dir %s is not read, the parquet files hold the images", spec["image_dir"])
    elif len(files) == 1 and not kinds[0]:
        examples, layout = _read_jsonl(files[0]), "jsonl"
        image_dir = (encode.resolve(root, spec["image_dir"]) if spec.get("image_dir")
                     else files[0].parent / "images")
        if not image_dir.is_dir():
            raise FileNotFoundError(f"Winoground images: expected the folder of {{image}}.png files "
                                    f"(data/images.zip unpacked) at {image_dir}, found none; set `image_dir`")
        open_image = encode.open_rgb
    else:
        raise ValueError(f"Winoground examples: expected parquet files or one JSONL file, found "
                         f"{[f.name for f in files]}")
    if not examples:
        raise ValueError(f"Winoground examples: no example in {', '.join(map(str, files))}")
    encode.require_fields(examples, FIELDS, f"Winoground examples ({files[0]})")
    if layout == "jsonl":
        for e in examples:
            e["image_0_name"], e["image_1_name"] = e["image_0"], e["image_1"]
            e["image_0"], e["image_1"] = (image_dir / f"{e['image_0']}.png", image_dir / f"{e['image_1']}.png")
        encode.require_files([e[f"image_{k}"] for e in examples for k in (0, 1)], f"Winoground images in {image_dir}")
    log.info("Winoground: %d examples from %s (%s)", len(examples), ", ".join(map(str, files)), layout)
    return examples, layout, open_image


def image_bytes(spec: dict, root: str = ".", names=None) -> dict[str, bytes]:
    """{name: the encoded image} of the images `names` (the per-sample table's image_0/image_1 values; None: every
    image), from either layout: the bytes inside the parquet files, or the PNG files of the JSONL layout. For the
    error browser (`browse.EmbeddedImages`); raises as `load` does."""
    examples, layout, _ = load(root, spec)
    out = {}
    for e in examples:
        for k in (0, 1):
            name = e[f"image_{k}_name"]
            if (names is None or name in names) and name not in out:
                out[name] = e[f"image_{k}"] if layout == "parquet" else Path(e[f"image_{k}"]).read_bytes()
    return out


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): text, image and group scores (%) over every example (`metrics_from_samples` of
    the table); details {"examples", "layout", "per_tag": {tag: {"text", "image", "group"}}}; the table, one row per
    example in the files' order, columns `COLUMNS`. The same from either layout."""
    examples, layout, open_image = load(root, spec)
    images, image_row = encode.index([e[f"image_{k}"] for e in examples for k in (0, 1)])
    captions, caption_row = encode.index([e[f"caption_{k}"] for e in examples for k in (0, 1)])
    img = encode.images(model, preprocess, images, batch_size, device, load=open_image)
    txt = encode.texts(model, tokenizer, captions, batch_size, device)

    scores = protocols.columns_2x2(txt, img, [[caption_row[e[f"caption_{j}"]] for e in examples] for j in (0, 1)],
                                   [[image_row[e[f"image_{k}"]] for e in examples] for k in (0, 1)])
    table = pd.DataFrame({
        "category": [e.get("tag") or "" for e in examples],
        "sample_id": [str(e["id"]) if e.get("id") is not None else str(i) for i, e in enumerate(examples)],
        "correct": scores["group_correct"], **scores,
        **{f"caption_{k}": [e[f"caption_{k}"] for e in examples] for k in (0, 1)},
        **{f"image_{k}": [e[f"image_{k}_name"] for e in examples] for k in (0, 1)}}, columns=COLUMNS)
    per_tag = {tag: _scores(rows) for tag, rows in table.groupby("category")}  # sorted by tag
    return metrics_from_samples(table), {"examples": len(examples), "layout": layout, "per_tag": per_tag}, table


def _scores(rows: pd.DataFrame) -> dict:
    # float32 means, as the scores were first computed: the same floats
    return {k: encode.mean32(rows[f"{k}_correct"]) * 100 for k in ("text", "image", "group")}


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"text", "image", "group"}: the share (%) of examples whose text / image / group score is right, over every
    row (per tag, the rows of a category: `details["per_tag"]`).

    Columns, one row per example: category (its `tag`, "" where it has none), sample_id (its `id`; its position
    where it has none), correct (bool: group_correct), c0_i0, c0_i1, c1_i0, c1_i1 (s(c_j, i_k), the cosine
    similarity of caption_j and image_k), text_correct / image_correct / group_correct (bool, the paper's §3: see
    the module's docstring; a tie is wrong), caption_0, caption_1, image_0, image_1 (the images' names as
    Winoground gives them, without .png: ex_{id}_img_{k})."""
    return _scores(samples)


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table `items` (columns `COLUMNS`) scored by a text-only scorer (tripletclip.blind):
    `protocols.blind_2x2`, wrong on every example whatever the scorer. `model` is unused: Winoground counts a tie
    wrong, there is none to break by coin."""
    return protocols.blind_2x2(items, scorer)
