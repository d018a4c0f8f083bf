"""MMVP-VLM (Tong, Liu, Zhai, Ma, LeCun and Xie, "Eyes Wide Shut? Exploring the Visual Shortcomings of Multimodal
LLMs", CVPR 2024, arXiv 2401.06209): pairs of "CLIP-blind" images, each with a short statement true of one image
and not the other, in nine visual patterns of 15 pairs each. Real data only: there is no shapes analogue.

Source: the authors' repository tsb0601/MMVP at 7635005 (763500597e65c3446f09047837ceda76f4e264bf, 2024-01-27),
`scripts/evaluate_vlm.py` (their CLIP evaluation) and `README.md` ("MMVP VLM Bechmark", lines 51-74; "Evaluation",
lines 93-99).

Layout (`evaluate_vlm.py` lines 16-17, 35-50): the benchmark folder (the hub's dataset MMVP/MMVP_VLM, downloaded as
it is) holds `Questions.csv` and `MLLM_VLM Images/`. The CSV has a header row, which the script skips (line 37), and
three columns per row, read by position (line 39): the question id, its type (the visual pattern) and the
statement; third-party readers of the hub's file name the header `Question ID,Type,Statement`. An image is
`MLLM_VLM Images/{Type}/{Question ID}.jpg` (lines 49-50). The README's tree (lines 55-74) draws the folder as
`MMVP_VLM_Images/Orientation/1.jpg ... Camera_Perspective/270.jpg`, 270 images; the script reads
`MLLM_VLM Images` (line 16), and so does this reader. `data` (the spec) is that folder; nothing else is read.

Pairs (lines 38-50): rows are taken two by two in the file's order, (qid1, type1, statement1) and the next row
(qid2, type2, statement2) (an odd last row is dropped, lines 42-44; here it is an error); both images come from
type1's folder (line 50): image 1 is {qid1}.jpg, image 2 {qid2}.jpg. The ground truth is the qid's parity (lines
76-77): statement 1 is true of image 1 iff qid1 is odd, statement 2 true of image 1 iff qid2 is odd, so a pair
whose statements are each true of one image is an odd qid followed by an even one ((1, 2), (3, 4), ...); this
reader requires that and says so otherwise.

Text (lines 52-53): "a photo of " + the statement; `caption_0` / `caption_1` are those texts, as scored.

The authors' score (lines 58-85), the headline: each statement against the two images, softmax of the logits over
the two (lines 64-68); the statement picks image 1 iff its probability is > 0.5 (lines 70-74), i.e. iff
s(statement, image 1) > s(statement, image 2): the softmax at the model's logit scale is monotone, so comparing
its probability with 0.5 compares the two similarities, and a tie (probability exactly 0.5) picks image 2. A pair
is right iff statement 1 picks image 1 and statement 2 picks image 2 (line 83). So: right iff s(c0, i0) > s(c0, i1)
and s(c1, i1) >= s(c1, i0), here `protocols.choose` on the two rows ("wrong" ties for statement 1, "true" for
statement 2, image 2 being its true image). Per pattern, the share of its pairs right (%) (lines 90-91: the count
over num_pairs // 9, i.e. 15). The category is the pattern by position in the authors' script (line 82:
categories[num_pairs // 15], their names at lines 24-30); here it is the pair's Type mapped to the authors' name
(`TYPES`), which is the same assignment on the released file, whose Types come in blocks of 15 pairs in that order
(README lines 57-72: Orientation 1-30, Presence 31-60, ..., Camera_Perspective 241-270). `avg` is the mean of the
patterns' scores: the paper's "MMVP Average" (README line 99, imgs/vlm_results.png: OpenAI ViT-L-14 224px, 13.3,
13.3, 20.0, 20.0, 13.3, 53.3, 20.0, 6.7, 13.3, average 19.3 = 26/135, the mean of the unrounded scores).

Winoground's text, image and group scores (Thrush et al. 2022, §3; `protocols.group_2x2`, every comparison strict)
per pattern and overall, as vl_compo reports MMVP-VLM (Oh et al., CVPRW 2024, arXiv 2406.09388; ytaek-oh/vl_compo
@43c479b, individual_results.csv columns 37-63, `mmvp_vlm::{pattern}::text|image|group`, every value k/15; its
results.csv column `mmvp_vlm` is the mean of the nine group scores, on every row). Their image score is the
authors' score up to ties (a tie picks image 2 in the authors' script, and is wrong in Winoground's image score):
of the 54 per-pattern cells of the six models both print (OpenAI ViT-L-14, SigLIP SO400M, DFN5B ViT-H-14, MetaCLIP
ViT-L-14 and ViT-H-14, EVA01-g-14, all 224 px), vl_compo's image scores equal the paper's in 38 (DFN5B: 8 of 9),
its text scores in 5 and its group scores in 10. The image cells that differ do so by a pair or a few: the model
code, precision or prompt may differ (vl_compo's repository holds its results, not its code).

Headline: `avg`, the authors' own number (their script's per-pattern score, averaged as the paper's figure
averages it): it is what the benchmark was published with, and it asks what MMVP-VLM was built to ask, whether
each statement finds its image among two near-identical ones. vl_compo's three are kept beside it, per pattern, for
its published rows and for the error browser.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch

from . import encode, protocols

log = logging.getLogger(__name__)

QUESTIONS = "Questions.csv"  # evaluate_vlm.py line 17
IMAGES = "MLLM_VLM Images"  # line 16; the README's tree (line 56) draws it MMVP_VLM_Images
HEADER = ("Question ID", "Type", "Statement")  # read by position (line 39); the hub's names
PROMPT = "a photo of "  # lines 52-53
# the CSV's Type (the image folder) -> the authors' name of the pattern (evaluate_vlm.py lines 24-30, their order;
# vl_compo's column names). The Types are the hub's file's as third-party readers of it spell them; the README's
# tree writes Camera_Perspective, which `_type_key` takes too.
TYPES = {
    "Orientation": "Orientation and Direction",
    "Presence": "Presence of Specific Features",
    "State": "State and Condition",
    "Quantity": "Quantity and Count",
    "Spatial": "Positional and Relational Context",
    "Color": "Color and Appearance",
    "Structural Character": "Structural Characteristics",
    "Text": "Texts",
    "Camera Perspective": "Viewpoint and Perspective",
}
PAIRS_PER_PATTERN = 15  # line 82
SCORES = ("text", "image", "group")
RESERVED = ("avg", *SCORES)  # metric names a pattern's may not take
LAYOUT = (f"the MMVP_VLM folder (the hub's MMVP/MMVP_VLM): {QUESTIONS} (a header, then rows Question ID,Type,"
          f"Statement; consecutive rows an odd and the next even id, one pair) and '{IMAGES}/{{Type}}/{{Question ID}}"
          f".jpg'")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "pred_0", "pred_1", "c0_i0", "c0_i1", "c1_i0", "c1_i1", "text_correct",
           "image_correct", "group_correct", "caption_0", "caption_1", "image_0", "image_1", "type", "qid_0", "qid_1")
TABLE_FIELDS = ("caption_0", "caption_1", "image_0", "image_1", "type", "qid_0", "qid_1")  # from `load`'s pairs


def _type_key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


_AUTHORS_NAME = {_type_key(t): name for t, name in TYPES.items()}


def slug(name: str) -> str:
    """A pattern's name in metrics and tables: lower case, every run of other characters than letters and digits
    one "_" ("Orientation and Direction" -> orientation_and_direction)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def authors_name(type_: str) -> str:
    """The authors' name of a CSV Type (`TYPES`; case, "_" and spacing ignored); a Type they do not name, itself."""
    return _AUTHORS_NAME.get(_type_key(type_), type_)


