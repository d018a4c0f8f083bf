"""What'sUp (Kamath, Hessel and Chang, EMNLP 2023, arXiv 2310.19785): its six datasets in the authors' layout, their
protocol for CLIP-like models, and the shapes world's analogue of Controlled-A/B.

Layout (amitakamath/whatsup_vlms at 7c1f255; `dataset_zoo/aro_datasets.py`, cited below as `aro_datasets.py`): one
folder, the authors' `data/` (`dataset_zoo/constants.py` line 1, `ARO_ROOT = "data"`), holding

- `controlled_images_dataset.json` + `controlled_images/` (Controlled-A, photographs; lines 354-356) and
  `controlled_clevr_dataset.json` + `controlled_clevr/` (Controlled-B, CLEVR renders; lines 369-370): a JSON list
  of {"image_path", "caption_options"}. `image_path` is opened as it is written (line 431), relative to the
  authors' working directory, i.e. "data/controlled_images/beer-bottle_on_armchair.jpeg": here a leading "data/"
  (ARO_ROOT) stands for the spec's `data` folder, another relative path is read inside that folder, an absolute
  one as it is. Four captions per image, one per relation (A: on, under, left of, right of; B: in front of,
  behind, left of, right of).
- `coco_qa_one_obj.json` / `coco_qa_two_obj.json` + `val2017/` (COCO-spatial, lines 523-528): a JSON list of
  [image id, true caption, false caption]; the image is `val2017/{str(id).zfill(12)}.jpg` (line 565), the options
  [entry[1], entry[2]] (line 569).
- `vg_qa_one_obj.json` / `vg_qa_two_obj.json` + `vg_images/` (GQA-spatial, lines 625-630): the same lists; the
  image is `vg_images/{id}.jpg` (line 669), the options [entry[1], entry[2]] (line 673).

The first option is always the true one (README line 16, line 43).

Protocol (`main_aro.py` lines 47-48: the scores of every option, then the dataset's `evaluate_scores`): each image's
L2-normalized embedding against each option's (`model_zoo/clip_models.py` lines 78-79, 85-86, 91: the cosine,
float32), `preds = np.argmax(...)`, right iff `preds == 0` (Controlled lines 461-462, COCO-QA 591-592, VG-QA
695-696): the true option must score highest, and a tie goes to it (argmax takes the first of equal maxima;
`protocols.choose`, ties "true"). The individual accuracy is `np.mean(correct_mask)` x 100 (lines 463-464, 593-594,
697-698). Controlled-A/B also give (lines 478-502), per object pair, the key of an image being
`(name.split('_')[0], name.split('_')[-1][:-5])` of its file name (e.g. beer-bottle_on_armchair.jpeg -> (beer-bottle,
armchair)) and its relation `name.split('_')[1]` (on, under, left, right, in-front, behind), each pair's dict
starting at {left, right, on, under: 0} (A, lines 395-398) or {left, right, in-front, behind: 0} (B, lines 415-418):
- per-pair: a pair counts once for left and right both right, once more for on and under (A) or in-front and
  behind (B) both right; `pair_correct * 100 / (len(dataset) / 2)` (line 499);
- per-set: a pair whose four relations are all right (`sum(correct_dict.values()) == 4`, line 497);
  `set_correct * 100 / (len(dataset) / 4)` (line 500).
The denominators count images, not pairs, as the authors' do; with four images per pair (the release: 412 images,
103 pairs in A; 408, 102 in B) they are the number of pairs x 2 and the number of pairs. Their per-preposition
records (lines 503-517, 596-620, 700-724) are this module's `details` (per_preposition, from the same
`all_prepositions`: lines 385-394, 406-414, 546-557, 648-661).

Table 1 of the paper "reports macro-averages of subsets of each dataset: Controlled-A and Controlled-B, COCO/GQA
one- and two-object" (README line 52): `whatsup`, `whatsup_pair`, `whatsup_set` (the means of Controlled-A's and
-B's individual, per-pair and per-set accuracies), `coco_spatial` (of COCO-QA one and two), `gqa_spatial` (of VG-QA
one and two), each where both its datasets are scored, and `avg`, the mean of the datasets' individual accuracies
(of all six: the mean of the three corpora's). The code has no such average; these are ours, after the README.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .. import io, shapes, world
from . import encode, protocols

ARO_ROOT = "data"  # dataset_zoo/constants.py line 1: what the Controlled JSONs' image paths start with


class Dataset(NamedTuple):
    file: str  # the JSON in the data folder
    images: str  # the image folder in the data folder
    kind: str  # "controlled" (dicts, image_path) or "coco" / "vg" ([id, true, false])
    subset: str  # the authors' subset: A / B (controlled), one / two (QA); "shapes": the analogue's


DATASETS = {
    "controlled_a": Dataset("controlled_images_dataset.json", "controlled_images", "controlled", "A"),
    "controlled_b": Dataset("controlled_clevr_dataset.json", "controlled_clevr", "controlled", "B"),
    "coco_qa_one": Dataset("coco_qa_one_obj.json", "val2017", "coco", "one"),
    "coco_qa_two": Dataset("coco_qa_two_obj.json", "val2017", "coco", "two"),
    "vg_qa_one": Dataset("vg_qa_one_obj.json", "vg_images", "vg", "one"),
    "vg_qa_two": Dataset("vg_qa_two_obj.json", "vg_images", "vg", "two"),
    # the shapes world's Controlled set (`build_shapes`): not one of the authors'
    "controlled_shapes": Dataset("controlled_shapes_dataset.json", "controlled_shapes", "controlled", "shapes"),
}
REAL = tuple(name for name in DATASETS if name != "controlled_shapes")  # the spec's default `datasets`
# a Controlled subset's second pair of opposite relations besides (left, right): lines 395-398, 415-418, 491-496
VERTICAL = {"A": ("on", "under"), "B": ("in-front", "behind"), "shapes": ("above", "below")}
# Table 1's macro-averages (README line 52): name -> its two datasets; "_pair" and "_set" too for whatsup
MACROS = {"whatsup": ("controlled_a", "controlled_b"), "coco_spatial": ("coco_qa_one", "coco_qa_two"),
          "gqa_spatial": ("vg_qa_one", "vg_qa_two")}
LAYOUT = ("the authors' data/ folder: controlled_images_dataset.json + controlled_images/, "
          "controlled_clevr_dataset.json + controlled_clevr/, coco_qa_one_obj.json + coco_qa_two_obj.json + "
          "val2017/, vg_qa_one_obj.json + vg_qa_two_obj.json + vg_images/")
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "caption",
           "negative_caption", "group", "pair", "relation", "scores_negative", "negative_captions")
# the analogue's relation words in file names, as Controlled-A names its images (mug_left_of_plate.jpeg)
FILE_RELATIONS = {"left": "left_of", "right": "right_of", "above": "above", "below": "below"}


# ---------------------------------------------------------------------------------------------------------------
# The shapes analogue


def _object_name(obj: shapes.Obj) -> str:
    """An object as a file-name part without "_" (the authors split file names on it): small-hollow-red-circle."""
    return "-".join([obj.size] + (["hollow"] if obj.hollow else []) + [obj.colour, obj.shape])


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Controlled-A's design in the shapes world, whose relations are What'sUp's four (left, right, above, below):
    `options["shapes_examples"]` object pairs, each the first two objects of a test-split scene (stream "whatsup":
    one of them a held-out colour-shape combination), no unordered pair twice; per pair, one image per relation and
    the same four captions (the scene's phrasing, the relation replaced), the true one first, then the other three
    in `shapes.RELATIONS` order, as the authors list theirs.

    Written as the authors' Controlled JSON: `controlled_shapes_dataset.json`, [{"image_path":
    "data/controlled_shapes/{a}_{relation}_{b}.jpeg", "caption_options": [...]}], images in `controlled_shapes/`
    (relation left_of, right_of, above, below; objects named as `_object_name`), so that the authors' pair key reads
    (a, b) and their relation word left, right, above, below. Each relation is the truth of as many images, and each
    caption set is shown once per relation: a text-only scorer, which picks the same caption of a set whatever the
    image, is right on exactly one image of four (a tie aside), i.e. at chance (25%). Returns the spec
    {"data": ".", "datasets": ["controlled_shapes"]}."""
    n = options["shapes_examples"]
    out = Path(out_dir)
    entries, scenes, seen = [], {}, set()
    for tries, (scene, phrasing) in enumerate(world.test_scenes(world_cfg, seed, "whatsup")):
        if len(seen) == n:
            break
        if tries >= 100 * n + 1000:
            raise ValueError(f"What'sUp shapes: found {len(seen)} distinct object pairs of the {n} asked "
                             f"(shapes_examples) in {tries} test scenes")
        a, b = scene.objects[:2]
        names = (_object_name(a), _object_name(b))
        if frozenset(names) in seen:
            continue
        seen.add(frozenset(names))
        for relation in shapes.RELATIONS:
            file = f"{names[0]}_{FILE_RELATIONS[relation]}_{names[1]}.jpeg"
            scenes[file] = shapes.Scene((a, b), relation)
            order = [relation] + [r for r in shapes.RELATIONS if r != relation]
            entries.append({"image_path": f"{ARO_ROOT}/{DATASETS['controlled_shapes'].images}/{file}",
                            "caption_options": [shapes.describe(shapes.Scene((a, b), r), phrasing) for r in order]})
    world.render_all(out / DATASETS["controlled_shapes"].images, scenes, world_cfg["image_size"], f"whatsup:{seed}")
    io.write_json(out / DATASETS["controlled_shapes"].file, entries)
    return {"data": ".", "datasets": ["controlled_shapes"]}


