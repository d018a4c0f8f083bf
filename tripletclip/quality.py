"""The optional filter stage (TripletCLIP §4.5, the high-quality subset): each packed triplet scored by an open_clip
model as (s(x, y) + s(x', y')) / 2, s the cosine of an image's and its caption's features, and only the best kept.

Scoring is per shard (`score_shard`); the cut is global (`filter_shards`): the top `keep_top_k` triplets, or the top
`keep_fraction` of them, over all shards. Kept triplets carry their scores in their json metadata.
"""

from __future__ import annotations

import json
import logging

import torch

from . import io
from .evals import encode

log = logging.getLogger(__name__)


@torch.no_grad()
def score_shard(tar: str, model, preprocess, tokenizer, batch_size: int = 256, device: str = "cpu") -> dict:
    """{key: {"pos": s(x, y), "neg": s(x', y'), "score": their mean}} for every triplet of `tar`."""
    samples = list(io.iter_shard(tar))
    if not samples:
        return {}
    captions = [s["txt"].decode() for s in samples]
    negatives = [s["neg.txt"].decode().split("\n")[0] for s in samples]  # the one neg.jpg draws
    image_features = encode.images(model, preprocess, [s["jpg"] for s in samples] + [s["neg.jpg"] for s in samples],
                                   batch_size, device, load=io.decode_image, desc=f"score {tar}")
    text_features = encode.texts(model, tokenizer, captions + negatives, batch_size, device)
    sims = (image_features * text_features).sum(dim=1)
    n = len(samples)
    return {s["__key__"]: {"pos": round(float(sims[i]), 6), "neg": round(float(sims[n + i]), 6),
                           "score": round(float(sims[i] + sims[n + i]) / 2, 6)} for i, s in enumerate(samples)}


def kept_keys(scores: dict[str, dict], keep_fraction: float = 0.5, keep_top_k: int | None = None) -> set[str]:
    """The keys of the best triplets: the top `keep_top_k` if set, else the top `keep_fraction`. Ties are broken by
    key, so the cut is the same on every run."""
    n = min(keep_top_k, len(scores)) if keep_top_k is not None else round(keep_fraction * len(scores))
    ranked = sorted(scores, key=lambda k: (-scores[k]["score"], k))
    return set(ranked[:n])


def filter_shards(pack_tars: list[str], score_jsons: list[str], out_tars: list[str], stats_path: str,
                  plot_path: str, keep_fraction: float = 0.5, keep_top_k: int | None = None) -> dict:
    per_shard = [io.read_json(p) for p in score_jsons]
    everything = {k: v for shard in per_shard for k, v in shard.items()}
    keep = kept_keys(everything, keep_fraction, keep_top_k)
    kept_per_shard = []
    for tar, out in zip(pack_tars, out_tars):
        kept = 0
        with io.shard_writer(out) as sink:
            for sample in io.iter_shard(tar):
                if sample["__key__"] in keep:
                    meta = json.loads(sample.get("json", b"{}"))
                    meta["quality"] = everything[sample["__key__"]]
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
