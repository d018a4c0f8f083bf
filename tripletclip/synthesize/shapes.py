"""The shapes renderer, the embedded default's stand-in for the text-to-image model: it parses the caption and draws
exactly what it says."""

from __future__ import annotations

from typing import Sequence

from PIL import Image

from .. import shapes


class ShapesSynthesizer:
    """Per-sample seed from the key, so a redraw is identical."""

    name = "shapes"

    def __init__(self, image_size: int = 64, seed: int = 0):
        self.image_size, self.seed = image_size, seed
        self.settings = {"image_size": image_size, "seed": seed}

    def synthesize(self, items: Sequence[tuple[str, str]]) -> list[Image.Image | str]:
        return [self._one(key, caption) for key, caption in items]

    def _one(self, key: str, caption: str) -> Image.Image | str:
        try:
            scene, _ = shapes.parse(caption)
        except shapes.CaptionError:
            return "unparsable"
        return shapes.render(scene, self.image_size, seed=f"synthesize:{self.seed}:{key}")
