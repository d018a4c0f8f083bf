"""SVO-Probes (Hendricks and Nematzadeh, "Probing Image-Language Transformers for Verb Understanding", Findings of
ACL 2021, arXiv 2106.09141): sentences of a <subject, verb, object> triplet, each with a positive image and a
negative image that differs from it in the subject, the verb or the object. Real data only: there is no shapes
analogue.

Source read: the authors' repository deepmind/svo_probes at 206219e (206219e2afd9640b8bbe6ef95f49b52b0d4ed350,
2022-01-28), `README.md` and `probing_image_text_models.ipynb` (the notebook; its line numbers are those of the
.ipynb JSON file), cited below by file and line.

Layout. `svo_probes.csv` (README lines 16-23): one row per sentence and negative, "two <sentence,positive-image>
and <sentence,negative-image> pairs"; each image "identified by a url and a unique id: pos_image_id (pos_url) or
neg_image_id (neg_url)"; `pos_triplet` / `neg_triplet` the triplets seen in either image; `subj_neg`, `verb_neg`,
`obj_neg` the type of the negative ("subj_neg is True if the negative example is a subject negative"). The notebook
reads the file with `pd.read_csv` (line 177), the image ids as integers (`'%s|%d' % (sentence.lower(),
neg_image_id)`, lines 141-142) and the three type columns as booleans (`data_df['subj_neg'] & ~data_df['obj_neg']`,
lines 223-228). The file itself is not in the stored copy of the repository (its blob is absent there), so its
header could not be read: this reader takes its columns by name, `REQUIRED`, in any order, beside any others (a
leading unnamed index column, pos_url, neg_url); a boolean is True / False (pandas' spelling) or 1 / 0, in any case.

Images. The repository gives URLs only: `image_urls.txt` (README line 25; 14,102 distinct URLs) and the CSV's
pos_url / neg_url; the README names no downloader and no file naming. A downloaded image is found by its id:
`image_dir` / `image_name`, a format string over `{image_id}` (default "{image_id}.jpg"; the id is an integer, so
"{image_id:08d}.jpg" pads it), e.g. each row's `pos_url` saved as `{pos_image_id}.jpg` (`image_ids` lists the
(id, URL) pairs to fetch). PIL reads an image by its content, so a PNG saved under .jpg is read as a PNG. The
URL's own file name is not a usable key: in image_urls.txt 72 names are shared by 593 URLs (maxresdefault.jpg by
157, 1.jpg by 88) and 62 URLs have none. img2dataset names its files by its own running key: rename its
output to the ids (its .json sidecars hold each file's URL).

Unavailable images are counted, not fatal: many URLs no longer answer. A row whose positive or negative image has
no file in `image_dir`, or has one PIL cannot decode (an HTML error page saved under an image name, an empty or
truncated file), is left out, as the notebook leaves out a row whose positive or negative pair has no score
(lines 143-147, `df = df.drop([idx])`); the numbers left out are `details` (per negative type) and logged, and the
metrics are computed on the rows that remain. Only a CSV of which no row can be scored is an error.

Types. A row's type is the one of subj_neg, verb_neg, obj_neg that is true; a row with none or several true is in
none of the notebook's three frames (lines 223-228, each type true and the other two false) and is left out here
too, counted in `details`.

Protocol (ours, for image-text similarity models; the same for every negative type): with s(c, i) the cosine
similarity of the sentence's and the image's L2-normalized embeddings, a row is right iff s(sentence, positive
image) > s(sentence, negative image): the image among two (`protocols.choose_image`), a tie wrong. Per type the
share of its rows right (%): `subj_neg`, `verb_neg`, `obj_neg`; `avg` their mean, the headline; `all` the share
over every scored row (the notebook's "All" row pools the three frames, lines 232-233). The sentence is scored as
written: the notebook lower-cases it and collapses spaces only to key its score file (lines 141-142).

The authors' metric is not computed: the notebook scores a model's binary match decisions, "1 if sentence matches
the image (and 0 if does not match)" (line 35), per pair: pos accuracy = mean(positive pairs scored 1), neg accuracy
= mean(negative pairs scored 0), each over the pairs deduplicated by (sentence, image id, score) (lines 210-215),
accuracy their mean (line 217), per type and for All (lines 232-242). A CLIP model gives a similarity, not a match
decision; that metric needs a threshold on the similarity, which the authors do not define (the notebook takes
the decisions as given), so it is left out.

vl_compo (Oh et al., CVPRW 2024, arXiv 2406.09388; ytaek-oh/vl_compo@43c479b, `individual_results.csv` columns
71-73, `svo_probes::subj_neg|verb_neg|obj_neg`, 202 rows): one accuracy per type; of its 202 rows, 193 are exact
multiples of 100/3728, 100/13523 and 100/4911 and of no smaller denominator (22,162 items in all), the other 9
(large models, e.g. ViT-bigG-14, EVA02-E-14) of 100/3727, 100/13592 and 100/4937: one accuracy over a count of items
per type, on two different sets of fetched images, presumably the rows whose two images could be downloaded. Its
`results.csv` column `svo_probes` is the mean of the three (our `avg`). Its code is not public (ytaek-oh/fsc-clip
@604015d, `src/training/eval_compo.py` lines 10-11, imports the unreleased `vl_compo` package): that an item is a
CSV row scored by the pairwise choice above is read from the benchmark's design and those denominators only, not
confirmed, and how it counts ties is not known. Its numbers are over its own download: another download scores
other rows.
"""

