"""VisMin (Awal, Ahmadi, Zhang and Agrawal, "VisMin: Visual Minimal-Change Understanding", NeurIPS 2024, arXiv
2407.16772): 2,084 pairs of COCO val2017 images and captions, the second image an edit of the first that changes one
thing, named in the second caption: an object, an attribute, a count or a spatial relation. Scored with Winoground's
text, image and group scores, per category. Real data only: there is no shapes analogue.

Source: the authors' repository rabiulcste/vismin at 29ce2c0 (29ce2c013b936af26233bb9d7c42ea625e05b28e,
2025-03-02): `vismin-bench/README.md`, `vismin-bench/eval.py`, `vismin-bench/metric.py`,
`vismin-bench/solutions/vqa_solution.csv` (the released benchmark's evaluation), `evals/dataset_zoo/config.py`,
`evals/dataset_zoo/dataset.py`, `evals/contrastive_inference.py`, `evals/metrics/itm.py`, `evals/vlm/clip.py` (the
paper's evaluation code) and `index.html` (the project page, with the results table). (The README's badge and
citation give arXiv 2306.08832 and 2401.08832; the paper is 2407.16772.)

Layouts (`data`, the spec, names the folder; `evaluate` tells the layouts apart by the files they hold):
- The release, the hub's dataset mair-lab/vismin-bench (vismin-bench/README.md line 10) downloaded as it is: a
  `datasets` save_to_disk folder, `data/dataset_dict.json` ({"splits": ["test"]}) and `data/test/` holding
  `state.json` (its `_data_files`: the shards in order), `dataset_info.json` and `data-0000k-of-00003.arrow` (Arrow
  IPC streams). `data` may be the repository, its `data/` or `data/test/`. The columns (the hub's
  `data/test/dataset_info.json`, as the hub's web page shows it): id int64, image_0 and image_1 the `datasets` Image
  feature (struct<bytes: binary, path: string>, the encoded image inside), text_0, text_1, text_question_0,
  text_question_1, image_question_0, image_question_1 and category (strings); eval.py lines 14-17 load it with
  `load_from_disk(...)["test"]` and read text_0, text_1, image_0, image_1, category and id (lines 32-34, 55).
  The hub's parquet conversion (`default/test/*.parquet`, the same columns) is read as well; its file names are the
  hub converter's usual ones, not seen here.
- The paper's own layout, which its evaluation code reads (`evals/dataset_zoo/config.py` lines 220-226: one CSV per
  category, `{vismin_dir}/{object,attribute,relation,counting}.csv`, the images in the same folder;
  `evals/dataset_zoo/dataset.py` lines 811-831, class VisMin): each CSV has the columns image_path, caption,
  edited_image_path, edited_caption and edit_id (lines 815-829, read with pandas' defaults); image 0 is
  `original_images/{image_path}` and image 1 `edited_images/{edited_image_path}` under that folder, a leading "/"
  stripped (lines 816-821); caption 0 is `caption`, caption 1 `edited_caption`, the id `edit_id` (lines 824-828).
  `data` is that folder; all four CSVs must be there. This layout is not on the hub (the paths in config.py are
  the authors' cluster's).

What `commons/constants.py` would have settled: config.py line 274 imports VALID_CATEGORY_NAMES from it, and
`get_all_splits("vismin")` (lines 279-281) iterates those names as the CSV layout's categories; the file is not in
the repository (its last commit, "added missing files", adds `commons/logger.py` and `commons/utils.py` only), nor
are the API keys `evals/vlm/model_factory.py` line 4 imports from it, so the paper's `contrastive_inference.py`
does not run as published. The paper code's list and order of categories is unconfirmed: it can hold nothing but
config.py's four keys (another name fails at `DATASET_INFO["vismin"][split]`, contrastive_inference.py line 133),
and the project page reports all four, so this reader reads all four, in config.py's order. The released layout
does not depend on it: its rows carry their category.

Categories: object, attribute, relation, counting (config.py lines 222-225; the hub's `category` values, as
vqa_solution.csv spells them), the page's Object, Attribute, S. Relation and Count. vqa_solution.csv (2,084 rows:
object 579 at lines 2-580, attribute 294 at 581-874, relation 622 at 875-1496, counting 589 at 1497-2085) numbers
each category's items 0 to n - 1 within it: an id is unique within its category only, which is what `sample_id`
promises. That the hub's `id` is the same numbering is inferred from it, not read (the hub's rows were not read
here); this reader asks only that (category, id) be unique.

Protocol (vismin-bench/metric.py lines 6-42, `compute_contrastive_accuracy`; evals/metrics/itm.py lines 10-33, the
paper's code, the same): with s(text_j, image_k) the cosine similarity (eval.py lines 47-50; the paper's code takes
the logits of `evals/vlm/clip.py` line 31, the same order), an item's text score is right iff s(t0, i0) > s(t1, i0)
and s(t1, i1) > s(t0, i1), its image score iff s(t0, i0) > s(t0, i1) and s(t1, i1) > s(t1, i0), its group score iff
both (metric.py lines 15-26), every comparison strict: a tie is wrong (`protocols.group_2x2`). Text 0 and image 0
are the original, text 1 and image 1 the edit (dataset.py lines 824-827), the texts as given (no prompt, no
`format_caption`: eval.py line 32, dataset.py lines 822-830).

Metrics. The authors score each category alone: metric.py returns text, image and group per category, each
`round(100 k / n, 2)` (lines 29-40), and no overall score; eval.py prints those (lines 64-68); the paper's code
likewise scores each category (contrastive_inference.py lines 121-126). The project page's table (index.html lines
390-418) gives T, I, G per category and AVG, "average across columns" (line 393): the mean of the twelve. Its CLIP
(ViT-B/32) row (lines 459-472: 79.62 77.89 67.53 | 72.11 65.99 55.1 | 8.2 4.34 0.48 | 31.24 20.71 10.53 | 41.15) is
k/579, k/294, k/622 and k/589 in every cell (461, 451, 391 | 212, 194, 162 | 51, 27, 3 | 184, 122, 62), the
vqa_solution.csv category sizes, and 41.15 is the mean of the twelve. Here: `{category}_text`, `_image`, `_group`
(unrounded), `avg` (the mean of those twelve, the authors' AVG; over the categories present where some are missing)
and `text`, `image`, `group` over all items pooled (Winoground's overall scores, which the authors do not report).
Headline: `avg` (the authors' number) and `group`.

Submission (vismin-bench/README.md lines 14-32, "Contrastive Models"): "a csv file with five columns: `id`,
`T0_I0`, `T0_I1`, `T1_I0`, `T1_I1`" (line 17; the header at line 20), T{j}_I{k} = similarity(Text_j, Image_k)
(lines 26-29): `write_submission`, one row per item in the table's (the dataset's) order. The ground truth it is
scored against, `solutions/sim_solution.csv` (line 32), is not in the repository, so how an item is matched is
unconfirmed: by `id` alone the four categories' ids collide (vqa_solution.csv), so presumably by position, or by id
and a category column as vqa_solution.csv carries one (`write_submission(..., category=True)` appends it).
"""

