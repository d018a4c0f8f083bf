"""Negative images from a diffusers text-to-image pipeline (SDXL-turbo by default, the paper's model).

Each sample's latents come from its own generator, seeded by its key: the same key gives the same image whatever
batch it is in, up to how batched kernels round (a pixel level now and then); the stage keeps its batches fixed, so
a shard resumed after a kill is byte-identical to one that never stopped.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Sequence

from PIL import Image

log = logging.getLogger(__name__)
DEFAULT_MODEL = "stabilityai/sdxl-turbo"


def key_seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"synthesize:{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF


class DiffusersSynthesizer:
    name = "diffusers"

    def __init__(self, model: str = DEFAULT_MODEL, image_size: int = 512, steps: int = 1,
                 guidance_scale: float = 0.0, batch_size: int = 8, seed: int = 0, device: str = "auto",
                 dtype: str = "auto"):
        import torch
        from diffusers import AutoPipelineForText2Image

        self.torch, self.seed, self.batch_size = torch, seed, batch_size
        self.call = {"num_inference_steps": steps, "guidance_scale": guidance_scale, "height": image_size,
                     "width": image_size}
        self.settings = {"model": model, "seed": seed, "dtype": dtype, **self.call}  # what decides the images
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            dtype = "float16" if self.device.startswith("cuda") else "float32"
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
        self.pipe = AutoPipelineForText2Image.from_pretrained(
            model, dtype=getattr(torch, dtype), local_files_only=offline or os.path.isdir(model))
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    def synthesize(self, items: Sequence[tuple[str, str]]) -> list[Image.Image | str]:
        out = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start:start + self.batch_size]
            try:
                out += self._generate(batch)
            except Exception as e:  # one caption's failure must not cost its batch: find it alone
                log.warning("a batch of %d failed (%s); generating its captions one by one", len(batch), e)
                for item in batch:
                    try:
                        out += self._generate([item])
                    except Exception as e1:
                        log.error("%s: no image (%s: %s)", item[0], type(e1).__name__, e1)
                        out.append("error")
        return out

    def _generate(self, batch) -> list[Image.Image | str]:
        # CPU generators: the same latents on any device, and per sample, so batching does not change them.
        generators = [self.torch.Generator("cpu").manual_seed(key_seed(self.seed, key)) for key, _ in batch]
        with self.torch.inference_mode():
            result = self.pipe(prompt=[caption for _, caption in batch], generator=generators, output_type="pil",
                               **self.call)
        flagged = getattr(result, "nsfw_content_detected", None) or [False] * len(batch)
        return ["nsfw" if nsfw else image for image, nsfw in zip(result.images, flagged)]