from __future__ import annotations

import logging
import string
from pathlib import Path, PurePosixPath

import pandas as pd
from PIL import Image

from . import encode, protocols

log = logging.getLogger(__name__)

FILE = "svo_probes.csv"  # the repository's file name (README line 16)
TYPES = ("subj_neg", "verb_neg", "obj_neg")  # the negative's type: README lines 21-23; the notebook's three frames
REQUIRED = ("sentence", "pos_triplet", "neg_triplet", *TYPES, "pos_image_id", "neg_image_id")  # README lines 16-23
DEFAULT_IMAGE_NAME = "{image_id}.jpg"
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
LAYOUT = (f"the authors' {FILE} (deepmind/svo_probes: columns {', '.join(REQUIRED)}, and pos_url, neg_url), "
          f"its images downloaded into `image_dir`, each named by its id (`image_name`, default {DEFAULT_IMAGE_NAME})")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "negative_image",
           "caption", "pos_triplet", "neg_triplet")


def _image_name(spec: dict) -> str:
    """The spec's `image_name`, checked: a format string naming `{image_id}` and no other field."""
    name = spec.get("image_name") or DEFAULT_IMAGE_NAME
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(name) if f is not None}
    except ValueError as error:
        raise ValueError(f"SVO-Probes: image_name {name!r} is not a format string ({error})") from None
    if fields != {"image_id"}:
        raise ValueError(f"SVO-Probes: image_name {name!r} names the field(s) {sorted(fields)}; expected "
                         f"{{image_id}} and no other (e.g. {DEFAULT_IMAGE_NAME}): each image is found by its id")
    try:
        name.format(image_id=0)
    except (ValueError, TypeError) as error:
        raise ValueError(f"SVO-Probes: image_name {name!r} cannot format an id ({error})") from None
    return name


def _boolean(value: str, what: str) -> bool:
    try:
        return BOOLEANS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"{what} is {value!r}; expected True or False (or 1 / 0)") from None


def _image_id(value: str, what: str) -> str:
    """The id as the notebook prints it, '%d' (lines 141-142): an integer in decimal."""
    try:
        return str(int(value.strip()))
    except ValueError:
        raise ValueError(f"{what} is {value!r}; expected an integer image id") from None


