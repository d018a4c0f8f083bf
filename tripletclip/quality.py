"""The optional filter stage (TripletCLIP §4.5, the high-quality subset): each packed triplet scored by an open_clip
model as (s(x, y) + s(x', y')) / 2, s the cosine of an image's and its caption's features, and only the best kept.

Scoring is per shard (`score_shard`); the cut is global (`filter_shards`): the top `keep_top_k` triplets, or the top
`keep_fraction` of them, over all shards. Kept triplets carry their scores in their json metadata.
"""

from __future__ import annotations

import json
import logging

import torch

from . import data, io
from .evals import encode

log = logging.getLogger(__name__)


@torch.no_grad()
def score_shard(tar: str, model, preprocess, tokenizer, batch_size: int = 256, device: str = "cpu") -> dict:
    """{key: {"pos": s(x, y), "neg": s(x', y'), "score": their mean}} for every triplet of `tar`."""
    samples = [(s["__key__"], fields) for s in io.iter_shard(tar) if (fields := data.triplet_fields(s))]
    if not samples:
        return {}
    captions = [caption.decode() for _, (_, caption, _, _) in samples]
    # the negative caption neg.jpg draws: the first line of ours, TripletData's only one
    negatives = [neg_caption.decode().split("\n")[0] for _, (_, _, _, neg_caption) in samples]
    images = [image for _, (image, _, _, _) in samples] + [neg_image for _, (_, _, neg_image, _) in samples]
    image_features = encode.images(model, preprocess, images, batch_size, device, load=io.decode_image,
                                   desc=f"score {tar}")
    text_features = encode.texts(model, tokenizer, captions + negatives, batch_size, device)
    sims = (image_features * text_features).sum(dim=1)
    n = len(samples)
    return {key: {"pos": round(float(sims[i]), 6), "neg": round(float(sims[n + i]), 6),
                  "score": round(float(sims[i] + sims[n + i]) / 2, 6)} for i, (key, _) in enumerate(samples)}


def kept_keys(scores: dict[str, dict], keep_fraction: float = 0.5, keep_top_k: int | None = None) -> set[str]:
    """The keys of the best triplets: the top `keep_top_k` if set, else the top `keep_fraction`. Ties are broken by
    key, so the cut is the same on every run."""
    n = min(keep_top_k, len(scores)) if keep_top_k is not None else round(keep_fraction * len(scores))
    ranked = sorted(scores, key=lambda k: (-scores[k]["score"], k))
    return set(ranked[:n])


def filter_shards(pack_tars: list[str], score_jsons: list[str], out_tars: list[str], stats_path: str,
                  plot_path: str, keep_fraction: float = 0.5, keep_top_k: int | None = None) -> dict:
    per_shard = [io.read_json(p) for p in score_jsons]
    # keyed by shard and key: shards that others wrote (TripletData's) need not have keys unique across shards
    everything = {f"{i}/{k}": v for i, shard in enumerate(per_shard) for k, v in shard.items()}
    keep = kept_keys(everything, keep_fraction, keep_top_k)
    kept_per_shard = []
    for i, (tar, out) in enumerate(zip(pack_tars, out_tars)):
        kept = 0
        with io.shard_writer(out) as sink:
            for sample in io.iter_shard(tar):
                if f"{i}/{sample['__key__']}" in keep:
                    meta = json.loads(sample.get("json", b"{}"))
                    meta["quality"] = everything[f"{i}/{sample['__key__']}"]
                    sink.write({**sample, "json": meta})
                    kept += 1
        kept_per_shard.append(kept)
    threshold = min((everything[k]["score"] for k in keep), default=None)
    stats = {"in": len(everything), "kept": len(keep), "dropped": {"below_threshold": len(everything) - len(keep)},
             "threshold": threshold, "keep_fraction": keep_fraction, "keep_top_k": keep_top_k,
             "kept_per_shard": kept_per_shard}
    plot_scores(everything, threshold, plot_path)
    io.write_json(stats_path, stats)
    log.info("kept %d of %d triplets (score >= %s)", len(keep), len(everything), threshold)
    return stats


def plot_scores(scores: dict[str, dict], threshold: float | None, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, label in (("score", "(s(x, y) + s(x', y')) / 2"), ("pos", "s(x, y)"), ("neg", "s(x', y')")):
        ax.hist([v[name] for v in scores.values()], bins=40, histtype="step" if name != "score" else "stepfilled",
                alpha=0.5 if name == "score" else 1.0, label=label)
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle="--", label=f"kept from {threshold:.3f}")
    ax.set_xlabel("cosine similarity of image and caption (scorer)")
    ax.set_ylabel("triplets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