def _read_rows(path: Path) -> list[tuple[int, int, str, str]]:
    """(line, qid, Type, statement) of each row after the header. ValueError naming the line for a row that is not
    three fields, a qid that is not an integer, or an empty Type or statement."""
    what = f"MMVP-VLM questions {path}"
    # utf-8-sig: a byte-order mark would otherwise cling to the header's first name (the authors skip the header)
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)  # as the authors read it (line 36): quoted statements may hold commas
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{what}: empty; expected a header {','.join(HEADER)} and two rows per pair")
        if len(header) != 3:
            raise ValueError(f"{what}: the header has {len(header)} field(s) ({header}); expected three, "
                             f"{','.join(HEADER)}")
        rows = []
        for row in reader:
            line = reader.line_num
            if not row:
                continue  # a blank line
            if len(row) != 3:
                raise ValueError(f"{what}, line {line}: {len(row)} field(s) ({row}); expected three, "
                                 f"{','.join(HEADER)}")
            # as written: the authors join the Type into the image path and prefix the statement unchanged
            qid, type_, statement = row
            try:
                number = int(qid)  # as their int(qid1) (line 47), which takes surrounding spaces
            except ValueError:
                raise ValueError(f"{what}, line {line}: Question ID {qid!r} is not an integer") from None
            if not type_.strip() or not statement.strip():
                raise ValueError(f"{what}, line {line}: an empty {'Type' if not type_.strip() else 'Statement'}")
            rows.append((line, number, type_, statement))
    return rows