def read_rows(path: Path) -> list[dict]:
    """The CSV's rows in its order, each {"sample_id" (its position among the data rows, from 0: the notebook's
    `df.index`, pd.read_csv with no index column, line 177), "sentence", "pos_triplet", "neg_triplet", "pos_image_id",
    "neg_image_id" (str, '%d' of the id), "type" (the one of `TYPES` that is true, None for none or several), "pos_url",
    "neg_url" (None where the CSV has no such column)}.

    Raises FileNotFoundError when `path` is not a file, ValueError when it is not UTF-8 CSV, lacks a column of
    `REQUIRED`, holds no row, or a row has an empty sentence, an id that is not an integer or a type that is not a
    boolean (naming the row)."""
    if not path.is_file():
        found = "a folder" if path.is_dir() else "nothing"
        hint = f"; {path / FILE} exists: set `data` to that file" if (path / FILE).is_file() else ""
        raise FileNotFoundError(f"SVO-Probes data: expected {LAYOUT}; found {found} at {path}{hint}")
    try:
        # every column as text, as written: no NaN for an empty cell, booleans and ids parsed below
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"SVO-Probes data: {path} is not UTF-8 text ({error})") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"SVO-Probes data: {path} is not a CSV file ({error})") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"SVO-Probes data: {path} is empty; expected {LAYOUT}") from None
    what = f"SVO-Probes data {path}"
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: no column(s) {missing}; found {list(frame.columns)[:12]}; expected {LAYOUT}")
    if frame.empty:
        raise ValueError(f"{what}: a header and no row")
    rows = []
    for i, row in enumerate(frame.to_dict("records")):
        at = f"{what}, row {i}"
        if not row["sentence"].strip():
            raise ValueError(f"{at}: an empty sentence")
        flags = [t for t in TYPES if _boolean(row[t], f"{at}: {t}")]
        rows.append({"sample_id": str(i), "sentence": row["sentence"], "pos_triplet": row["pos_triplet"],
                     "neg_triplet": row["neg_triplet"],
                     **{f"{k}_image_id": _image_id(row[f"{k}_image_id"], f"{at}: {k}_image_id")
                        for k in ("pos", "neg")},
                     "type": flags[0] if len(flags) == 1 else None,
                     **{f"{k}_url": row.get(f"{k}_url") for k in ("pos", "neg")}})
    return rows


