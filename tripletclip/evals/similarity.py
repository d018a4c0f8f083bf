"""How close each positive lies to its hard negative inside each encoder (TripletCLIP Fig. 4/5): the cosine
similarity of an image and its negative image, and of a caption and its negative caption.

Format: triplet webdataset shards, ours (jpg, txt, neg.jpg, neg.txt) or TripletData's (image, caption, neg_image,
neg_caption); the first `samples` complete triplets are used, and a caption with several negatives (one per line)
is compared with the first. Lower similarity means the encoder keeps the pair further apart.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pandas as pd

from .. import io, shapes, world
from ..data import triplet_fields
from . import encode

log = logging.getLogger(__name__)

# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "cosine", "shard", "caption", "negative_caption")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Test-split triplets, one negative of a random type each, rendered, in our packed shard format."""
    rng = shapes.keyed_rng("similarity", seed)
    scenes = itertools.islice(world.test_scenes(world_cfg, seed, "similarity"), options["samples"])
    with io.shard_writer(Path(out_dir) / "triplets.tar") as sink:
        for i, (scene, phrasing) in enumerate(scenes):
            kind = rng.choice(shapes.applicable_types(scene, shapes.NEGATIVE_TYPES))
            neg = shapes.negative(scene, kind, rng)
            size = world_cfg["image_size"]
            sink.write({"__key__": f"sim{i:06d}", "txt": shapes.describe(scene, phrasing),
                        "neg.txt": shapes.describe(neg, phrasing), "neg_type.txt": kind,
                        "jpg": io.encode_jpeg(shapes.render(scene, size, seed=f"similarity:{seed}:{i}")),
                        "neg.jpg": io.encode_jpeg(shapes.render(neg, size, seed=f"similarity:{seed}:{i}:neg"))})
    return {"shards": ["triplets.tar"], "samples": options["samples"]}


def _read(shards: list[Path], samples: int) -> tuple[list, list[tuple[int, str]], dict]:
    """The first `samples` complete triplets' fields, each one's (shard's index in `shards`, key), and counts."""
    triplets, where, counts, errors = [], [], {"read": 0, "skipped": 0}, []
    for index, shard in enumerate(shards):
        for sample in io.iter_shard(shard, errors):
            counts["read"] += 1
            fields = triplet_fields(sample)
            if fields is None:
                counts["skipped"] += 1
                continue
            triplets.append(fields)
            where.append((index, sample["__key__"]))
            if len(triplets) == samples:
                break
        if len(triplets) == samples:
            break
    for e in errors:
        log.error("%s", e)
    counts["errors"] = errors
    return triplets, where, counts


def _split(triplets: list) -> tuple[list, list[str], list, list[str]]:
    images, captions, neg_images, neg_captions = zip(*triplets) if triplets else ((), (), (), ())
    return (list(images), [c.decode().strip() for c in captions], list(neg_images),
            [c.decode().strip().split("\n")[0] for c in neg_captions])


def load(shards: list[Path], samples: int) -> tuple[list, list[str], list, list[str], dict]:
    """(images, captions, negative images, negative captions) of the first `samples` triplets, and counts."""
    triplets, _, counts = _read(shards, samples)
    return (*_split(triplets), counts)


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): image_mean / text_mean, the mean cosine similarity of positive and negative
    (`metrics_from_samples` of the table); details: every value ("image", "text": lists, rounded to 5 places, in
    the triplets' order) and the counts ("read", "skipped", "errors"); the table, one row per triplet and encoder
    (the images' rows, then the captions'), columns `COLUMNS`."""
    triplets, where, counts = _read([encode.resolve(root, s) for s in spec["shards"]], spec.get("samples", 1000))
    if not triplets:
        raise ValueError(f"no complete triplet in {spec['shards']}")
    images, captions, neg_images, neg_captions = _split(triplets)
    img = encode.images(model, preprocess, images + neg_images, batch_size, device, load=io.decode_image)
    txt = encode.texts(model, tokenizer, captions + neg_captions, batch_size, device)
    n = len(images)
    image_sim = (img[:n] * img[n:]).sum(-1).tolist()  # float32 values, exact as python floats
    text_sim = (txt[:n] * txt[n:]).sum(-1).tolist()
    # the shard as the spec names it, so that the table does not depend on where the spec's folder lies
    table = pd.DataFrame([{"category": category, "sample_id": key, "cosine": value, "shard": str(spec["shards"][shard]),
                           "caption": caption, "negative_caption": negative}
                          for category, values in (("image", image_sim), ("text", text_sim))
                          for value, (shard, key), caption, negative in zip(values, where, captions, neg_captions)],
                         columns=COLUMNS)
    details = {"image": [round(v, 5) for v in image_sim], "text": [round(v, 5) for v in text_sim], **counts}
    return metrics_from_samples(table), details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{category}_mean: image_mean and text_mean, the mean cosine over the category's rows.

    Columns, one row per triplet and encoder: category ("image": the image and its negative image, by the image
    encoder; "text": the caption and its first negative caption, by the text encoder), sample_id (the triplet's
    webdataset key), cosine (their cosine similarity), shard (as the spec names it), caption, negative_caption
    (the triplet's, on both rows). No `correct`: nothing is right or wrong here, lower only keeps them apart."""
    # float32 means, as the metrics were first computed: the same floats
    return {f"{category}_mean": encode.mean32(rows.to_numpy())
            for category, rows in samples.groupby("category", sort=False)["cosine"]}