def load(root: str, spec: dict) -> tuple[list[dict], Path, Path]:
    """(pairs, data folder, Questions.csv): each pair {"sample_id" ("{qid1}_{qid2}"), "category" (`slug` of the
    authors' pattern name), "name" (that name), "type" (the CSV's Type, the images' folder), "qid_0", "qid_1",
    "caption_0", "caption_1" ("a photo of " + statement), "image_0", "image_1" (paths relative to the data folder,
    "MLLM_VLM Images/{Type}/{qid}.jpg"), "path_0", "path_1" (where they are)}, in the file's order.

    Raises ValueError when the spec names no `data`; when a row is not three fields, an id not an integer or a Type
    or statement empty (`_read_rows`); when there is no row, an odd number of rows, two rows of a pair differ in
    Type, a pair is not an odd id followed by an even one (the authors' ground truth, lines 76-77), an id is given
    twice, or a pattern's name would be one of `RESERVED`; FileNotFoundError when the folder, Questions.csv, the
    image folder or any image is missing (naming the layout expected)."""
    if not spec.get("data"):
        raise ValueError(f"MMVP-VLM: the spec names no `data` (expected {LAYOUT})")
    data = encode.resolve(root, spec["data"])
    if not data.is_dir():
        raise FileNotFoundError(f"MMVP-VLM data: expected {LAYOUT} at {data}, found "
                                f"{'a file' if data.exists() else 'nothing'}")
    path = data / QUESTIONS
    if not path.is_file():
        nested = sorted(p.parent.name for p in data.glob(f"*/{QUESTIONS}"))
        hint = f"; {', '.join(nested)} holds one: set `data` to that folder" if nested else ""
        found = sorted(p.name for p in data.iterdir())[:10]
        raise FileNotFoundError(f"MMVP-VLM data: {data} holds no {QUESTIONS}; expected {LAYOUT}, found "
                                f"{found or 'nothing'}{hint}")
    if not (data / IMAGES).is_dir():
        others = [p.name for p in data.iterdir() if p.is_dir() and "vlm" in p.name.lower()]
        hint = (f"; found {others}: the authors' script reads '{IMAGES}' (scripts/evaluate_vlm.py line 16), rename "
                f"or link it" if others else "")
        raise FileNotFoundError(f"MMVP-VLM data: {data} holds no folder '{IMAGES}'; expected {LAYOUT}{hint}")
    rows = _read_rows(path)
    what = f"MMVP-VLM questions {path}"
    if not rows:
        raise ValueError(f"{what}: no question after the header")
    if len(rows) % 2:
        raise ValueError(f"{what}: {len(rows)} rows, an odd number; expected two consecutive rows per pair (the last, "
                         f"line {rows[-1][0]}, has no partner)")
    seen = {}
    for line, qid, _, _ in rows:
        if qid in seen:
            raise ValueError(f"{what}: Question ID {qid} is given twice (lines {seen[qid]} and {line})")
        seen[qid] = line
    pairs = []
    for (line, qid1, type1, statement1), (line2, qid2, type2, statement2) in zip(rows[0::2], rows[1::2]):
        if type1 != type2:
            raise ValueError(f"{what}, lines {line}-{line2}: a pair of two Types, {type1!r} (id {qid1}) and "
                             f"{type2!r} (id {qid2}); the authors read both images from the first's folder")
        if qid1 % 2 != 1 or qid2 % 2 != 0:
            raise ValueError(f"{what}, lines {line}-{line2}: ids {qid1}, {qid2}; expected an odd id then an even "
                             f"one (the authors' ground truth is the id's parity, evaluate_vlm.py lines 76-77: "
                             f"statement 1 true of image 1, statement 2 of image 2)")
        name = authors_name(type1)
        pairs.append({
            "sample_id": f"{qid1}_{qid2}", "category": slug(name), "name": name, "type": type1,
            "qid_0": qid1, "qid_1": qid2, "caption_0": PROMPT + statement1, "caption_1": PROMPT + statement2,
            **{f"image_{k}": str(PurePosixPath(IMAGES, type1, f"{q}.jpg")) for k, q in ((0, qid1), (1, qid2))},
            **{f"path_{k}": data / IMAGES / type1 / f"{q}.jpg" for k, q in ((0, qid1), (1, qid2))}})
    if clash := sorted({p["category"] for p in pairs} & set(RESERVED)):
        raise ValueError(f"{what}: Type(s) named {clash}, which are metric names of their own ({', '.join(RESERVED)})")
    encode.require_files([p[f"path_{k}"] for p in pairs for k in (0, 1)],
                         f"MMVP-VLM images in {data / IMAGES} ({{Type}}/{{Question ID}}.jpg)")
    _check_authors_order(pairs)
    log.info("MMVP-VLM: %d pairs in %d patterns from %s", len(pairs), len({p["category"] for p in pairs}), path)
    return pairs, data, path