def load(root: str, spec: dict) -> tuple[list[dict], dict]:
    """(rows, details): the rows that can be scored, each a row of `read_rows` with "image" and "negative_image"
    (the file names inside `image_dir`, from `image_name`) and "pos_path", "neg_path" (where they are), in the CSV's
    order; details {"rows" (in the CSV), "untyped" (left out: none or several of the types true), "images" (distinct
    image ids of the typed rows), "missing_images" (of them, those without a file), "per_type": {type: {"rows",
    "scored" (both images there), "skipped"}}}, logged where rows are left out.

    Raises ValueError when the spec names no `data` or `image_dir`, for a bad `image_name` or CSV (`read_rows`), or
    when no row has a type; FileNotFoundError when the CSV or `image_dir` is missing, or when no typed row has both
    its images (naming the folder and an image looked for)."""
    if not spec.get("data"):
        raise ValueError(f"SVO-Probes: the spec names no `data` (expected {LAYOUT})")
    if not spec.get("image_dir"):
        raise ValueError(f"SVO-Probes: the spec names no `image_dir` (expected {LAYOUT})")
    name = _image_name(spec)
    path = encode.resolve(root, spec["data"])
    image_dir = encode.resolve(root, spec["image_dir"])
    rows = read_rows(path)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"SVO-Probes images: expected a folder of the downloaded images ({name}) at "
                                f"{image_dir}, found {'a file' if image_dir.exists() else 'nothing'}")
    typed = [r for r in rows if r["type"] is not None]
    if not typed:
        raise ValueError(f"SVO-Probes data {path}: none of its {len(rows)} rows has exactly one of "
                         f"{', '.join(TYPES)} true")
    ids = list(dict.fromkeys(r[f"{k}_image_id"] for r in typed for k in ("pos", "neg")))
    # the id formatted as an integer, so that a format spec may pad it: {image_id:08d}
    files = {i: str(PurePosixPath(name.format(image_id=int(i)))) for i in ids}
    there = {i for i in ids if (image_dir / files[i]).is_file()}
    kept, per_type = [], {t: {"rows": 0, "scored": 0, "skipped": 0} for t in TYPES}
    for r in typed:
        counts = per_type[r["type"]]
        counts["rows"] += 1
        if r["pos_image_id"] in there and r["neg_image_id"] in there:
            counts["scored"] += 1
            kept.append({**r, "image": files[r["pos_image_id"]], "negative_image": files[r["neg_image_id"]],
                         "pos_path": image_dir / files[r["pos_image_id"]],
                         "neg_path": image_dir / files[r["neg_image_id"]]})
        else:
            counts["skipped"] += 1
    details = {"rows": len(rows), "untyped": len(rows) - len(typed), "images": len(ids),
               "missing_images": len(ids) - len(there), "per_type": per_type}
    if not kept:
        example = image_dir / files[ids[0]]
        raise FileNotFoundError(f"SVO-Probes images: none of the {len(typed)} rows has both its images in "
                                f"{image_dir} ({len(ids) - len(there)} of {len(ids)} images missing, e.g. {example}); "
                                f"expected each image saved as {name}")
    if details["untyped"]:
        log.warning("SVO-Probes: %d of %d rows left out: not exactly one of %s is true", details["untyped"],
                    len(rows), ", ".join(TYPES))
    if len(kept) < len(typed):
        first = next(i for i in ids if i not in there)
        log.warning("SVO-Probes: %d of %d rows left out, their positive or negative image missing from %s (%d of %d "
                    "images, e.g. %s): %s", len(typed) - len(kept), len(typed), image_dir, len(ids) - len(there),
                    len(ids), files[first], ", ".join(f"{t} {per_type[t]['skipped']}" for t in TYPES))
    return kept, details


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): per negative type the share (%) of rows whose positive image scores above the
    negative one, their mean `avg`, and `all` over every scored row (`metrics_from_samples`); details as `load`'s, with
    "unreadable_images" (image files PIL could not decode) and "scored" (rows in the table), each type's "skipped"
    counting both kinds of unavailable image; the table, one row per scored CSV row in its order, columns `COLUMNS`.

    spec: `data`, the path of svo_probes.csv; `image_dir`, the folder of the downloaded images; `image_name`, a file
    name inside it over `{image_id}` (default "{image_id}.jpg"). Each distinct image and sentence is encoded once. A
    row whose image is missing or undecodable is left out and counted (`load`); FileNotFoundError when no row is
    left."""
    rows, details = load(root, spec)
    paths, image_row = encode.index([r[f"{k}_path"] for r in rows for k in ("pos", "neg")])
    unreadable: set = set()

    def open_or_blank(path):
        # a download that is not an image must not stop the run: it is recorded, encoded as a blank, and every row
        # that uses it is left out below
        try:
            return encode.open_rgb(path)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            unreadable.add(path)
            return Image.new("RGB", (8, 8))

    img = encode.images(model, preprocess, paths, batch_size, device, load=open_or_blank)
    if unreadable:
        log.warning("SVO-Probes: %d of %d images could not be decoded (e.g. %s); their rows are left out",
                    len(unreadable), len(paths), sorted(map(str, unreadable))[0])
        for r in rows:
            if r["pos_path"] in unreadable or r["neg_path"] in unreadable:
                details["per_type"][r["type"]]["scored"] -= 1
                details["per_type"][r["type"]]["skipped"] += 1
        rows = [r for r in rows if r["pos_path"] not in unreadable and r["neg_path"] not in unreadable]
        if not rows:
            raise FileNotFoundError(f"SVO-Probes images: no row has both its images readable ({len(unreadable)} "
                                    f"images could not be decoded, e.g. {sorted(map(str, unreadable))[0]})")
    details = {**details, "unreadable_images": len(unreadable), "scored": len(rows)}
    sentences, sentence_row = encode.index([r["sentence"] for r in rows])
    txt = encode.texts(model, tokenizer, sentences, batch_size, device)
    choice = protocols.choose_image(
        txt[[sentence_row[r["sentence"]] for r in rows]],
        [img[[image_row[r[f"{k}_path"]] for r in rows]] for k in ("pos", "neg")], ties="wrong")
    table = pd.DataFrame({
        "category": [r["type"] for r in rows], "sample_id": [r["sample_id"] for r in rows],
        "correct": choice.correct.tolist(), "score_positive": choice.scores[:, 0].tolist(),
        "score_negative": choice.scores[:, 1].tolist(), "image": [r["image"] for r in rows],
        "negative_image": [r["negative_image"] for r in rows], "caption": [r["sentence"] for r in rows],
        "pos_triplet": [r["pos_triplet"] for r in rows], "neg_triplet": [r["neg_triplet"] for r in rows]},
        columns=COLUMNS)
    metrics = metrics_from_samples(table)
    for t in TYPES:
        if t not in metrics:
            log.warning("SVO-Probes: no %s row could be scored; `avg` is the mean of the other types", t)
    return metrics, details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"subj_neg", "verb_neg", "obj_neg": the share (%) of each type's rows that are right (a type with no row is
    left out), "avg": their mean (the headline; vl_compo's `svo_probes`), "all": the share over every row}.
    ValueError for an empty table or a category outside `TYPES`.

    Columns, one row per scored CSV row: category (the negative's type: subj_neg, verb_neg or obj_neg), sample_id
    (the row's position in the CSV from 0, as a string), correct (bool: score_positive > score_negative, a tie
    wrong), score_positive / score_negative (the cosine similarity of the sentence with the positive / negative
    image), image / negative_image (their file names inside `image_dir`, e.g. 1234.jpg), caption (the sentence as
    written), pos_triplet / neg_triplet (as written in the CSV)."""
    if samples.empty:
        raise ValueError("SVO-Probes: the table holds no row")
    unknown = sorted(set(samples["category"]) - set(TYPES))
    if unknown:
        raise ValueError(f"SVO-Probes: the table's categories {unknown} are none of {', '.join(TYPES)}")
    # float32 means, as every benchmark's metrics are computed (encode.mean32)
    metrics = {t: encode.mean32(samples.loc[samples["category"] == t, "correct"]) * 100 for t in TYPES
               if (samples["category"] == t).any()}
    metrics["avg"] = sum(metrics.values()) / len(metrics)
    metrics["all"] = encode.mean32(samples["correct"]) * 100
    return metrics


def image_ids(root: str, spec: dict) -> list[tuple[str, str]]:
    """(image id, URL) of every distinct image the CSV names, positives and negatives, in first-seen order: what to
    download, each URL saved as `image_name` with its id (e.g. {image_id}.jpg). ValueError where the CSV has no
    pos_url / neg_url column."""
    if not spec.get("data"):
        raise ValueError(f"SVO-Probes: the spec names no `data` (expected {LAYOUT})")
    rows = read_rows(encode.resolve(root, spec["data"]))
    if rows[0]["pos_url"] is None or rows[0]["neg_url"] is None:
        raise ValueError("SVO-Probes data: no pos_url / neg_url column to download the images from")
    found: dict[str, str] = {}
    for r in rows:
        for k in ("pos", "neg"):
            found.setdefault(r[f"{k}_image_id"], r[f"{k}_url"])
    return list(found.items())