from __future__ import annotations

import csv
import hashlib
import io as bytes_io
import logging
from pathlib import Path
from typing import Callable

import pandas as pd

from .. import io
from . import encode, protocols

log = logging.getLogger(__name__)

CATEGORIES = ("object", "attribute", "relation", "counting")  # config.py lines 222-225, in the page's order
SCORES = ("text", "image", "group")
# the hub's columns that the protocol reads (dataset_info.json; eval.py lines 32-34, 55)
HUB_COLUMNS = ("id", "image_0", "text_0", "image_1", "text_1", "category")
HUB_FOLDERS = ("data/test", "test", ".")  # a save_to_disk split folder: in the repository, its data/, or itself
PARQUET_LAYOUTS = ("default/test/*.parquet", "test/*.parquet", "*.parquet")  # the hub's parquet conversion
# the paper's CSV layout (dataset.py lines 815-829) and its image folders (lines 817, 820)
CSV_COLUMNS = ("image_path", "caption", "edited_image_path", "edited_caption", "edit_id")
ORIGINAL, EDITED = "original_images", "edited_images"
SUBMISSION = ("id", "T0_I0", "T0_I1", "T1_I0", "T1_I1")  # vismin-bench/README.md lines 17-21
LAYOUT = ("the hub's mair-lab/vismin-bench downloaded as it is (data/dataset_dict.json; data/test/state.json and "
          "data-*-of-*.arrow with the columns id, image_0, text_0, image_1, text_1, category), its parquet "
          "conversion (default/test/*.parquet), or the paper's CSV layout (object.csv, attribute.csv, relation.csv, "
          "counting.csv with the columns image_path, caption, edited_image_path, edited_caption, edit_id; "
          "original_images/ and edited_images/)")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "text_correct", "image_correct",
           "group_correct", "caption_0", "caption_1", "image_0", "image_1")


