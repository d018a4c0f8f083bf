"""CREPE (Ma, Hong, Gul, Gandhi, Gao and Krishna, CVPR 2023, arXiv 2212.07796): image-to-text retrieval of a Visual
Genome region's caption among its hard negatives, for productivity (captions of complexity 4 to 12 against atomic,
swapping and negation foils) and systematicity (seen and unseen compounds of a pretraining set). Real data only: there
is no shapes analogue.

Source read: RAIVNLab/CREPE at 1fa81c425f442396fe304f170c8eb6dc0747c814 (2023-04-27; the data zips were added in
48c6bae), cited below by file and line:

Layout. The repository's `data/` holds `prod_hard_negatives.zip` and `syst_hard_negatives.zip`; unzipped, they are the
folders the scripts' `--input-dir` names (README line 29, `<path_to_crepe/crepe/syst_hard_negatives>`;
`crepe_params.py` line 6, default ".../crepe/prod_hard_negatives"). The spec's `data` is the folder holding both:

- `prod_hard_negatives/{type}/prod_vg_hard_negs_{type}_complexity_{c}.csv`, type atom, swap or negate, c = 4 .. 12
  (`crepe_compo_eval_open_clip.py` lines 153-157 and 32; `crepe_prod_eval_clip.py` lines 137-140), the foils in
  column `hard_negs` (line 154);
- `syst_hard_negatives/syst_vg_hard_negs_{split}_in_{train_dataset}.csv`, split seen_compounds or unseen_compounds
  (line 31), train_dataset cc12m, yfcc or laion (lines 15-29; `crepe_params.py` line 16, default cc12m), the foils
  of negative type atom, comp or combined (atom + comp, README line 32) in column `valid_hard_negs_{type}` (lines
  145-151): one file, three columns, three retrieval sets per row.

Every CSV is read with `pd.read_csv` (`crepe_eval_utils.py` line 21); a row's image is its `image_id` column (line 35;
`crepe_params.py` line 10), its text `caption` (line 36; `crepe_params.py` line 11), its foils the foil column's
Python list literal, parsed with `ast.literal_eval` (line 34), and the region `x`, `y`, `width`, `height` (lines
25-29), which every script crops (`crepe_params.py` line 13, crop True; `gather_params` line 165 sets it again). The
image is Visual Genome's `{image_id}.jpg`, looked for in VG_100K/ and then VG_100K_2/ (`get_image_by_id`, lines
42-48; the README, lines 15-16, says to point `vg_image_paths` at one's own copy). The spec's `image_dir` is the
folder holding those two; an image found in neither is looked for in `image_dir` itself (a flat copy), after the
authors' two.

Protocol (`crepe_compo_eval_open_clip.py`, the open_clip models' script): each row on its own (batch_size 1, line
167): the image opened as RGB (line 47 of `crepe_eval_utils.py`), cropped by `TF.crop(image, y, x, height, width)`
(line 46; torchvision's crop, which this module calls too: the box (x, y, x + width, y + height), zero-padded where
it leaves the image), then the model's eval transform (line 47); the texts `[str(caption)] + list(hard_negs)`
(line 49): the caption first. Both L2-normalized (lines 109-114), `logits = image @ texts.T`, and the caption's rank
is its position in `torch.argsort(logits, descending=True)` (`get_one2many_rank`, `crepe_eval_utils.py` lines
60-65): the number of foils scoring strictly above it, a tie going to the caption: the argsort runs on the CPU
(`.cpu()`, line 61), where torch keeps equal scores in index order (checked with torch 2.14 here; the authors'
torch version is not recorded, and for sets of 16 or fewer libstdc++'s std::sort is an insertion sort, which keeps
that order too), so index 0, the caption, comes first among equals: `protocols.choose` with ties "true". Distinct
texts hardly ever tie; a foil written exactly as its caption does, and counts right. Per file,
`get_one2many_metrics` (lines 67-76) gives R@1, R@3, R@5, R@10 (`np.mean(rank < k)`), the mean rank (+1) and the
floor of the median rank (+1); the results are one JSON per model and negative type, {split or complexity: those
metrics} (lines 198-216). The other scripts (`crepe_prod_eval_{clip,cyclip,flava,albef}.py`) read and crop alike
(e.g. clip lines 36-42) and rank the same way per image (clip lines 104-109). A row whose foil list is empty has a
retrieval set of one, rank 0, and counts as retrieved, as there.

Metrics (`metrics_from_samples`): R@1 (%) per file, the category `{type}_{complexity}` (productivity, e.g. atom_4)
or `{split}_{type}` (systematicity, e.g. unseen_compounds_comp): the authors' per-split numbers. Then, per
productivity negative type, R@1 pooled over its complexities (`atom`, `swap`, `negate`: correct rows / rows of the
nine files): what vl_compo reports (Oh et al., CVPRW 2024, arXiv 2406.09388; ytaek-oh/vl_compo@43c479b,
`individual_results.csv` columns crepe::atom, crepe::swap, crepe::negate: every value over its 202 rows is an exact
multiple of 100/17698, 100/7405 and 100/17303 respectively, and of no smaller denominator, i.e. one pooled accuracy
over 17,698 / 7,405 / 17,303 rows; the paper's abstract counts 17K productivity pairs); and `avg`, their mean,
vl_compo's `crepe` in `results.csv` (its DAC-SAM row: 63.442 = the mean of 57.651, 46.644 and 86.031). The headline
is `atom`, `swap`, `negate` and `avg`: comparable with vl_compo's published numbers, each over every complexity.
vl_compo's own code is not public; the pooling is read from its numbers only. The other recalls and ranks per file
are `details`.

Systematicity is evaluated only where the spec asks for it (`compo_types`): the README (line 35) restricts it to
models pretrained on CC12M, YFCC15M or LAION400M, the split named by `train_dataset`.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torchvision.transforms import functional as TF

from . import encode, protocols

PROD_DIR, SYST_DIR = "prod_hard_negatives", "syst_hard_negatives"  # the two zips of the repository's data/, unzipped
COMPO_TYPES = ("productivity", "systematicity")  # README line 32
PROD_TYPES = ("atom", "swap", "negate")  # README line 32; crepe_compo_eval_open_clip.py line 155
COMPLEXITIES = tuple(range(4, 13))  # crepe_compo_eval_open_clip.py line 32
SYST_TYPES = ("atom", "comp", "combined")  # line 146
SYST_SPLITS = ("seen_compounds", "unseen_compounds")  # line 31
TRAIN_DATASETS = ("cc12m", "yfcc", "laion")  # DATA2MODEL's keys, lines 15-29
DEFAULT_TRAIN_DATASET = "cc12m"  # crepe_params.py line 16
PROD_COLUMN = "hard_negs"  # line 154
FIELDS = ("image_id", "x", "y", "width", "height", "caption")  # crepe_eval_utils.py lines 25-36
IMAGE_SUBFOLDERS = ("VG_100K", "VG_100K_2", "")  # get_image_by_id's two folders, in its order; then a flat copy
RECALL_AT = (1, 3, 5, 10)  # get_one2many_metrics, crepe_eval_utils.py line 73
LAYOUT = (f"the authors' data/ folder with its two zips unpacked: {PROD_DIR}/{{atom,swap,negate}}/"
          f"prod_vg_hard_negs_{{type}}_complexity_{{4..12}}.csv (productivity) and {SYST_DIR}/"
          f"syst_vg_hard_negs_{{seen,unseen}}_compounds_in_{{cc12m,yfcc,laion}}.csv (systematicity), each CSV with "
          f"the columns {', '.join(FIELDS)} and the foils ({PROD_COLUMN}; valid_hard_negs_{{atom,comp,combined}})")
IMAGE_LAYOUT = "Visual Genome's {image_id}.jpg in VG_100K/ or VG_100K_2/ (or flat)"
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "caption",
           "negative_caption", "compo", "negative_type", "split", "image_id", "x", "y", "width", "height",
           "scores_negative", "negative_captions")


class Part(NamedTuple):
    """One retrieval set of the authors': a file and its foil column, one JSON entry of their output."""
    category: str  # {type}_{complexity} (productivity) or {split}_{type} (systematicity)
    compo: str  # productivity or systematicity
    negative_type: str  # atom, swap, negate; atom, comp, combined
    split: str  # the authors' split: the complexity ("4" .. "12") or seen_compounds / unseen_compounds
    file: str  # the CSV, relative to the data folder (posix)
    column: str  # the foils' column


