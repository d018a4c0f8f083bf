"""ColorSwap (Burapacheep, Gaur, Bhatia and Thrush, Findings of ACL 2024, arXiv 2402.04492): pairs of images and
captions whose colour words are swapped between two objects, scored with Winoground's text, image and group scores.

Layout (the authors' repository, Top34051/colorswap at 4f2c9e4, 2024-02-06; its README, "Usage", lines 7-24): the
download unpacks into one folder, the repository's `data/`, holding `train.json` and `test.json` and the images of
`images.zip`. Each JSON file is a list of {"id", "caption_1", "caption_2", "image_1", "image_2", "image_source",
"caption_source"}; `image_k` is a path relative to that folder, "images/img_{id}_{k}.png" (README lines 11-23).
caption_1 is true of image_1 and caption_2 of image_2; the two captions hold the same words, the colour words
exchanged between the objects they modify (README line 3). `data` (the spec) is that folder; `split` which of
its files (default "test"). An image path is read relative to `data` (an absolute one as it is), and the per-sample
table gives it as written, so that `data` is the browser's image root.

The README names 2,000 image-caption pairs in 1,000 examples (line 3), not the split sizes. The test split holds 300
examples: the authors' VLM responses on it, `vlm_results/*-colorswap.json`, are 300 examples each (ids 9 to 989, no
error entry), and every colorswap:: score of vl_compo's `individual_results.csv` (ytaek-oh/vl_compo@43c479b, columns
8-10, 606 values) is a multiple of 1/3 %, i.e. k/300; its ViT-B-32 openai row (line 75) reads text 35.67, image 15.0,
group 12.0, the abstract's "CLIP ... 12%" on the main ITM metric.

Hugging Face copy (`stanfordnlp/colorswap`, README lines 26-34): gated; its parquet files' names and columns could not
be read here, so that layout is not read: download the JSON layout (README line 9) or write the hub's rows out as it.

Protocol for image-text matching models (the paper, which follows Winoground's schema; the authors' ITM code is a
Colab notebook, README line 40, not in the repository): with s(c, i) the image-caption similarity, caption j of
image j, an example's text score is right iff s(c1, i1) > s(c2, i1) and s(c2, i2) > s(c1, i2), its image score iff
s(c1, i1) > s(c1, i2) and s(c2, i2) > s(c2, i1), its group score iff both (Thrush et al. 2022, §3;
`protocols.group_2x2`); a tie is wrong. Their VLM scoring (`vlm_eval.py` lines 80-166) makes the same text / image /
group triple of two choices per example (lines 118-121, 154-157, 159). The table numbers the pair from 0, as every
2x2 table here does: caption_0 / image_0 are the authors' caption_1 / image_1.

Categories: each example's `image_source` (the README's example: "midjourney"), the generator its images came from,
"unknown" where an entry has none; the metrics give text, image and group per source beside the overall three.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path, PurePosixPath

import pandas as pd

from .. import io, shapes, world
from . import encode, protocols

log = logging.getLogger(__name__)

SPLITS = ("test", "train")  # {split}.json in the data folder (README line 9)
FIELDS = ("caption_1", "caption_2", "image_1", "image_2")  # what the protocol reads
SCORES = ("text", "image", "group")
UNKNOWN_SOURCE = "unknown"
SHAPES_SOURCE = "shapes"  # the analogue's image_source and caption_source
LAYOUT = ("the authors' data/ folder: {split}.json (a JSON list of {id, caption_1, caption_2, image_1, image_2, "
          "image_source, caption_source}) and images/ (images.zip unpacked)")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "text_correct", "image_correct",
           "group_correct", "caption_0", "caption_1", "image_0", "image_1")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """ColorSwap's swap in the shapes world: `options["shapes_examples"]` test-split scenes of two objects of two
    colours (stream "colorswap"), each with the same scene but for the colours, exchanged between the two objects.
    The two captions are the one phrasing of either scene: the same words, the colour words swapped. Both images of
    an example are drawn with one layout seed, so that they differ in the two objects' colours alone.

    Written in the authors' layout: `test.json` ({"id", "caption_1", "caption_2", "image_1": "images/img_{id}_1.png",
    "image_2", "image_source": "shapes", "caption_source": "shapes"}) and `images/` (PNG, as theirs); returns the spec
    {"data": ".", "split": "test"}."""
    n = options["shapes_examples"]
    out = Path(out_dir)
    examples, pairs = [], []
    for tries, (scene, phrasing) in enumerate(world.test_scenes(world_cfg, seed, "colorswap")):
        if len(examples) == n:
            break
        if tries >= 100 * n + 1000:
            raise ValueError(f"ColorSwap shapes: found {len(examples)} two-colour scenes of the {n} asked "
                             f"(shapes_examples) in {tries} test scenes")
        if len(scene.objects) != 2 or scene.objects[0].colour == scene.objects[1].colour:
            continue
        a, b = scene.objects
        swapped = shapes.Scene((dataclasses.replace(a, colour=b.colour), dataclasses.replace(b, colour=a.colour)),
                               scene.relation)
        i = len(examples)
        examples.append({"id": i, "caption_1": shapes.describe(scene, phrasing),
                         "caption_2": shapes.describe(swapped, phrasing), "image_1": f"images/img_{i}_1.png",
                         "image_2": f"images/img_{i}_2.png", "image_source": SHAPES_SOURCE,
                         "caption_source": SHAPES_SOURCE})
        pairs.append((scene, swapped))
    for i, pair in enumerate(pairs):
        for k, scene in enumerate(pair, 1):
            with io.atomic_path(out / "images" / f"img_{i}_{k}.png") as tmp:
                shapes.render(scene, world_cfg["image_size"], seed=f"colorswap:{seed}:{i}").save(tmp, format="PNG")
    io.write_json(out / "test.json", examples)
    return {"data": ".", "split": "test"}


def _image_path(data: Path, written: str) -> Path:
    path = PurePosixPath(written.replace("\\", "/"))
    return Path(path) if path.is_absolute() else data / path


def load(root: str, spec: dict) -> tuple[list[dict], Path, Path]:
    """(examples, data folder, file): each example {"sample_id" (its "id" as a string; its position where it has
    none), "category" (its image_source), "caption_0", "caption_1", "image_0", "image_1" (the paths as written),
    "path_0", "path_1" (where they are)}, in the file's order.

    Raises ValueError when the spec names no `data` or another split, when the file is not a JSON list of entries
    holding caption_1, caption_2, image_1 and image_2 (strings), or is empty, or two entries share an id;
    FileNotFoundError when the folder, the split's file or any image is missing (naming the layout expected)."""
    if not spec.get("data"):
        raise ValueError(f"ColorSwap: the spec names no `data` (expected {LAYOUT})")
    split = spec.get("split") or "test"
    if split not in SPLITS:
        raise ValueError(f"ColorSwap: split {split!r} is none of {SPLITS} (the authors' train.json and test.json)")
    data = encode.resolve(root, spec["data"])
    if not data.is_dir():
        raise FileNotFoundError(f"ColorSwap data: expected {LAYOUT} at {data}, found "
                                f"{'a file' if data.exists() else 'nothing'}")
    path = data / f"{split}.json"
    if not path.is_file():
        hint = (f"; {data / 'data' / path.name} exists: set `data` to the repository's data/ folder"
                if (data / "data" / path.name).is_file() else "")
        found = sorted(p.name for p in data.iterdir())[:10]
        raise FileNotFoundError(f"ColorSwap data: {data} holds no {path.name}; expected {LAYOUT}, found "
                                f"{found or 'nothing'}{hint}")
    entries = encode.read_json(path, f"ColorSwap {split} examples ({path.name})")
    what = f"ColorSwap examples {path}"
    if not isinstance(entries, list):
        raise ValueError(f"{what}: expected a JSON list of {{id, caption_1, caption_2, image_1, image_2, "
                         f"image_source, caption_source}}, found a {type(entries).__name__}")
    if not entries:
        raise ValueError(f"{what}: no example")
    encode.require_fields(entries, FIELDS, what)
    examples = []
    for i, e in enumerate(entries):
        if not all(isinstance(e[f], str) and e[f] for f in FIELDS):
            raise ValueError(f"{what}: entry {i} has {', '.join(f'{f}={e[f]!r}' for f in FIELDS)}; expected "
                             f"non-empty strings")
        examples.append({
            "sample_id": str(e["id"]) if e.get("id") is not None else str(i),
            "category": str(e.get("image_source") or UNKNOWN_SOURCE),
            **{f"caption_{k}": e[f"caption_{k + 1}"] for k in (0, 1)},
            **{f"image_{k}": e[f"image_{k + 1}"] for k in (0, 1)},
            **{f"path_{k}": _image_path(data, e[f"image_{k + 1}"]) for k in (0, 1)}})
    ids = pd.Series([e["sample_id"] for e in examples])
    if ids.duplicated().any():
        raise ValueError(f"{what}: ids are not unique, e.g. id {ids[ids.duplicated()].iloc[0]} is given twice")
    encode.require_files(list(dict.fromkeys(e[f"path_{k}"] for e in examples for k in (0, 1))),
                         f"ColorSwap images in {data} (image_1 / image_2, e.g. images/img_0_1.png)")
    log.info("ColorSwap: %d %s examples from %s", len(examples), split, path)
    return examples, data, path


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): the text, image and group scores (%) over every example, and per image source
    (`metrics_from_samples` of the table); details {"examples", "split", "per_source": {source: {"text", "image",
    "group"}}}; the table, one row per example in the file's order, columns `COLUMNS`. Each distinct image and
    caption is encoded once."""
    examples, _, _ = load(root, spec)
    scores = protocols.encode_2x2(model, preprocess, tokenizer, examples, batch_size, device)
    table = pd.DataFrame({
        "category": [e["category"] for e in examples], "sample_id": [e["sample_id"] for e in examples],
        "correct": scores["group_correct"], **scores,
        **{f"caption_{k}": [e[f"caption_{k}"] for e in examples] for k in (0, 1)},
        **{f"image_{k}": [e[f"image_{k}"] for e in examples] for k in (0, 1)}}, columns=COLUMNS)
    per_source = {source: _scores(rows) for source, rows in table.groupby("category")}  # sorted by source
    details = {"examples": len(examples), "split": spec.get("split") or "test", "per_source": per_source}
    return metrics_from_samples(table), details, table


def _scores(rows: pd.DataFrame) -> dict:
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    return {k: encode.mean32(rows[f"{k}_correct"]) * 100 for k in SCORES}


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"text", "image", "group"}: the share (%) of examples whose text / image / group score is right, over every
    row; then "{source}_text", "{source}_image", "{source}_group" over the rows of each category (image source), in
    sorted order.

    Columns, one row per example: category (its image_source; "unknown" where it has none), sample_id (its `id`;
    its position in the list where it has none), correct (bool: group_correct), c0_i0, c0_i1, c1_i0, c1_i1
    (s(caption_j, image_k), the cosine similarity; caption_0 / image_0 are the authors' caption_1 / image_1),
    text_correct (s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1)), image_correct (s(c0, i0) > s(c0, i1) and
    s(c1, i1) > s(c1, i0)), group_correct (both), all strict: a tie is wrong; caption_0, caption_1, image_0, image_1
    (the image paths as the JSON gives them, relative to the data folder: images/img_{id}_{k}.png)."""
    metrics = _scores(samples)
    for source, rows in samples.groupby("category"):
        metrics.update({f"{source}_{k}": v for k, v in _scores(rows).items()})
    return metrics


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table `items` (columns `COLUMNS`) scored by a text-only scorer (tripletclip.blind):
    `protocols.blind_2x2`, wrong on every example whatever the scorer (each caption ties with itself across the two
    images). `model` is unused: a tie is wrong here, there is none to break by coin."""
    return protocols.blind_2x2(items, scorer)
