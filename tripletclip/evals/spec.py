"""SPEC (Peng, Xie, You, Lan and Wu, "Synthesize, Diagnose, and Optimize", CVPR 2024, arXiv 2312.00081): six subsets
on size, position, existence and count, each test case a set of images that differ in one visual concept and the set
of captions that differ in the matching word; scored image-to-text and text-to-image.

Layout (the authors' repository, wjpoom/SPEC at ad982a4; `spec/dataset.py`, `spec/eval.py`): the hub's `data.zip`
unpacks into one folder (README "prepare data"), the `--data-root` of `spec/eval.py` (line 79), holding one folder
per subset (`get_data`, dataset.py line 146: `os.path.join(data_root, subset_nm)`), named as `eval.py` lines 76-77
list them: absolute_size, relative_size, absolute_spatial, relative_spatial, existence, count. Each subset folder
holds

- `image2text.json` (dataset.py lines 18-20): a JSON list of {"query": an image path relative to the subset folder
  (line 30), "keys": the candidate captions (line 36), "label": the index of the true one among them (line 39)};
- `text2image.json` (lines 76-78): the same with the roles swapped, "query" a caption (line 88), "keys" image paths
  relative to the subset folder (lines 92-93), "label" the true image's index (line 101).

`data` (the spec) is that folder; `subsets` which of them (default all six, as `run_eval.sh` and the notebooks pass).
Within a file every case has as many keys (the authors' collate stacks them: dataset.py lines 57-58, 119-120).

Protocol (`spec/models/clip_wrapper.py`, the CLIP wrapper the paper's CLIP rows come from): image and caption
embeddings L2-normalized (lines 32-33, 42-43, 74-75, 84), their dot products (lines 47, 88: the cosine), `argmax`
over the candidates in the file's order (lines 50, 91), right iff it is the label (line 51): a tie goes to the
first of the equal candidates, true or not (torch's argmax returns the first maximal index). A subset's accuracy is
100 x correct / cases per direction (lines 56, 97); `eval.py` lines 41-52 report the mean over the evaluated
subsets of each direction's accuracy ("average all subset"): our `i2t` and `t2i`, the two headline numbers. `avg`
is their mean (the mean of every subset and direction's accuracy), the macro the significance test reports.

The authors' CLIP ViT-B/32 (openai) numbers are printed in their `notebooks/evaluate_example_colab.ipynb` (section
4.1): i2t / t2i absolute_size 44.27 / 36.27, relative_size 34.07 / 32.47, absolute_spatial 12.64 / 12.20,
relative_spatial 27.10 / 26.75, existence 57.00 / 52.00, count 25.27 / 23.62; averages 33.39 / 30.55.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pandas as pd
import torch

from .. import blind, io, shapes, world
from . import encode, protocols

log = logging.getLogger(__name__)

# in the order the notebooks and the docs pass them (`evaluate_example_*.ipynb` section 4, evaluate_custom_model.md)
SUBSETS = ("absolute_size", "relative_size", "absolute_spatial", "relative_spatial", "existence", "count")
FILES = {"i2t": "image2text.json", "t2i": "text2image.json"}  # direction -> its file in a subset folder
LAYOUT = ("the authors' data folder (data.zip unpacked): one folder per subset (absolute_size, relative_size, "
          "absolute_spatial, relative_spatial, existence, count), each with image2text.json and text2image.json "
          "(JSON lists of {query, keys, label}) and the images they name")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "label", "predicted", "score_positive", "score_negative", "scores",
           "image", "caption", "negative_caption", "negative_image", "candidates")
# the analogue's subsets: the concepts the shapes world can say (the first object's size; the pair's relation)
SHAPES_SUBSETS = {"absolute_size": shapes.SIZES, "relative_spatial": shapes.RELATIONS}


class Case(NamedTuple):
    query: str  # the query as written: an image path (i2t) or a caption (t2i)
    keys: list  # the candidates as written: captions (i2t) or image paths (t2i), in the file's order
    label: int  # the true candidate's index in `keys`


# ---------------------------------------------------------------------------------------------------------------
# The shapes analogue


def _variant(scene: shapes.Scene, subset: str, value: str) -> shapes.Scene:
    if subset == "absolute_size":
        return shapes.Scene((dataclasses.replace(scene.objects[0], size=value), scene.objects[1]), scene.relation)
    return shapes.Scene(scene.objects, value)


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """SPEC's design in the shapes world, for the two concepts the world can say: `absolute_size` (the first object
    small or large) and `relative_spatial` (the pair left of, right of, above or below each other). Per subset,
    `options["shapes_examples"]` cases, each from a test-split scene's first two objects (stream "spec:{subset}"):
    one image per value of the concept, all drawn with the case's one layout seed, and the captions of the same
    phrasing that differ in that word alone.

    Written in the authors' layout: `{subset}/image2text.json` holds every image of a case as a query against the
    case's captions (in the values' order), `{subset}/text2image.json` every caption against the case's images;
    images in `{subset}/images/{case}_{value}.jpg`. Each caption set is the candidates of as many queries as it has
    captions, each true once: a text-only scorer, which ranks a set's captions the same whatever the image, is right
    on one query in K (a tie aside), i.e. at chance. Returns the spec {"data": ".", "subsets": [...]}."""
    n = options["shapes_examples"]
    out = Path(out_dir)
    for subset, values in SHAPES_SUBSETS.items():
        image_to_text, text_to_image = [], []
        for case, (scene, phrasing) in enumerate(world.test_scenes(world_cfg, seed, f"spec:{subset}")):
            if case == n:
                break
            pair = shapes.Scene(scene.objects[:2], scene.relation)
            captions, images = [], []
            for value in values:
                variant = _variant(pair, subset, value)
                name = f"images/{case}_{value}.jpg"
                with io.atomic_path(out / subset / name) as tmp:
                    shapes.render(variant, world_cfg["image_size"], seed=f"spec:{seed}:{subset}:{case}").save(
                        tmp, format="JPEG", quality=95)
                captions.append(shapes.describe(variant, phrasing))
                images.append(name)
            image_to_text += [{"query": image, "keys": captions, "label": k} for k, image in enumerate(images)]
            text_to_image += [{"query": caption, "keys": images, "label": k} for k, caption in enumerate(captions)]
        io.write_json(out / subset / FILES["i2t"], image_to_text)
        io.write_json(out / subset / FILES["t2i"], text_to_image)
    return {"data": ".", "subsets": list(SHAPES_SUBSETS)}


# ---------------------------------------------------------------------------------------------------------------
# Reading the authors' files


def _cases(path: Path, direction: str) -> list[Case]:
    """The cases of one file. ValueError unless it is a non-empty JSON list of {query: str, keys: [str, ...] (at
    least two, as many in every case), label: an int indexing keys}."""
    what = f"SPEC {path.parent.name}/{path.name}"
    entries = encode.read_json(path, what)
    encode.require_fields(entries, ("query", "keys", "label"), what)
    if not entries:
        raise ValueError(f"{what}: no case")
    cases = []
    for i, e in enumerate(entries):
        keys, label = e["keys"], e["label"]
        if not isinstance(e["query"], str) or not e["query"]:
            raise ValueError(f"{what}: case {i} has query {e['query']!r}; expected "
                             f"{'an image path' if direction == 'i2t' else 'a caption'}")
        if not isinstance(keys, list) or len(keys) < 2 or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"{what}: case {i} has keys {keys!r}; expected a list of at least two "
                             f"{'captions' if direction == 'i2t' else 'image paths'}")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(keys):
            raise ValueError(f"{what}: case {i} has label {label!r}; expected the index (0 to {len(keys) - 1}) of "
                             f"the true one among its keys")
        if len(keys) != len(entries[0]["keys"]):
            raise ValueError(f"{what}: case {i} has {len(keys)} keys, case 0 {len(entries[0]['keys'])}; the "
                             f"authors' loader stacks a batch's candidates, so every case of a file has as many")
        cases.append(Case(e["query"], list(keys), label))
    return cases


def _image(subset: str, written: str) -> str:
    """An image as the table names it: its path inside the data folder, "{subset}/{path}" (absolute as given)."""
    path = PurePosixPath(written.replace("\\", "/"))
    return str(path) if path.is_absolute() else f"{subset}/{path}"


def load(spec: dict, root: str | Path = ".") -> tuple[dict[tuple[str, str], list[Case]], Path]:
    """({(subset, direction): cases}, the data folder), subsets in the spec's order, i2t before t2i.

    Raises ValueError when the spec names no `data`, or a subset outside `SUBSETS`, or a file is malformed
    (`_cases`); FileNotFoundError when the folder, a subset's folder or file, or any image is missing (naming the
    layout expected). Every image is checked before anything is encoded."""
    if not spec.get("data"):
        raise ValueError(f"SPEC: the spec names no `data` (expected {LAYOUT})")
    subsets = list(spec.get("subsets") or SUBSETS)
    unknown = [s for s in subsets if s not in SUBSETS]
    if unknown:
        raise ValueError(f"SPEC: subset(s) {', '.join(map(repr, unknown))} are none of {', '.join(SUBSETS)}")
    data = encode.resolve(root, spec["data"])
    if not data.is_dir():
        raise FileNotFoundError(f"SPEC data: expected {LAYOUT} at {data}, found "
                                f"{'a file' if data.exists() else 'nothing'}")
    missing = [s for s in subsets if not (data / s).is_dir()]
    if missing:
        found = sorted(p.name for p in data.iterdir())[:10]
        hint = (f"; {data / 'data'} holds them: set `data` to that folder" if all(
            (data / "data" / s).is_dir() for s in missing) else "")
        raise FileNotFoundError(f"SPEC data: {data} holds no folder {', '.join(missing)} (found {found or 'nothing'})"
                                f"; expected {LAYOUT}{hint}")
    out = {}
    for subset in subsets:
        for direction, file in FILES.items():
            out[subset, direction] = _cases(data / subset / file, direction)
    images = [data / _image(s, p) for (s, d), cases in out.items() for c in cases
              for p in ([c.query] if d == "i2t" else c.keys)]
    encode.require_files(list(dict.fromkeys(images)), f"SPEC images in {data} (paths inside each subset folder)")
    log.info("SPEC: %s", ", ".join(f"{s} {d} {len(c)}" for (s, d), c in out.items()))
    return out, data


# ---------------------------------------------------------------------------------------------------------------
# The protocol


def rows(subset: str, direction: str, cases: list[Case], scores: torch.Tensor) -> list[dict]:
    """The table's rows of one file from its scores (N, K), candidates in the file's order: the prediction is the
    argmax, the first of equal maxima (clip_wrapper.py lines 50-51, 91-92); right iff it is the label."""
    out = []
    for i, (case, row) in enumerate(zip(cases, scores.tolist())):
        predicted = max(range(len(row)), key=lambda k: (row[k], -k))  # the first maximal index, as torch's argmax
        others = [k for k in range(len(row)) if k != case.label]
        best = max(others, key=lambda k: (row[k], -k))
        image_of = (lambda k: _image(subset, case.keys[k])) if direction == "t2i" else None
        out.append({
            "category": f"{subset}_{direction}", "sample_id": str(i), "correct": predicted == case.label,
            "label": case.label, "predicted": predicted, "score_positive": row[case.label],
            "score_negative": row[best], "scores": row,
            "image": _image(subset, case.query) if direction == "i2t" else image_of(case.label),
            "caption": case.keys[case.label] if direction == "i2t" else case.query,
            "negative_caption": case.keys[best] if direction == "i2t" else None,
            "negative_image": image_of(best) if direction == "t2i" else None,
            "candidates": case.keys})
    return out


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): per subset and direction the accuracy (%), the means over subsets `i2t` and
    `t2i`, and `avg` (`metrics_from_samples` of the table); details {"{subset}_{direction}": {"cases",
    "candidates"}}; the table, one row per case, files in `load`'s order, each in its order, columns `COLUMNS`.
    Each distinct image and caption is encoded once."""
    data, folder = load(spec, root)
    paths, image_row = encode.index([folder / _image(s, p) for (s, d), cases in data.items() for c in cases
                                     for p in ([c.query] if d == "i2t" else c.keys)])
    captions, caption_row = encode.index([t for (s, d), cases in data.items() for c in cases
                                          for t in (c.keys if d == "i2t" else [c.query])])
    image_features = encode.images(model, preprocess, paths, batch_size, device)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    tables, details = [], {}
    for (subset, direction), cases in data.items():
        if direction == "i2t":
            anchors = image_features[[image_row[folder / _image(subset, c.query)] for c in cases]]
            candidates = text_features[torch.tensor([[caption_row[k] for k in c.keys] for c in cases])]
        else:
            anchors = text_features[[caption_row[c.query] for c in cases]]
            candidates = image_features[torch.tensor([[image_row[folder / _image(subset, k)] for k in c.keys]
                                                      for c in cases])]
        scores = protocols.candidate_scores(anchors, candidates)
        tables.append(pd.DataFrame(rows(subset, direction, cases, scores), columns=COLUMNS))
        details[f"{subset}_{direction}"] = {"cases": len(cases), "candidates": len(cases[0].keys)}
    table = pd.concat(tables, ignore_index=True)
    return metrics_from_samples(table), details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{"{subset}_{direction}"}: each category's accuracy, 100 x correct / cases (clip_wrapper.py lines 56, 97), in
    the table's order; then "i2t" and "t2i", the mean over subsets of each direction's accuracy (eval.py lines
    41-52), and "avg", the mean of every category's accuracy (of i2t and t2i when every subset has both).

    Columns, one row per case: category ("{subset}_i2t" from image2text.json, "{subset}_t2i" from
    text2image.json), sample_id (the case's index in its file), correct (bool: the argmax, the first of equal
    scores, is the label), label and predicted (candidate indices in the file's order), score_positive (the cosine
    similarity of the query and the true candidate), score_negative (that of the best false candidate, the first of
    equal ones), scores (every candidate's, in order); image (i2t: the query image; t2i: the true image; a path
    inside the data folder, "{subset}/{path as written}"), caption (i2t: the true caption; t2i: the query),
    negative_caption (i2t: the best false caption; t2i: None), negative_image (t2i: the best false image; i2t:
    None), candidates (the keys as written)."""
    metrics, by_direction = {}, {"i2t": [], "t2i": []}
    for category, part in samples.groupby("category", sort=False):
        subset, direction = category.rsplit("_", 1)
        metrics[category] = 100 * int(part["correct"].astype(bool).sum()) / len(part)
        by_direction[direction].append(metrics[category])
    for direction, values in by_direction.items():
        if values:
            metrics[direction] = sum(values) / len(values)
    accuracies = [metrics[c] for c in pd.unique(samples["category"])]
    metrics["avg"] = sum(accuracies) / len(accuracies)
    return metrics


def score_blind(items: pd.DataFrame, scorer, model: str) -> pd.DataFrame:
    """A per-sample table `items` (columns `COLUMNS`) scored by a text-only scorer (tripletclip.blind), whose scores
    replace the model's. Image-to-text: each candidate caption's score, right iff the true one scores highest; a tie
    among the best is right with probability one over the number tied (`blind.tie_break`, as every blind row).
    Text-to-image: the scorer sees no image, so its K candidates tie: right with probability 1/K."""
    out = items.copy()
    verdicts, predicted, positive, negative, all_scores, negative_captions = [], [], [], [], [], []
    for category, caption, candidates, label in zip(items["category"], items["caption"], items["candidates"],
                                                     items["label"]):
        label = int(label)
        if category.endswith("_i2t"):
            scores = [float(scorer.score(c)) for c in candidates]
        else:
            scores = [0.0] * len(candidates)
        others = [k for k in range(len(scores)) if k != label]
        best = max(others, key=lambda k: (scores[k], -k))
        tied = sum(s == scores[label] for s in scores)
        top = max(scores)
        if scores[label] < top:
            correct = False
        else:
            correct = tied == 1 or blind.tie_break(model, caption, str(candidates[best]), tied)
        verdicts.append(bool(correct))
        predicted.append(label if correct else best)
        positive.append(scores[label])
        negative.append(scores[best])
        all_scores.append(scores)
        negative_captions.append(candidates[best] if category.endswith("_i2t") else None)
    out["correct"], out["predicted"], out["score_positive"], out["score_negative"] = (verdicts, predicted, positive,
                                                                                      negative)
    out["scores"], out["negative_caption"] = all_scores, negative_captions
    return out