class Case(NamedTuple):
    """One row of a CSV."""
    sample_id: str  # the row's index in the CSV, from 0
    image_id: int
    path: Path  # the Visual Genome image
    image: str  # its path inside `image_dir` (posix): VG_100K/1.jpg
    box: tuple  # (x, y, width, height) as the CSV gives them
    caption: str
    negatives: list  # the foils, in the CSV's order

    @property
    def item(self) -> tuple:
        """What `encode.images` encodes: (image file, x, y, width, height), one per distinct region."""
        return (str(self.path), *self.box)

    @property
    def texts(self) -> list:
        """The retrieval set, the caption first (crepe_compo_eval_open_clip.py line 49)."""
        return [self.caption] + self.negatives


def prod_file(negative_type: str, complexity: int) -> str:
    """crepe_compo_eval_open_clip.py lines 156-157: {input_dir}/{type}/prod_vg_hard_negs_{type}_complexity_{c}.csv."""
    return f"{PROD_DIR}/{negative_type}/prod_vg_hard_negs_{negative_type}_complexity_{complexity}.csv"


def syst_file(split: str, train_dataset: str) -> str:
    """crepe_compo_eval_open_clip.py line 151: {input_dir}/syst_vg_hard_negs_{split}_in_{train_dataset}.csv."""
    return f"{SYST_DIR}/syst_vg_hard_negs_{split}_in_{train_dataset}.csv"