# ---------------------------------------------------------------------------------------------------------------
# Reading the authors' files


class Case(NamedTuple):
    path: Path  # the image file
    image: str  # the image as the table names it: its path inside the data folder (absolute if given so)
    options: list  # the caption options, the true one first
    group: str  # the authors' preposition (`all_prepositions`)
    pair: str | None  # Controlled: "{first}_{last}", the authors' object-pair key; else None
    relation: str | None  # Controlled: the file name's relation word, name.split('_')[1]; else None


def _controlled_image(data: Path, image_path: str) -> tuple[Path, str]:
    """(the file, its name in the table) of a Controlled `image_path`: "data/..." (ARO_ROOT) inside `data`."""
    path = PurePosixPath(image_path)
    if path.is_absolute():
        return Path(image_path), image_path
    parts = path.parts[1:] if path.parts[:1] == (ARO_ROOT,) else path.parts
    relative = "/".join(parts)
    return data / relative, relative


def _controlled_preposition(subset: str, image_path: str, relation: str) -> str:
    """`all_prepositions` of a Controlled image: aro_datasets.py lines 385-394 (A), 406-414 (B); the analogue's:
    the relation word of its file name, as written there (left_of, right_of, above, below)."""
    if subset == "shapes":
        return {"left": "left_of", "right": "right_of"}.get(relation, relation)
    if "left_of" in image_path:
        return "left_of"
    if "right_of" in image_path:
        return "right_of"
    if subset == "A":
        return "on" if "_on_" in image_path else "under"
    return "in-front_of" if "_in-front_of_" in image_path else "behind"


