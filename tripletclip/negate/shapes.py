"""Rule negatives for captions of the shapes world, the embedded default's stand-in for the LLM: parse, perturb the
scene, describe it with the positive's own wording. It sees only the caption, as an LLM would."""

from __future__ import annotations

from typing import Sequence

from .. import shapes
from .base import Outcome


class ShapesNegator:
    """Up to K negatives of distinct types per caption, each type drawn uniformly among those that apply, seeded by
    the sample key."""

    name = "shapes"

    def __init__(self, types: Sequence[str] = shapes.NEGATIVE_TYPES, num_negatives: int = 1, seed: int = 0,
                 forbidden: frozenset = frozenset()):
        unknown = set(types) - set(shapes.NEGATIVE_TYPES)
        if unknown:
            raise ValueError(f"unknown negative types {sorted(unknown)}; expected some of {shapes.NEGATIVE_TYPES}")
        self.types, self.k, self.seed, self.forbidden = tuple(types), num_negatives, seed, forbidden

    def negate(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        return [self._one(key, caption) for key, caption in items]

    def _one(self, key: str, caption: str) -> Outcome:
        try:
            scene, phrasing = shapes.parse(caption)
        except shapes.CaptionError:
            return Outcome.failed("unparsable", self.name)
        rng = shapes.keyed_rng("negate", self.seed, key)
        kinds = list(shapes.applicable_types(scene, self.types, self.forbidden))
        negatives = []
        # One type at a time, each negative drawn before the next type: K = 1 gives the same negatives as ever.
        while kinds and len(negatives) < self.k:
            kind = rng.choice(kinds)
            kinds.remove(kind)
            text = shapes.describe(shapes.negative(scene, kind, rng, self.forbidden), phrasing)
            negatives.append({"text": text, "type": kind})
        if not negatives:
            return Outcome.failed("no_applicable_type", self.name)
        return Outcome(negatives, backend=self.name)