def _choices(spec: dict, key: str, allowed: tuple, default: tuple) -> list:
    """spec[key] (a list of some of `allowed`, default `default`); ValueError naming the allowed ones."""
    values = spec.get(key)
    values = list(default) if values is None else list(values)
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ValueError(f"CREPE: `{key}` {values!r} must be a non-empty list of some of "
                         f"{', '.join(map(str, allowed))}" + (f" ({', '.join(map(repr, unknown))} is not)"
                                                               if unknown else ""))
    return values


def parts(spec: dict) -> list[Part]:
    """The retrieval sets a spec asks for, in order: productivity's per negative type (`hard_neg_types`, default
    atom, swap, negate), per complexity (`complexities`, default 4 .. 12), as the authors loop (lines 198-200);
    then, if `compo_types` names systematicity, per split, per negative type (`syst_hard_neg_types`, default atom,
    comp, combined), of the `train_dataset` (default cc12m) files. ValueError for an unknown value."""
    compo_types = _choices(spec, "compo_types", COMPO_TYPES, ("productivity",))
    out = []
    if "productivity" in compo_types:
        for negative_type in _choices(spec, "hard_neg_types", PROD_TYPES, PROD_TYPES):
            for complexity in _choices(spec, "complexities", COMPLEXITIES, COMPLEXITIES):
                out.append(Part(f"{negative_type}_{complexity}", "productivity", negative_type, str(complexity),
                                prod_file(negative_type, complexity), PROD_COLUMN))
    if "systematicity" in compo_types:
        train_dataset = spec.get("train_dataset") or DEFAULT_TRAIN_DATASET
        if train_dataset not in TRAIN_DATASETS:
            raise ValueError(f"CREPE: `train_dataset` {train_dataset!r} is none of {', '.join(TRAIN_DATASETS)} "
                             f"(the authors' systematicity splits)")
        for split in SYST_SPLITS:
            for negative_type in _choices(spec, "syst_hard_neg_types", SYST_TYPES, SYST_TYPES):
                out.append(Part(f"{split}_{negative_type}", "systematicity", negative_type, split,
                                syst_file(split, train_dataset), f"valid_hard_negs_{negative_type}"))
    return out


