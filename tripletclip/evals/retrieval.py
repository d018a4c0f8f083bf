"""Image-text retrieval on Karpathy-split JSON (COCO 5k, Flickr30k 1k test): image->text and text->image R@1/5/10.

Format (Karpathy's `dataset_coco.json` / `dataset_flickr30k.json`): {"images": [{"filename", "filepath"
(COCO only), "split", "sentences": [{"raw", ...}, ...]}, ...]}; images live at image_dir/filepath/filename.
Protocol (as in CLIP's and open_clip's evaluations): an image counts as retrieved at K if any of its captions is
among its top K captions; a caption, if its own image is among its top K images.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import torch

from .. import io, shapes, world
from . import encode

KS = (1, 5, 10)
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "rank", "image", "caption", "retrieved")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Test-split scenes, each with `captions_per_image` distinct phrasings of it, as a Karpathy JSON."""
    out = Path(out_dir)
    scenes = itertools.islice(world.test_scenes(world_cfg, seed, "retrieval"), options["shapes_images"])
    rng = shapes.keyed_rng("retrieval", seed)
    images, rendered = [], {}
    for i, (scene, phrasing) in enumerate(scenes):
        captions = {shapes.describe(scene, phrasing)}
        while len(captions) < options["captions_per_image"]:
            captions.add(shapes.describe(scene, shapes.random_phrasing(rng)))
        filename = f"{i:06d}.jpg"
        rendered[filename] = scene
        images.append({"filename": filename, "filepath": "", "split": "test", "imgid": i,
                       "sentences": [{"raw": c, "tokens": c.split()} for c in sorted(captions)]})
    world.render_all(out / "images", rendered, world_cfg["image_size"], f"retrieval:{seed}")
    io.write_json(out / "dataset_shapes.json", {"dataset": "shapes", "images": images})
    return {"datasets": {"shapes": {"annotations": "dataset_shapes.json", "image_dir": "images", "split": "test"}}}


def _entries(annotations: str | Path, split: str) -> list[dict]:
    entries = [e for e in io.read_json(annotations)["images"] if e.get("split") == split]
    if not entries:
        raise ValueError(f"{annotations}: no image of split {split!r} (is it a Karpathy-split JSON?)")
    return entries


def _relative(entry: dict) -> str:
    """An entry's image as the JSON names it: filepath/filename (COCO), or filename alone (Flickr30k)."""
    return "/".join(part for part in (entry.get("filepath", ""), entry["filename"]) if part)


def load(annotations: str | Path, image_dir: str | Path, split: str = "test") -> tuple[list[Path], list[list[str]]]:
    """(image paths, their captions) of one split of a Karpathy JSON."""
    entries = _entries(annotations, split)
    paths = [Path(image_dir) / e.get("filepath", "") / e["filename"] for e in entries]
    return paths, [[s["raw"].strip() for s in e["sentences"]] for e in entries]


def ranks(similarity: torch.Tensor, caption_image: torch.Tensor) -> dict[str, torch.Tensor]:
    """From an (images x captions) similarity and each caption's image index, 0-based: i2t_rank, the rank of each
    image's best-ranked own caption, i2t_caption that caption's index and i2t_first the caption ranked first;
    t2i_rank, the rank of each caption's own image, and t2i_first the image ranked first. Equal scores keep the
    order argsort gives them."""
    n_images = similarity.shape[0]
    owns = caption_image.unsqueeze(0) == torch.arange(n_images).unsqueeze(1)  # (images, captions)
    i2t_order = similarity.argsort(dim=1, descending=True)
    i2t_rank = owns.gather(1, i2t_order).float().argmax(dim=1)
    t2i_order = similarity.T.argsort(dim=1, descending=True)
    t2i_rank = (t2i_order == caption_image.unsqueeze(1)).float().argmax(dim=1)
    return {"i2t_rank": i2t_rank, "i2t_caption": i2t_order.gather(1, i2t_rank.unsqueeze(1)).squeeze(1),
            "i2t_first": i2t_order[:, 0], "t2i_rank": t2i_rank, "t2i_first": t2i_order[:, 0]}