def _qa_preposition(kind: str, subset: str, caption: str) -> str:
    """`all_prepositions` of a QA entry from its true caption: aro_datasets.py lines 546-557 (COCO), 648-661 (VG)."""
    if subset == "one":
        return caption.split()[-1]
    for phrase, preposition in (("left of", "left"), ("right of", "right")) + (
            (("above", "above"),) if kind == "coco" else (("front of", "front"), ("behind", "behind"))):
        if phrase in caption:
            return preposition
    return "below" if kind == "coco" else "top"


def _read(name: str, data: Path) -> list[Case]:
    """The cases of one dataset in its JSON's order; ValueError for an entry not in the authors' format."""
    d = DATASETS[name]
    path = data / d.file
    what = f"What'sUp {name} ({path})"
    entries = encode.read_json(path, f"What'sUp {name}")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{what}: expected a non-empty JSON list, found "
                         f"{'an empty ' if not entries else 'a '}{type(entries).__name__}")
    cases = []
    if d.kind == "controlled":
        encode.require_fields(entries, ("image_path", "caption_options"), what)
        for i, e in enumerate(entries):
            options = e["caption_options"]
            if (not isinstance(options, list) or len(options) < 2 or not all(isinstance(c, str) for c in options)
                    or not isinstance(e["image_path"], str)):
                raise ValueError(f"{what}: entry {i} is not {{\"image_path\": str, \"caption_options\": [the true "
                                 f"caption, then the false ones]}}: {e!r}"[:500])
            file, image = _controlled_image(data, e["image_path"])
            parts = e["image_path"].split("/")[-1].split("_")
            if len(parts) < 3:
                raise ValueError(f"{what}: entry {i}'s image {e['image_path']!r} is not named as the authors' are, "
                                 f"{{object}}_{{relation}}_{{object}}.jpeg (e.g. beer-bottle_on_armchair.jpeg)")
            cases.append(Case(file, image, list(options),
                              _controlled_preposition(d.subset, e["image_path"], parts[1]),
                              f"{parts[0]}_{parts[-1][:-5]}", parts[1]))
    else:
        for i, e in enumerate(entries):
            if (not isinstance(e, list) or len(e) < 3 or not isinstance(e[1], str) or not isinstance(e[2], str)
                    or not isinstance(e[0], (int, str))):
                raise ValueError(f"{what}: entry {i} is not [image id, true caption, false caption]: {e!r}"[:500])
            # lines 565 and 669: COCO's ids padded to 12 digits, VG's as they are
            image = f"{d.images}/{str(e[0]).zfill(12) if d.kind == 'coco' else e[0]}.jpg"
            cases.append(Case(data / image, image, [e[1], e[2]], _qa_preposition(d.kind, d.subset, e[1]), None,
                              None))
    counts = sorted({len(c.options) for c in cases})
    if len(counts) > 1:
        raise ValueError(f"{what}: entries have {counts} caption options; the authors' batches need as many in each")
    return cases