# every category a table may hold, and what it is
CATEGORIES = {p.category: p for p in parts({"compo_types": list(COMPO_TYPES)})}


# ---------------------------------------------------------------------------------------------------------------
# Reading the authors' files


def _read_csv(path: Path, columns: list[str], what: str) -> pd.DataFrame:
    """The CSV at `path` as the authors read it (`pd.read_csv`, crepe_eval_utils.py line 21), as UTF-8; ValueError
    when it is not CSV or lacks any of `columns`."""
    try:
        frame = pd.read_csv(path, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{what}: expected a UTF-8 CSV, {path} is not one ({error})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: {path} lacks the column(s) {missing}; expected the authors' columns "
                         f"{', '.join(columns)} (found {list(frame.columns)})"[:800])
    if frame.empty:
        raise ValueError(f"{what}: {path} holds no row")
    return frame


def _foils(value, what: str, row: int, column: str) -> list[str]:
    """A row's foils: the Python list literal `ast.literal_eval` reads (crepe_eval_utils.py line 34), every item a
    caption. ValueError naming the row otherwise (where the authors' code would fail or tokenize a non-string)."""
    try:
        parsed = ast.literal_eval(value) if isinstance(value, str) else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        parsed = None
    if not isinstance(parsed, (list, tuple)) or not all(isinstance(c, str) for c in parsed):
        raise ValueError(f"{what}: row {row}'s {column} is not a Python list of captions, as the authors' "
                         f"ast.literal_eval reads it: {value!r}"[:500])
    return list(parsed)


def _image_id(value, what: str, row: int) -> int:
    """A Visual Genome image id (an integer: the file is {id}.jpg); ValueError otherwise."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"{what}: row {row}'s image_id {value!r} is not a Visual Genome image id (an integer)")


def _box(values: list, what: str, row: int) -> tuple:
    """(x, y, width, height) as the CSV gives them (what `TF.crop` receives, line 46); ValueError unless numbers with
    a positive width and height (an empty crop has nothing to encode)."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values) or (
            values[2] <= 0 or values[3] <= 0):
        raise ValueError(f"{what}: row {row}'s region (x, y, width, height) = {tuple(values)} is not four numbers "
                         f"with a positive width and height")
    return tuple(values)


def _locate(image_dir: Path, ids: list[int]) -> dict[int, tuple[Path, str]]:
    """{image id: (its file, its path inside `image_dir`)}: the first of IMAGE_SUBFOLDERS holding `{id}.jpg`
    (get_image_by_id, crepe_eval_utils.py lines 42-48, then a flat folder). FileNotFoundError naming how many are
    missing and the first of them, before anything is encoded."""
    found, missing = {}, []
    for image_id in ids:
        for sub in IMAGE_SUBFOLDERS:
            relative = str(PurePosixPath(sub) / f"{image_id}.jpg")
            if (image_dir / relative).is_file():
                found[image_id] = (image_dir / relative, relative)
                break
        else:
            missing.append(str(image_id))
    if missing:
        raise FileNotFoundError(f"CREPE images ({IMAGE_LAYOUT}, in {image_dir}): {len(missing)} of {len(ids)} images "
                                f"are missing, e.g. ids {', '.join(missing[:5])}")
    return found


def _hint(data: Path) -> str:
    """Where a `data` folder one level off the authors' layout points: the unzipped folder itself."""
    if data.name in (PROD_DIR, SYST_DIR) or any((data / t).is_dir() for t in PROD_TYPES):
        return f"; {data} looks like one of the unzipped folders: set `data` to the folder holding it"
    return ""