def _csv_layout(data: Path) -> list[Path] | None:
    """The four category CSVs, or None where the folder holds none of them; FileNotFoundError for some only."""
    files = [data / f"{c}.csv" for c in CATEGORIES]
    present = [f.is_file() for f in files]
    if not any(present):
        return None
    if not all(present):
        missing = [f.name for f, p in zip(files, present) if not p]
        raise FileNotFoundError(f"VisMin data: {data} holds the paper's CSV layout without {', '.join(missing)}; "
                                f"expected all four of {', '.join(f.name for f in files)} (config.py lines 222-225)")
    return files


def _arrow_files(data: Path) -> list[Path] | None:
    """A save_to_disk split's shards in their order (state.json's `_data_files`; else data-*.arrow sorted), from the
    first of `HUB_FOLDERS` that holds state.json or a shard; None where none does."""
    for sub in HUB_FOLDERS:
        folder = data / sub
        state = folder / "state.json"
        if state.is_file():
            entries = encode.read_json(state, "VisMin hub split state (state.json)")
            files = entries.get("_data_files") if isinstance(entries, dict) else None
            if not files or not all(isinstance(f, dict) and f.get("filename") for f in files):
                raise ValueError(f"VisMin hub split {state}: expected {{\"_data_files\": [{{\"filename\": "
                                 f"\"data-00000-of-00003.arrow\"}}, ...]}} (datasets' save_to_disk), found {entries}")
            if entries.get("_indices_data_files"):
                raise ValueError(f"VisMin hub split {state}: an indices mapping ({entries['_indices_data_files']}) "
                                 f"is not read here; save the dataset again with flatten_indices()")
            paths = [folder / f["filename"] for f in files]
            encode.require_files(paths, f"VisMin hub shards named by {state}")
            return paths
        if folder.is_dir() and (shards := sorted(p for p in folder.glob("data-*.arrow") if p.is_file())):
            return shards
    return None


def _find(data: Path) -> tuple[str, list[Path]]:
    """("csv" | "arrow" | "parquet", the files) of the folder `data`, in the order of `LAYOUT`'s reading."""
    if not data.is_dir():
        raise FileNotFoundError(f"VisMin data: expected {LAYOUT} at {data}, found "
                                f"{'a file' if data.exists() else 'nothing'}")
    if files := _csv_layout(data):
        return "csv", files
    if files := _arrow_files(data):
        return "arrow", files
    for pattern in PARQUET_LAYOUTS:
        if files := sorted(p for p in data.glob(pattern) if p.is_file()):
            return "parquet", files
    found = sorted(p.name for p in data.iterdir())[:10]
    raise FileNotFoundError(f"VisMin data: {data} holds none of the layouts read here; expected {LAYOUT}, found "
                            f"{found or 'nothing'}")