def load(spec: dict, root: str | Path = ".") -> dict[str, list[Case]]:
    """{dataset: its cases} for the spec's `datasets` (default: the six of `REAL`), in that order, every image
    checked. FileNotFoundError when `data` is not a folder, when any dataset's JSON is missing (naming every missing
    one and the layout expected) or any image is; ValueError for an unknown dataset or a malformed file."""
    if not spec.get("data"):
        raise ValueError(f"What'sUp: the spec names no `data` folder (expected {LAYOUT})")
    data = encode.resolve(root, spec["data"])
    names = list(spec.get("datasets") or REAL)
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"What'sUp: unknown dataset(s) {', '.join(map(repr, unknown))}; expected some of "
                         f"{', '.join(DATASETS)}")
    if not data.is_dir():
        raise FileNotFoundError(f"What'sUp: {data} is not a folder; expected {LAYOUT}")
    missing = [f"{DATASETS[n].file} ({n})" for n in names if not (data / DATASETS[n].file).is_file()]
    if missing:
        raise FileNotFoundError(f"What'sUp: {data} lacks {len(missing)} of the {len(names)} dataset files asked "
                                f"for: {', '.join(missing)}; expected {LAYOUT} (or name fewer in `datasets`)")
    out = {}
    for name in names:
        cases = _read(name, data)
        encode.require_files([c.path for c in cases],
                             f"What'sUp {name} images (expected in {data / DATASETS[name].images})")
        out[name] = cases
    return out


# ---------------------------------------------------------------------------------------------------------------
# The protocol