def load(spec: dict, root: str | Path = ".") -> list[tuple[Part, list[Case]]]:
    """(part, its rows) for every retrieval set of the spec (`parts`), in that order, every image located.

    spec: `data`, the folder holding prod_hard_negatives/ and syst_hard_negatives/ (`LAYOUT`); `image_dir`, Visual
    Genome's images (`IMAGE_LAYOUT`); `compo_types`, `hard_neg_types`, `complexities`, `train_dataset`,
    `syst_hard_neg_types` (`parts`). Paths relative to `root`. ValueError when `data` or `image_dir` is not named,
    for an unknown option or a malformed CSV (a missing column, a foil list that is not one, an image id that is not
    one, an empty region); FileNotFoundError when `data` or `image_dir` is not a folder, when any CSV asked for is
    missing (naming every missing one and the layout expected) or any image is."""
    if not spec.get("data"):
        raise ValueError(f"CREPE: the spec names no `data` folder (expected {LAYOUT})")
    if not spec.get("image_dir"):
        raise ValueError(f"CREPE: the spec names no `image_dir` (expected {IMAGE_LAYOUT})")
    wanted = parts(spec)
    data, image_dir = encode.resolve(root, spec["data"]), encode.resolve(root, spec["image_dir"])
    if not data.is_dir():
        raise FileNotFoundError(f"CREPE: {data} is not a folder; expected {LAYOUT}")
    if not image_dir.is_dir():
        raise FileNotFoundError(f"CREPE: image_dir {image_dir} is not a folder; expected {IMAGE_LAYOUT}")
    files = list(dict.fromkeys(p.file for p in wanted))
    missing = [f for f in files if not (data / f).is_file()]
    if missing:
        raise FileNotFoundError(f"CREPE: {data} lacks {len(missing)} of the {len(files)} files asked for: "
                                f"{', '.join(missing[:12])}{' ...' if len(missing) > 12 else ''}; expected {LAYOUT} "
                                f"(or name fewer in `hard_neg_types`, `complexities`, `compo_types`){_hint(data)}")
    frames: dict[str, pd.DataFrame] = {}
    for file in files:
        columns = list(FIELDS) + [p.column for p in wanted if p.file == file]
        frames[file] = _read_csv(data / file, columns, f"CREPE {file}")
    rows = []
    for part in wanted:
        what = f"CREPE {part.file}"
        frame = frames[part.file]
        # tolist(): python numbers, as the authors' lists of the columns (lines 26-36) hold them
        ids, captions, foils = (frame[c].tolist() for c in ("image_id", "caption", part.column))
        boxes = [list(box) for box in zip(*(frame[c].tolist() for c in ("x", "y", "width", "height")))]
        rows.append((part, [(i, _image_id(ids[i], what, i), _box(boxes[i], what, i), str(captions[i]),
                             _foils(foils[i], what, i, part.column)) for i in range(len(frame))]))
    located = _locate(image_dir, list(dict.fromkeys(r[1] for _, part_rows in rows for r in part_rows)))
    return [(part, [Case(str(i), image_id, *located[image_id], box, caption, negatives)
                    for i, image_id, box, caption, negatives in part_rows]) for part, part_rows in rows]


def crop(item: tuple):
    """The region an item names, as the authors' `__getitem__` makes it (crepe_compo_eval_open_clip.py lines 44-46):
    the image opened as RGB, then torchvision's `crop(image, top=y, left=x, height, width)`."""
    path, x, y, width, height = item
    return TF.crop(encode.open_rgb(path), y, x, height, width)


# ---------------------------------------------------------------------------------------------------------------
# The protocol