def _check_authors_order(pairs: list[dict]) -> None:
    """The authors name a pair's pattern by its position (line 82: categories[num_pairs // 15]); this reader by its
    Type. They agree on the released file (nine blocks of 15 pairs in the authors' order); a warning where a full
    file of 135 pairs does not follow that order, so that numbers are not set beside the paper's unawares."""
    names = list(TYPES.values())
    if len(pairs) != len(names) * PAIRS_PER_PATTERN:
        return
    moved = [p["sample_id"] for i, p in enumerate(pairs) if p["name"] != names[i // PAIRS_PER_PATTERN]]
    if moved:
        log.warning("MMVP-VLM: %d of %d pairs (e.g. ids %s) are not where the authors' script would name their "
                    "pattern by position (evaluate_vlm.py line 82); the per-pattern scores here follow each pair's "
                    "Type", len(moved), len(pairs), moved[0])


def authors_verdicts(c0_i0, c0_i1, c1_i0, c1_i1) -> dict:
    """The authors' verdicts (evaluate_vlm.py lines 64-85) from the similarities s(c_j, i_k) of N pairs ((N,)
    sequences of floats): {"pred_0", "pred_1": the image (0 or 1) statement 0 / 1 picks, the higher similarity, a
    tie picking image 1 (their image 2: probability 0.5 is not > 0.5, line 73), "correct": pred_0 == 0 and pred_1 ==
    1}, lists. `protocols.choose` over each statement's two images, its true one first: statement 0's ties "wrong",
    statement 1's "true" (its true image is the one a tie goes to)."""
    first = protocols.choose(torch.as_tensor(np.column_stack([c0_i0, c0_i1]), dtype=torch.float64), "wrong").correct
    second = protocols.choose(torch.as_tensor(np.column_stack([c1_i1, c1_i0]), dtype=torch.float64), "true").correct
    return {"pred_0": [0 if right else 1 for right in first.tolist()],
            "pred_1": [1 if right else 0 for right in second.tolist()],
            "correct": (first & second).tolist()}


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): the authors' score per pattern and its mean `avg`, and Winoground's text, image
    and group scores overall and per pattern (%) (`metrics_from_samples` of the table); details {"pairs",
    "per_pattern": {category: {"name" (the authors'), "types" (the CSV's), "pairs", "score" (the authors'),
    "text", "image", "group"}}}; the table, one row per pair in the file's order, columns `COLUMNS`. Each distinct
    image and statement is encoded once."""
    pairs, _, _ = load(root, spec)
    scores = protocols.encode_2x2(model, preprocess, tokenizer, pairs, batch_size, device)
    authors = authors_verdicts(scores["c0_i0"], scores["c0_i1"], scores["c1_i0"], scores["c1_i1"])
    table = pd.DataFrame({**{c: [p[c] for p in pairs] for c in ("category", "sample_id")}, **authors, **scores,
                          **{c: [p[c] for p in pairs] for c in TABLE_FIELDS}}, columns=COLUMNS)
    metrics = metrics_from_samples(table)
    per_pattern = {}
    for category, rows in table.groupby("category", sort=False):
        per_pattern[category] = {
            "name": next(p["name"] for p in pairs if p["category"] == category),
            "types": list(pd.unique(rows["type"])), "pairs": len(rows), "score": metrics[category],
            **{k: metrics[f"{category}_{k}"] for k in SCORES}}
    return metrics, {"pairs": len(pairs), "per_pattern": per_pattern}, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{category: the authors' score of each pattern, the share (%) of its pairs right, in the table's order; "avg":
    their mean (the paper's MMVP Average); "text", "image", "group": Winoground's scores (%) over every pair; then
    "{category}_text", "{category}_image", "{category}_group" per pattern}. ValueError for an empty table.

    Columns, one row per pair: category (`slug` of the authors' pattern name, e.g. orientation_and_direction;
    `TYPES`), sample_id ("{qid1}_{qid2}"), correct (bool: the authors' verdict, pred_0 == 0 and pred_1 == 1),
    pred_0, pred_1 (the image, 0 or 1, statement 0 / 1 picks: the higher similarity, a tie picking image 1, as the
    authors' softmax > 0.5 does), c0_i0, c0_i1, c1_i0, c1_i1 (s(caption_j, image_k), the cosine similarity; 0 is
    the authors' 1), text_correct (s(c0, i0) > s(c1, i0) and s(c1, i1) > s(c0, i1)), image_correct (s(c0, i0) >
    s(c0, i1) and s(c1, i1) > s(c1, i0)), group_correct (both), strict: a tie is wrong; caption_0, caption_1 ("a
    photo of " + the statement, as scored), image_0, image_1 (relative to the data folder: "MLLM_VLM
    Images/{Type}/{qid}.jpg"), type (the CSV's Type), qid_0, qid_1 (the Question IDs)."""
    if samples.empty:
        raise ValueError("MMVP-VLM: the table holds no pair")
    groups = list(samples.groupby("category", sort=False))
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    metrics = {category: encode.mean32(rows["correct"]) * 100 for category, rows in groups}
    metrics["avg"] = sum(metrics[c] for c, _ in groups) / len(groups)
    metrics.update({k: encode.mean32(samples[f"{k}_correct"]) * 100 for k in SCORES})
    for category, rows in groups:
        metrics.update({f"{category}_{k}": encode.mean32(rows[f"{k}_correct"]) * 100 for k in SCORES})
    return metrics


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table `items` (columns `COLUMNS`) scored by a text-only scorer (tripletclip.blind):
    `protocols.blind_2x2`, then the authors' verdicts of its similarities. Wrong on every pair whatever the scorer:
    a statement scores the same against either image, so each tie picks image 1 (the authors' image 2) and
    statement 0 misses its image; Winoground's three fail as `blind_2x2` says. `model` is unused: a tie is settled
    by the authors' rule, not by a coin."""
    out = protocols.blind_2x2(items, scorer, lambda scores: {
        "text_correct": scores.text, "image_correct": scores.image, "group_correct": scores.group})
    for column, values in authors_verdicts(out["c0_i0"], out["c0_i1"], out["c1_i0"], out["c1_i1"]).items():
        out[column] = values
    return out
