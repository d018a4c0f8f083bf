"""The synthesize stage: a negative image for every negative caption.

A backend maps (key, caption) to a PIL image or raises SynthesisError with a counted reason. This issue's backend is
the shapes renderer, the stand-in for the text-to-image model: it parses the caption and draws exactly what it says.
"""

from __future__ import annotations

import collections
import logging
from typing import Protocol

from PIL import Image
from tqdm import tqdm

from . import io, shapes

log = logging.getLogger(__name__)


class SynthesisError(Exception):
    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


class Synthesizer(Protocol):
    name: str

    def __call__(self, key: str, caption: str) -> Image.Image: ...


class ShapesSynthesizer:
    """Draws a shapes-world caption; the per-sample seed comes from the key, so a redraw is identical."""

    name = "shapes"

    def __init__(self, image_size: int = 64, seed: int = 0):
        self.image_size, self.seed = image_size, seed

    def __call__(self, key: str, caption: str) -> Image.Image:
        try:
            scene, _ = shapes.parse(caption)
        except shapes.CaptionError as e:
            raise SynthesisError("unparsable", str(e)) from None
        return shapes.render(scene, self.image_size, seed=f"synthesize:{self.seed}:{key}")


def make_synthesizer(backend: str, **options) -> Synthesizer:
    if backend == "shapes":
        return ShapesSynthesizer(**options)
    raise ValueError(f"unknown synthesis backend {backend!r}; expected 'shapes'")


def synthesize_shard(negatives: str, output: str, stats_path: str, synthesizer: Synthesizer) -> dict:
    """Render the first negative caption of every negated row of `negatives` (the negate stage's JSON lines) into a
    webdataset shard of (jpg, txt); stats: in = synthesized + sum(skipped) + sum(failed)."""
    rows = io.read_jsonl(negatives)
    skipped, failed = collections.Counter(), collections.Counter()
    done = 0
    with io.shard_writer(output) as sink:
        for row in tqdm(rows, desc=f"synthesize {negatives}", unit="img", mininterval=5):
            if row.get("status") != "ok" or not row.get("negatives"):
                skipped["no_negative_caption"] += 1
                continue
            caption = row["negatives"][0]["text"]  # the image is drawn for the first negative; the rest are text-only
            try:
                image = synthesizer(row["key"], caption)
            except SynthesisError as e:
                failed[e.reason] += 1
                log.warning("%s: no image (%s)", row["key"], e)
                continue
            sink.write({"__key__": row["key"], "jpg": io.encode_jpeg(image), "txt": caption,
                        "json": {"backend": synthesizer.name}})
            done += 1
    stats = {"in": len(rows), "synthesized": done, "skipped": dict(skipped), "failed": dict(failed),
             "backend": synthesizer.name}
    io.write_json(stats_path, stats)
    log.info("%s: synthesized %d of %d", negatives, done, len(rows))
    return stats