def verdicts(scores: list[list[float]]) -> tuple[list[bool], list[int | None], list[int]]:
    """(correct, closest, rank) of N retrieval sets from their scores, each [caption, foil 1, ...] (sizes may
    differ): correct iff no foil scores strictly above the caption (`protocols.choose`, ties "true": the authors'
    rank 0, `get_one2many_rank`); closest, the best-scoring foil's index (the first of equal ones; None for a set of
    one); rank, the caption's 1-based rank, 1 + the number of foils strictly above it (their 0-based `pred` + 1). A
    set of one, the caption alone, is rank 1 and right, as there."""
    correct: list = [True] * len(scores)
    closest: list = [None] * len(scores)
    by_size: dict[int, list[int]] = {}
    for i, row in enumerate(scores):
        by_size.setdefault(len(row), []).append(i)
    for size, rows in by_size.items():
        if size < 2:
            continue
        choice = protocols.choose(torch.tensor([scores[i] for i in rows], dtype=torch.float64), ties="true")
        for i, ok, best in zip(rows, choice.correct.tolist(), choice.closest.tolist()):
            correct[i], closest[i] = ok, best
    rank = [1 + sum(s > row[0] for s in row[1:]) for row in scores]
    return correct, closest, rank


def rows(part: Part, cases: list[Case], scores: list[list[float]]) -> list[dict]:
    """The table's rows of one retrieval set from its scores (`verdicts`)."""
    correct, closest, _ = verdicts(scores)
    out = []
    for case, ok, best, row in zip(cases, correct, closest, scores):
        out.append({"category": part.category, "sample_id": case.sample_id, "correct": ok, "score_positive": row[0],
                    "score_negative": max(row[1:]) if best is not None else math.nan, "image": case.image,
                    "caption": case.caption,
                    "negative_caption": case.negatives[best] if best is not None else None,
                    "compo": part.compo, "negative_type": part.negative_type, "split": part.split,
                    "image_id": case.image_id, "x": case.box[0], "y": case.box[1], "width": case.box[2],
                    "height": case.box[3], "scores_negative": row[1:], "negative_captions": list(case.negatives)})
    return out