def _read_table(layout: str, files: list[Path]):
    """One pyarrow table of the shards, in order: Arrow IPC streams (save_to_disk; the file format too) memory-mapped,
    so that the encoded images are not copied, or parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in files:
        if layout == "parquet":
            tables.append(pq.read_table(path, memory_map=True))
            continue
        source = pa.memory_map(str(path))
        try:
            magic = source.read(6)
            source.seek(0)
            reader = pa.ipc.open_file(source) if magic == b"ARROW1" else pa.ipc.open_stream(source)
            tables.append(reader.read_all())
        except pa.ArrowInvalid as error:
            raise ValueError(f"VisMin hub shard {path}: not an Arrow IPC file ({error}); expected the shards of "
                             f"datasets' save_to_disk") from None
    try:
        return pa.concat_tables(tables)
    except pa.ArrowInvalid as error:
        raise ValueError(f"VisMin hub shards {', '.join(map(str, files))}: their schemas differ ({error})") from None


def _read_hub(layout: str, files: list[Path]) -> tuple[list[dict], dict]:
    """Examples from the hub's columns, and {image key: its encoded bytes (a pyarrow buffer)}; an image's key is the
    SHA-1 of its bytes, so that equal images are encoded once."""
    import pyarrow as pa

    table = _read_table(layout, files)
    where = f"VisMin {layout} {files[0]}" + (f" (+{len(files) - 1} more)" if len(files) > 1 else "")
    missing = [c for c in HUB_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{where}: no column {missing}; found {table.column_names}, expected the hub's (id, image_0, "
                         f"text_0, image_1, text_1, text_question_0, ..., category)")
    for column in ("image_0", "image_1"):
        kind = table.schema.field(column).type
        if not (pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0):
            raise ValueError(f"{where}: column {column} is {kind}; expected the datasets Image feature, "
                             f"struct<bytes: binary, path: string>")
    rows = table.select(["id", "text_0", "text_1", "category"]).to_pylist()
    buffers, keys = {}, {0: [], 1: []}
    for k in (0, 1):
        for chunk in table.column(f"image_{k}").chunks:
            data = chunk.field("bytes")
            for i in range(len(chunk)):
                if not chunk[i].is_valid or not data[i].is_valid or not data[i].as_buffer().size:
                    row = rows[len(keys[k])]
                    path = chunk[i]["path"].as_py() if chunk[i].is_valid else None
                    raise ValueError(f"{where}: item {row['category']} {row['id']} has no bytes in image_{k} (path "
                                     f"{path!r}); expected the encoded image inside, as the hub's shards hold it")
                buffer = data[i].as_buffer()
                key = hashlib.sha1(buffer).hexdigest()
                buffers.setdefault(key, buffer)
                keys[k].append(key)
    examples = []
    for i, row in enumerate(rows):
        bad = [c for c in ("text_0", "text_1", "category") if not (isinstance(row[c], str) and row[c])]
        if bad or row["id"] is None:
            raise ValueError(f"{where}: row {i} has {', '.join(f'{c}={row[c]!r}' for c in ('id', *bad))}; expected "
                             f"an id and non-empty strings text_0, text_1, category")
        name = f"{row['category']}_{row['id']}_image_"  # the item's images, as the browser names them
        examples.append({"category": row["category"], "sample_id": str(row["id"]), "caption_0": row["text_0"],
                         "caption_1": row["text_1"], "image_0": f"{name}0", "image_1": f"{name}1",
                         "key_0": keys[0][i], "key_1": keys[1][i]})
    return examples, buffers


def _read_csvs(data: Path, files: list[Path]) -> list[dict]:
    """Examples of the paper's CSV layout (dataset.py lines 811-831), category by category in CATEGORIES' order."""
    examples = []
    for path in files:
        # as text: pandas' default parsing would make an edit_id 12.0 beside an empty cell, a caption "NA" missing
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        missing = [c for c in CSV_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"VisMin {path}: no column {missing}; found {list(frame.columns)}, expected the paper's "
                             f"{list(CSV_COLUMNS)} (dataset.py lines 815-829)")
        if frame.empty:
            raise ValueError(f"VisMin {path}: no item")
        for i, row in enumerate(frame[list(CSV_COLUMNS)].itertuples(index=False)):
            row = row._asdict()
            empty = [c for c in CSV_COLUMNS if not row[c]]
            if empty:
                raise ValueError(f"VisMin {path}: row {i + 2} has no {', '.join(empty)}")
            # dataset.py lines 816-821: os.path.join(root, "original_images", x.lstrip("/")), and "edited_images"
            names = [f"{ORIGINAL}/{row['image_path'].lstrip('/')}", f"{EDITED}/{row['edited_image_path'].lstrip('/')}"]
            examples.append({"category": path.stem, "sample_id": row["edit_id"], "caption_0": row["caption"],
                             "caption_1": row["edited_caption"], "image_0": names[0], "image_1": names[1],
                             "key_0": data / names[0], "key_1": data / names[1]})
    encode.require_files(list(dict.fromkeys(e[f"key_{k}"] for e in examples for k in (0, 1))),
                         f"VisMin images in {data} ({ORIGINAL}/{{image_path}}, {EDITED}/{{edited_image_path}})")
    return examples


def load(root: str, spec: dict) -> tuple[list[dict], str, Callable, Callable]:
    """(examples, layout, open_image, read_bytes): each example {"category", "sample_id", "caption_0", "caption_1",
    "image_0", "image_1" (the images' names: in the CSV layout their paths relative to `data`, original_images/... and
    edited_images/...; in the hub's, "{category}_{id}_image_{k}"), "key_0", "key_1" (what `open_image` turns into a
    PIL image and `read_bytes` into the encoded file: a path, or the SHA-1 of the embedded bytes; equal keys for equal
    images)}, in the files' order; layout "arrow", "parquet" or "csv".

    Raises ValueError when the spec names no `data`, a column is missing, an image column is not the Image feature
    or holds no bytes, a text, category or id is empty, there is no item, or an id is given twice in a category;
    FileNotFoundError when the folder, a layout's file (one of the four CSVs, a shard state.json names) or an image
    of the CSV layout is missing, naming the layouts expected and what the folder holds."""
    if not spec.get("data"):
        raise ValueError(f"VisMin: the spec names no `data` (expected {LAYOUT})")
    data = encode.resolve(root, spec["data"])
    layout, files = _find(data)
    if layout == "csv":
        examples, buffers = _read_csvs(data, files), None
    else:
        examples, buffers = _read_hub(layout, files)
    if not examples:
        raise ValueError(f"VisMin {layout} {files[0]}: no item")
    ids = pd.DataFrame([(e["category"], e["sample_id"]) for e in examples], columns=["category", "id"])
    twice = ids[ids.duplicated()]
    if not twice.empty:
        raise ValueError(f"VisMin data {data}: ids are not unique within a category, e.g. {twice['category'].iloc[0]} "
                         f"id {twice['id'].iloc[0]} is given twice")
    if unknown := sorted(set(ids["category"]) - set(CATEGORIES)):
        log.warning("VisMin: categories %s are none of the authors' %s; scored as they are", unknown, CATEGORIES)
    log.info("VisMin: %d items from %s (%s)", len(examples), data, layout)
    if buffers is None:
        return examples, layout, encode.open_rgb, lambda key: Path(key).read_bytes()
    return (examples, layout, lambda key: encode.open_rgb(bytes_io.BytesIO(buffers[key])),
            lambda key: buffers[key].to_pybytes())


def image_bytes(spec: dict, root: str = ".", names=None) -> dict[str, bytes]:
    """{name: the encoded image} of the images `names` (the per-sample table's image_0/image_1 values; None: every
    image): the bytes inside the hub's shards, or the files of the CSV layout. For the error browser
    (`browse.EmbeddedImages`); raises as `load` does."""
    examples, _, _, read_bytes = load(root, spec)
    out = {}
    for e in examples:
        for k in (0, 1):
            name = e[f"image_{k}"]
            if (names is None or name in names) and name not in out:
                out[name] = read_bytes(e[f"key_{k}"])
    return out


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): the text, image and group scores (%) per category, their mean `avg` and the
    pooled three (`metrics_from_samples` of the table); details {"examples", "layout", "per_category": {category:
    {"examples", "text", "image", "group"}}}; the table, one row per item in the files' order, columns `COLUMNS`.
    Each distinct image and caption is encoded once. The same from every layout."""
    examples, layout, open_image, _ = load(root, spec)
    scores = protocols.encode_2x2(model, preprocess, tokenizer, examples, batch_size, device, load=open_image,
                                  image_key="key")
    table = pd.DataFrame({
        "category": [e["category"] for e in examples], "sample_id": [e["sample_id"] for e in examples],
        "correct": scores["group_correct"], **scores,
        **{f"caption_{k}": [e[f"caption_{k}"] for e in examples] for k in (0, 1)},
        **{f"image_{k}": [e[f"image_{k}"] for e in examples] for k in (0, 1)}}, columns=COLUMNS)
    per_category = {c: {"examples": len(rows), **_scores(rows)} for c, rows in _by_category(table)}
    details = {"examples": len(examples), "layout": layout, "per_category": per_category}
    return metrics_from_samples(table), details, table


