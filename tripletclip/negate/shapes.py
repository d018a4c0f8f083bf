"""Rule negatives for captions of the shapes world, the embedded default's stand-in for the LLM: parse, perturb the
scene, describe it with the positive's own wording. It sees only the caption, as an LLM would."""

from __future__ import annotations

import re
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


class WithoutCombos:
    """Another negator (rules, an LLM) run on the shapes world's captions, its negatives that name a held-out
    colour-shape combination ("a small red star", "red stars") dropped: the world keeps those out of all training
    text, negatives included, or a negative would teach that the benchmark's true captions are false. A dropped
    negative is counted as rejected `heldout`; a caption left with none fails as `heldout`."""

    def __init__(self, negator, forbidden: frozenset):
        self.negator, self.name = negator, negator.name
        self.pattern = re.compile("|".join(rf"\b{colour}(?:\s+\w+)?\s+{shape}s?\b" for colour, shape in forbidden),
                                  re.I) if forbidden else None

    def negate(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        outcomes = self.negator.negate(items)
        if self.pattern is None:
            return outcomes
        for outcome in outcomes:
            kept = [n for n in outcome.negatives if not self.pattern.search(n["text"])]
            outcome.rejected += ["heldout"] * (len(outcome.negatives) - len(kept))
            if outcome.negatives and not kept:
                outcome.status = "heldout"
            outcome.negatives = kept
        return outcomes