def retrieval_metrics(ranks: list[int]) -> dict:
    """`get_one2many_metrics` (crepe_eval_utils.py lines 67-76) of 1-based ranks, in %: R@1, R@3, R@5, R@10 (the
    share of ranks <= k), the mean rank and the median rank (the floor of the 0-based median, + 1), as theirs."""
    preds = np.asarray(ranks) - 1
    return {**{f"R@{k}": float(np.mean(preds < k)) * 100 for k in RECALL_AT},
            "mean_rank": float(preds.mean() + 1), "median_rank": float(np.floor(np.median(preds)) + 1)}


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): R@1 (%) per file, pooled per productivity negative type, and their mean `avg`
    (`metrics_from_samples`); details {category: {"file", "samples", "retrieval_set_sizes": {size: rows},
    "chance": the mean of 1 / size (%), and `retrieval_metrics`}, and per pooled type {"samples", "files"}}. The
    table: one row per CSV row and retrieval set, in `parts` order and each CSV's order, columns `COLUMNS`.

    spec: see `load`. Each distinct region (image and box) and text is encoded once; a row's scores are the cosine
    similarities of its cropped region and its texts (float32, `protocols.similarity`). A missing or malformed file
    or image fails before anything is encoded."""
    data = load(spec, root)
    items, item_row = encode.index([c.item for _, cases in data for c in cases])
    texts, text_row = encode.index([t for _, cases in data for c in cases for t in c.texts])
    image_features = encode.images(model, preprocess, items, batch_size, device, load=crop)
    text_features = encode.texts(model, tokenizer, texts, batch_size, device)
    tables, details = [], {}
    for part, cases in data:
        # one retrieval set at a time: all of CREPE's (image, text) pairs at once would be ~200K rows of features
        image_index = [item_row[c.item] for c in cases for _ in c.texts]
        text_index = [text_row[t] for c in cases for t in c.texts]
        flat = protocols.similarity(image_features[image_index], text_features[text_index]).tolist()
        scores, start = [], 0
        for c in cases:
            scores.append(flat[start:start + len(c.texts)])
            start += len(c.texts)
        tables.append(pd.DataFrame(rows(part, cases, scores), columns=COLUMNS))
        sizes = [len(s) for s in scores]
        details[part.category] = {
            "file": part.file, "samples": len(cases),
            "retrieval_set_sizes": {str(k): sizes.count(k) for k in sorted(set(sizes))},
            "chance": float(np.mean([1 / k for k in sizes])) * 100, **retrieval_metrics(verdicts(scores)[2])}
    table = pd.concat(tables, ignore_index=True)
    for negative_type in _pooled_types(table):
        picked = [p.category for p, _ in data if p.compo == "productivity" and p.negative_type == negative_type]
        details[negative_type] = {"samples": sum(details[c]["samples"] for c in picked), "files": picked}
    return metrics_from_samples(table), details, table


def _pooled_types(samples: pd.DataFrame) -> list[str]:
    """The productivity negative types of a table, in its order."""
    return list(pd.unique(samples.loc[samples["compo"] == "productivity", "negative_type"]))


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """The metrics of a table of `evaluate`'s: per category in the table's order, R@1 (%), `np.mean(correct) * 100`
    (the authors' `np.mean(preds < 1)`, crepe_eval_utils.py line 74); then per productivity negative type in the
    table's order, `atom` / `swap` / `negate`, R@1 over all its rows (every complexity pooled, as vl_compo reports
    them); then `avg`, the mean of those (vl_compo's `crepe`), where the table has productivity rows.

    Columns, one row per CSV row and retrieval set: category ({type}_{complexity}, {split}_{type}: a key of
    `CATEGORIES`), sample_id (the row's index in its CSV), correct (bool: no foil scores strictly above the
    caption), score_positive (the cosine similarity of the cropped region and the caption), score_negative (the
    best foil's; NaN for a row without foils), image (its path inside `image_dir`: VG_100K/{id}.jpg, the whole
    image: the row was scored on its region x, y, width, height), caption, negative_caption (the best foil, the
    first of equal ones; None without foils), compo (productivity, systematicity), negative_type, split (the
    complexity "4" .. "12", or seen_compounds / unseen_compounds), image_id, x, y, width, height (the region, as the
    CSV gives it), scores_negative / negative_captions (lists: every foil's score and text, in the CSV's order).
    ValueError for a category outside `CATEGORIES`."""
    metrics = {}
    for category, rows_ in samples.groupby("category", sort=False):
        if category not in CATEGORIES:
            raise ValueError(f"CREPE: the table's category {category!r} is not one of the authors' retrieval sets "
                             f"(e.g. atom_4, negate_12, unseen_compounds_comp)")
        metrics[category] = float(np.mean(rows_["correct"].to_numpy(dtype=bool))) * 100
    pooled = []
    for negative_type in _pooled_types(samples):
        picked = samples[(samples["compo"] == "productivity") & (samples["negative_type"] == negative_type)]
        metrics[negative_type] = float(np.mean(picked["correct"].to_numpy(dtype=bool))) * 100
        pooled.append(metrics[negative_type])
    if pooled:
        metrics["avg"] = sum(pooled) / len(pooled)
    return metrics


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A model's table scored by a text-only `scorer` of tripletclip.blind: `blind.score_items` (the caption against
    the best of its foils, a tie settled by `blind.tie_break`) on the rows that have foils; a row without any keeps
    its verdict (right: the caption alone is retrieved whatever scores it), its score_positive the scorer's. Every
    other column stays, so `metrics_from_samples` gives the scorer's metrics."""
    from .. import blind

    has_foils = items["negative_captions"].map(len).to_numpy() > 0
    if has_foils.all():
        return blind.score_items(items, scorer, model)
    alone = items[~has_foils].copy()
    alone["score_positive"] = [float(scorer.score(c)) for c in alone["caption"]]
    alone["correct"] = True
    scored = blind.score_items(items[has_foils], scorer, model) if has_foils.any() else items.iloc[:0]
    # back in the table's order (positions, not labels: the index need not be unique)
    order = np.concatenate([np.flatnonzero(has_foils), np.flatnonzero(~has_foils)])
    return pd.concat([scored, alone]).iloc[np.argsort(order, kind="stable")]