def recall(similarity: torch.Tensor, caption_image: torch.Tensor, ks=KS) -> dict:
    """R@K (%) both ways from an (images x captions) similarity and each caption's image index."""
    r = ranks(similarity, caption_image)
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = (r["i2t_rank"] < k).float().mean().item() * 100
    for k in ks:
        out[f"t2i_r{k}"] = (r["t2i_rank"] < k).float().mean().item() * 100
    return out


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): {dataset}_{i2t,t2i}_r{1,5,10} (%) for every dataset of the spec
    (`metrics_from_samples` of the table); details {dataset: {"images", "captions"}}; the table, one row per query
    (each dataset's images as `{dataset}_i2t`, then its captions as `{dataset}_t2i`), columns `COLUMNS`."""
    details, tables = {}, []
    for name, d in spec["datasets"].items():
        image_dir = encode.resolve(root, d["image_dir"])
        entries = _entries(encode.resolve(root, d["annotations"]), d.get("split", "test"))
        paths = [image_dir / e.get("filepath", "") / e["filename"] for e in entries]
        captions = [[s["raw"].strip() for s in e["sentences"]] for e in entries]
        flat = [c for cs in captions for c in cs]
        owner = [i for i, cs in enumerate(captions) for _ in cs]
        img = encode.images(model, preprocess, paths, batch_size, device, desc=f"{name} images")
        txt = encode.texts(model, tokenizer, flat, batch_size, device, desc=f"{name} captions")
        r = {key: value.tolist() for key, value in ranks(img @ txt.T, torch.tensor(owner)).items()}
        # ids as the Karpathy JSON gives them (imgid, sentid), positions in the split where it gives none
        image_ids = [str(e.get("imgid", i)) for i, e in enumerate(entries)]
        caption_ids = [str(s.get("sentid", j)) for j, s in enumerate(s for e in entries for s in e["sentences"])]
        images = [_relative(e) for e in entries]
        rows = [{"category": f"{name}_i2t", "sample_id": image_ids[i], "correct": rank == 0, "rank": rank + 1,
                 "image": images[i], "caption": flat[own], "retrieved": flat[first]}
                for i, (rank, own, first) in enumerate(zip(r["i2t_rank"], r["i2t_caption"], r["i2t_first"]))]
        rows += [{"category": f"{name}_t2i", "sample_id": caption_ids[j], "correct": rank == 0, "rank": rank + 1,
                  "image": images[owner[j]], "caption": flat[j], "retrieved": images[first]}
                 for j, (rank, first) in enumerate(zip(r["t2i_rank"], r["t2i_first"]))]
        tables.append(pd.DataFrame(rows, columns=COLUMNS))
        details[name] = {"images": len(paths), "captions": len(flat)}
    table = pd.concat(tables, ignore_index=True)
    return metrics_from_samples(table), details, table


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{category}_r{K} (%) for K in `KS`, the share of the category's queries whose rank is at most K, per category
    in the table's order: {dataset}_i2t_r1, _r5, _r10, then {dataset}_t2i_r1, ...

    Columns, one row per query (Karpathy's protocol, as CLIP's and open_clip's evaluations): category
    (`{dataset}_i2t`, an image querying the captions, or `{dataset}_t2i`, a caption querying the images),
    sample_id (i2t: the entry's `imgid`, t2i: the sentence's `sentid`; the position in the split's images / captions
    where the JSON has none), rank (1-based: i2t, the rank of the best-ranked of the image's own captions; t2i, that
    of the caption's own image), correct (bool: rank == 1), image (the query image / the caption's own image, as
    the JSON names it: filepath/filename), caption (the query caption / the image's best-ranked own caption),
    retrieved (what ranks first: a caption for i2t, an image for t2i)."""
    metrics = {}
    for category, rank in samples.groupby("category", sort=False)["rank"]:
        for k in KS:
            # a float32 mean, as recall() computes it: the same floats
            metrics[f"{category}_r{k}"] = encode.mean32(rank.to_numpy() <= k) * 100
    return metrics