def _by_category(samples: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The rows of each category: the authors' four in their order, then any other, sorted."""
    groups = dict(tuple(samples.groupby("category", sort=True)))
    order = [c for c in CATEGORIES if c in groups] + [c for c in groups if c not in CATEGORIES]
    return [(c, groups[c]) for c in order]


def _scores(rows: pd.DataFrame) -> dict:
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    return {k: encode.mean32(rows[f"{k}_correct"]) * 100 for k in SCORES}


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"text", "image", "group"}: the share (%) of items whose text / image / group score is right, over every row
    (pooled: not an authors' number); "avg": the mean of the per-category scores below (3 per category: the
    project page's AVG, the mean of its twelve columns); then "{category}_text", "{category}_image",
    "{category}_group" over each category's rows (vismin-bench/metric.py, unrounded), object, attribute, relation,
    counting first.

    Columns, one row per item: category (object, attribute, relation or counting: the hub's `category`, or the CSV
    the item comes from), sample_id (its `id` / `edit_id`, unique within its category), correct (bool:
    group_correct), c0_i0, c0_i1, c1_i0, c1_i1 (s(text_j, image_k), the cosine similarity: the submission's T0_I0,
    T0_I1, T1_I0, T1_I1; 0 the original, 1 the edit), text_correct (s(t0, i0) > s(t1, i0) and s(t1, i1) > s(t0, i1)),
    image_correct (s(t0, i0) > s(t0, i1) and s(t1, i1) > s(t1, i0)), group_correct (both), all strict: a tie is
    wrong; caption_0, caption_1 (text_0 / caption, text_1 / edited_caption); image_0, image_1 (the images' names:
    "{category}_{id}_image_{k}" in the hub's layout, embedded; original_images/{image_path} and
    edited_images/{edited_image_path}, relative to `data`, in the CSV layout)."""
    per = [(c, _scores(rows)) for c, rows in _by_category(samples)]
    metrics = {**_scores(samples), "avg": encode.mean32([v for _, s in per for v in s.values()])}
    for category, scores in per:
        metrics.update({f"{category}_{k}": v for k, v in scores.items()})
    return metrics


def write_submission(samples: pd.DataFrame, path: str | Path, category: bool = False) -> Path:
    """Write the contrastive submission file (vismin-bench/README.md lines 14-30) of a per-sample table `samples`
    (`evaluate`'s, columns `COLUMNS`) to `path`, atomically: UTF-8 CSV, the header `id,T0_I0,T0_I1,T1_I0,T1_I1`,
    then one row per item in the table's order, id its sample_id and T{j}_I{k} its c{j}_i{k} (the cosine similarity,
    written exactly: `float(text)` gives the value back). category=True appends a sixth column, `category`, as the
    ground truth vqa_solution.csv carries one. Returns the path.

    ValueError when a column is missing or the table is empty. A warning, not an error, where ids repeat across
    categories and no category column is written (as the released ids do): the file is then matched by position."""
    needed = ["sample_id", "c0_i0", "c0_i1", "c1_i0", "c1_i1"] + (["category"] if category else [])
    missing = [c for c in needed if c not in samples.columns]
    if missing:
        raise ValueError(f"VisMin submission: the table lacks the column(s) {', '.join(missing)}; expected "
                         f"evaluate's table ({', '.join(COLUMNS)})")
    if samples.empty:
        raise ValueError("VisMin submission: the table has no row")
    if not category and samples["sample_id"].astype(str).duplicated().any():
        log.warning("VisMin submission %s: ids repeat across categories; without a category column the file is "
                    "matched by row order", path)
    header = list(SUBMISSION) + (["category"] if category else [])
    with io.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            for row in samples[needed].itertuples(index=False):
                # repr: the shortest text that reads back as the same float
                writer.writerow([str(row[0]), *(repr(float(v)) for v in row[1:5]), *row[5:]])
    return Path(path)


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table `items` (columns `COLUMNS`) scored by a text-only scorer (tripletclip.blind):
    `protocols.blind_2x2`, wrong on every item whatever the scorer (each caption ties with itself across the two
    images). `model` is unused: a tie is wrong here (metric.py's comparisons are strict), none is broken by coin."""
    return protocols.blind_2x2(items, scorer)