def rows(name: str, cases: list[Case], scores) -> list[dict]:
    """The table's rows of one dataset from its scores (N, K), option 0 the true one: right iff the true option
    scores highest, a tie going to it (`np.argmax(...) == 0`, aro_datasets.py lines 461-462, 591-592, 695-696)."""
    choice = protocols.choose(scores, ties="true")
    out = []
    for i, (case, ok, best, row) in enumerate(zip(cases, choice.correct.tolist(), choice.closest.tolist(),
                                                  choice.scores.tolist())):
        out.append({"category": name, "sample_id": str(i), "correct": ok, "score_positive": row[0],
                    "score_negative": row[1 + best], "image": case.image, "caption": case.options[0],
                    "negative_caption": case.options[1 + best], "group": case.group, "pair": case.pair,
                    "relation": case.relation, "scores_negative": row[1:], "negative_captions": case.options[1:]})
    return out


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): per dataset its individual accuracy (%), Controlled's also `_pair` and `_set`;
    Table 1's macro-averages and `avg` (`metrics_from_samples` of the table). details {dataset: {"samples",
    "per_preposition": {preposition: accuracy %} (the authors' records), Controlled: "object_pairs"}}. The table:
    one row per image, datasets in the spec's order, each JSON's order, columns `COLUMNS`.

    spec: `data`, the authors' data/ folder; `datasets`, some of `DATASETS` (default the six of `REAL`). Each
    distinct image and caption is encoded once. A missing or malformed file or image fails before anything is
    encoded (`load`)."""
    data = load(spec, root)
    images, image_row = encode.index([c.path for cases in data.values() for c in cases])
    captions, caption_row = encode.index([o for cases in data.values() for c in cases for o in c.options])
    image_features = encode.images(model, preprocess, images, batch_size, device)
    text_features = encode.texts(model, tokenizer, captions, batch_size, device)
    tables, details = [], {}
    for name, cases in data.items():
        scores = protocols.candidate_scores(
            image_features[[image_row[c.path] for c in cases]],
            text_features[torch.tensor([[caption_row[o] for o in c.options] for c in cases])])
        table = pd.DataFrame(rows(name, cases, scores), columns=COLUMNS)
        tables.append(table)
        correct = table["correct"].to_numpy(dtype=bool)
        groups = table["group"].to_numpy()
        details[name] = {"samples": len(table), "per_preposition": {
            str(g): 100 * float(correct[groups == g].mean()) for g in np.unique(groups)}}
        if DATASETS[name].kind == "controlled":
            details[name]["object_pairs"] = int(table["pair"].nunique())
    table = pd.concat(tables, ignore_index=True)
    return metrics_from_samples(table), details, table


def _pair_and_set(rows: pd.DataFrame, subset: str) -> tuple[float, float]:
    """Controlled's per-pair and per-set accuracies (%), as aro_datasets.py lines 395-398 / 415-418 and 478-500
    compute them: each pair's dict starts at {left, right, *VERTICAL[subset]: 0}, each image sets its relation
    (a later image of the same key and relation overwriting an earlier one)."""
    pairs: dict[str, dict] = {}
    for pair in rows["pair"]:
        pairs.setdefault(pair, dict.fromkeys(("left", "right") + VERTICAL[subset], 0))
    for pair, relation, ok in zip(rows["pair"], rows["relation"], rows["correct"]):
        pairs[pair][relation] = bool(ok)
    first, second = VERTICAL[subset]
    pair_correct = set_correct = 0
    for correct_dict in pairs.values():
        if correct_dict["left"] and correct_dict["right"]:
            pair_correct += 1
        if correct_dict[first] and correct_dict[second]:
            pair_correct += 1
        if sum(correct_dict.values()) == 4:
            set_correct += 1
    return pair_correct * 100 / (len(rows) / 2), set_correct * 100 / (len(rows) / 4)


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """The metrics of a table of `evaluate`'s: per dataset in the table's order {dataset} (the individual accuracy,
    `np.mean(correct) * 100` as the authors compute it), and for a Controlled set {dataset}_pair and {dataset}_set
    (`_pair_and_set`); then Table 1's macro-averages whose two datasets are both in the table, `whatsup`,
    `whatsup_pair`, `whatsup_set` (Controlled-A and -B), `coco_spatial` (COCO-QA one and two), `gqa_spatial` (VG-QA
    one and two); then `avg`, the mean of the datasets' individual accuracies.

    Columns, one row per image: category (the dataset, a key of `DATASETS`), sample_id (the entry's index in the
    JSON), correct (bool: the true option scores highest; a tie goes to it, as the authors' argmax), score_positive
    (the cosine similarity of the image and the true caption), score_negative (that of the best-scoring false
    caption, the first of equal ones), image (its path inside the data folder: controlled_images/x.jpeg,
    val2017/000000000139.jpg, vg_images/1.jpg), caption, negative_caption (that false caption), group (the authors'
    preposition: Controlled left_of, right_of, on, under, in-front_of, behind; QA one-object the true caption's last
    word, two-object left, right, above, below (COCO) or left, right, front, behind, top (VG)), pair and relation
    (Controlled: the image's object-pair key "{first}_{last}" and relation word, from its file name; QA: None),
    scores_negative / negative_captions (lists: every false caption's score and text, in the JSON's order).
    ValueError for a dataset outside `DATASETS`."""
    metrics = {}
    for category, rows_ in samples.groupby("category", sort=False):
        if category not in DATASETS:
            raise ValueError(f"What'sUp: the table's dataset {category!r} is none of {', '.join(DATASETS)}")
        metrics[category] = float(np.mean(rows_["correct"].to_numpy(dtype=bool))) * 100
        if DATASETS[category].kind == "controlled":
            metrics[f"{category}_pair"], metrics[f"{category}_set"] = _pair_and_set(rows_,
                                                                                  DATASETS[category].subset)
    individual = [metrics[c] for c in pd.unique(samples["category"])]
    for macro, members in MACROS.items():
        if all(m in metrics for m in members):
            for suffix in ("", "_pair", "_set") if macro == "whatsup" else ("",):
                metrics[macro + suffix] = sum(metrics[m + suffix] for m in members) / len(members)
    metrics["avg"] = sum(individual) / len(individual)
    return metrics
