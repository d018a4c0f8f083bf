"""The negate stage: one hard-negative caption per downloaded sample.

A backend maps (key, caption) to (negative caption, negative type) or raises NegationError with a reason that the
shard stats count. This issue's backend is the rule negator of the shapes world, the stand-in for the LLM: it sees
only the caption, as an LLM would.
"""

from __future__ import annotations

import collections
import logging
from typing import Protocol, Sequence

from tqdm import tqdm

from . import io, shapes

log = logging.getLogger(__name__)


class NegationError(Exception):
    """A caption that got no negative; `reason` is the key it is counted under in the stats."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


class Negator(Protocol):
    name: str

    def __call__(self, key: str, caption: str) -> tuple[str, str]: ...


class ShapesNegator:
    """Rule-based negatives for captions of the shapes world: parse, perturb the scene, describe it with the
    positive's own wording. The type is drawn uniformly among those that apply, seeded by the sample key."""

    name = "shapes"

    def __init__(self, types: Sequence[str] = shapes.NEGATIVE_TYPES, seed: int = 0,
                 forbidden: frozenset = frozenset()):
        unknown = set(types) - set(shapes.NEGATIVE_TYPES)
        if unknown:
            raise ValueError(f"unknown negative types {sorted(unknown)}; expected some of {shapes.NEGATIVE_TYPES}")
        self.types, self.seed, self.forbidden = tuple(types), seed, forbidden

    def __call__(self, key: str, caption: str) -> tuple[str, str]:
        try:
            scene, phrasing = shapes.parse(caption)
        except shapes.CaptionError as e:
            raise NegationError("unparsable", str(e)) from None
        rng = shapes.keyed_rng("negate", self.seed, key)
        kinds = shapes.applicable_types(scene, self.types, self.forbidden)
        if not kinds:
            raise NegationError("no_applicable_type")
        kind = rng.choice(kinds)
        return shapes.describe(shapes.negative(scene, kind, rng, self.forbidden), phrasing), kind


def make_negator(backend: str, **options) -> Negator:
    if backend == "shapes":
        return ShapesNegator(**options)
    raise ValueError(f"unknown negation backend {backend!r}; expected 'shapes'")


def negate_shard(shard: str, output: str, stats_path: str, negator: Negator) -> dict:
    """Write one JSON line per sample of `shard` (key, caption, neg_caption, neg_type, backend, status) and the
    shard's stats: in = negated + sum(failed)."""
    errors: list[str] = []
    rows, failed, by_type = [], collections.Counter(), collections.Counter()
    samples = sorted(io.iter_shard(shard, errors), key=lambda s: s["__key__"])  # stable output across runs
    for sample in tqdm(samples, desc=f"negate {shard}", unit="caption", mininterval=5):
        key = sample["__key__"]
        row = {"key": key, "caption": None, "neg_caption": None, "neg_type": None, "backend": negator.name}
        try:
            if "txt" not in sample:
                raise NegationError("missing_caption")
            row["caption"] = sample["txt"].decode("utf-8", errors="replace")
            row["neg_caption"], row["neg_type"] = negator(key, row["caption"])
            row["status"] = "ok"
            by_type[row["neg_type"]] += 1
        except NegationError as e:
            row["status"] = e.reason
            failed[e.reason] += 1
            log.debug("%s: no negative (%s)", key, e)
        rows.append(row)
    io.write_jsonl(output, rows)
    stats = {
        "in": len(rows), "negated": sum(by_type.values()), "failed": dict(failed), "by_type": dict(by_type),
        "backend": negator.name, "input_errors": errors,
    }
    io.write_json(stats_path, stats)
    for e in errors:
        log.error("input shard: %s", e)
    log.info("%s: negated %d of %d captions %s", shard, stats["negated"], stats["in"], dict(failed) or "")
    return stats
