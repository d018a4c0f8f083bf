"""Rewrites of shapes-world captions, the embedded default's stand-in for LaCLIP's LLM: the same scene in other words.

A rewrite changes the wording (another sentence frame, relation phrase or joiner; shapes.FRAMES, RELATION_PHRASES,
JOINERS) and may state the relation from the other object's side: "a red circle left of a blue square" is "a blue
square right of a red circle" (left/right and above/below are each other's inverse). Every rewrite parses back to
the caption's scene, up to that inversion (`canonical`), and none is the caption itself.
"""

from __future__ import annotations

from typing import Sequence

from .. import shapes
from .base import Outcome

INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def inverted(scene: shapes.Scene) -> shapes.Scene:
    """The same scene told from its second object: the two related objects swapped, the relation inverted."""
    a, b, *rest = scene.objects
    return shapes.Scene((b, a, *rest), INVERSE[scene.relation])


def canonical(scene: shapes.Scene) -> shapes.Scene:
    """One name for a scene and its inversion: the one whose relation is left or above."""
    return scene if scene.relation in ("left", "above") else inverted(scene)


def wordings(scene: shapes.Scene) -> list[str]:
    """Every caption of `scene` and of its inversion that the grammar can write, without repeats, in a fixed order."""
    joiners = range(len(shapes.JOINERS)) if len(scene.objects) > 2 else (0,)
    texts = (shapes.describe(s, shapes.Phrasing(frame, rel, joiner))
             for s in (scene, inverted(scene)) for frame in range(len(shapes.FRAMES))
             for rel in range(len(shapes.RELATION_PHRASES[s.relation])) for joiner in joiners)
    return list(dict.fromkeys(texts))


class ShapesParaphraser:
    """K distinct rewrites per caption, drawn among its scene's other wordings, seeded by (seed, sample key)."""

    name = "shapes"

    def __init__(self, num_rewrites: int = 4, seed: int = 0):
        self.k, self.seed = num_rewrites, seed

    def rewrite(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        return [self._one(key, caption) for key, caption in items]

    def _one(self, key: str, caption: str) -> Outcome:
        try:
            scene, _ = shapes.parse(caption)
        except shapes.CaptionError:
            return Outcome.of([], self.k, self.name, none="unparsable")
        own = shapes.normalize(caption)
        others = [text for text in wordings(scene) if text != own]
        rng = shapes.keyed_rng("rewrite", self.seed, key)
        return Outcome.of(rng.sample(others, min(self.k, len(others))), self.k, self.name)
