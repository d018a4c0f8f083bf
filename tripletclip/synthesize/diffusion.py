"""Negative images from a diffusers text-to-image pipeline (SDXL-turbo by default, the paper's model).

Each sample's latents come from its own generator, seeded by its key: the same key gives the same image whatever
batch it is in, up to how batched kernels round (a pixel level now and then); the stage keeps its batches fixed, so
a shard resumed after a kill is byte-identical to one that never stopped.

A model in float16 can overflow, and its NaN comes out of the pipeline as an all-black image with nothing but a
numpy warning. Every decode is therefore checked before the pipeline converts it to pixels: a sample whose latents or
decoded values are not finite, or whose image is one flat colour, is retried once in a safe mode (its latents decoded
with the VAE in float32; latents that are themselves not finite, the whole sample again in float32), and what is
still degenerate is counted under its reason (NONFINITE_LATENTS, NONFINITE_IMAGE, UNIFORM_IMAGE), never kept.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
from typing import Sequence

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)
DEFAULT_MODEL = "stabilityai/sdxl-turbo"
NONFINITE_LATENTS, NONFINITE_IMAGE, UNIFORM_IMAGE = "nonfinite_latents", "nonfinite_image", "uniform_image"
UNIFORM_LEVELS = 2  # an image whose every channel spans at most this many of 255 levels is one flat colour
RETRIED = "retried"  # the info key of an image the safe mode recovered: what was wrong with it the first time


def key_seed(seed: int, key: str) -> int:
    digest = hashlib.sha256(f"synthesize:{seed}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def load_pipeline(model: str, dtype):
    """AutoPipelineForText2Image for a local directory or a hub id, from the local cache whenever the model is there
    (no network at all then); the Hub is asked only for a model not cached yet, and not at all with HF_HUB_OFFLINE."""
    from diffusers import AutoPipelineForText2Image

    load = functools.partial(AutoPipelineForText2Image.from_pretrained, model, dtype=dtype)
    if os.path.isdir(model):
        return load(local_files_only=True)
    if os.path.isabs(model) or model.startswith((".", "~")) or model.count("/") > 1:
        raise FileNotFoundError(f"synthesize model {model!r}: no such pipeline directory")
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    cache = constants.HF_HUB_CACHE
    local = "point synthesize.diffusers.model (--model) at a local pipeline directory"
    fetch = f"fetch it once where there is network with `hf download {model}` (into the same HF_HOME), or {local}"
    if isinstance(huggingface_hub.try_to_load_from_cache(model, "model_index.json"), str):
        try:
            return load(local_files_only=True)
        except OSError as e:
            if hub_offline():
                raise OSError(f"{model} is only partly in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE "
                              f"is set: {fetch} ({e})") from e
            log.info("%s is only partly in the local cache (%s); completing it from the Hub", model, e)
    elif hub_offline():
        raise OSError(f"{model} is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE is set: {fetch}")
    # One quick question before the download: without network it fails at once, where from_pretrained retries for
    # half a minute or more and then blames a missing model_index.json.
    try:
        huggingface_hub.model_info(model, timeout=10)
    except GatedRepoError as e:
        raise OSError(f"{model} is gated on the Hub: accept its terms at {constants.ENDPOINT}/{model} and log in "
                      f"(`hf auth login`), or {local}") from e
    except RepositoryNotFoundError as e:
        raise OSError(f"{model} is neither a local directory nor a model on the Hub ({constants.ENDPOINT}), or it "
                      f"is private and this machine is not logged in (`hf auth login`)") from e
    except HfHubHTTPError as e:  # the Hub answered (a mirror without this API, say): the download decides
        log.info("%s: the Hub answered %s; downloading", model, e)
    except Exception as e:  # noqa: BLE001 - any transport error means the same here: no Hub
        raise OSError(f"{model} is not in the local Hugging Face cache ({cache}) and the Hub ({constants.ENDPOINT}) "
                      f"cannot be reached ({type(e).__name__}: {e}): {fetch}") from e
    return load()


def is_uniform(image: Image.Image) -> bool:
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(np.int16)
    return int((pixels.max(0) - pixels.min(0)).max()) <= UNIFORM_LEVELS


@contextlib.contextmanager
def float32(torch, modules):
    """Every half-precision parameter and buffer of `modules` in float32 for the block, then back to its own dtype
    (each tensor's, so weights a model keeps in float32 on purpose stay so, and float16 -> float32 -> float16 is
    exact)."""
    changed = []
    try:
        with torch.no_grad():
            for module in modules:
                for tensor in (*module.parameters(), *module.buffers()):
                    if tensor.dtype in (torch.float16, torch.bfloat16):
                        changed.append((tensor, tensor.dtype))
                        tensor.data = tensor.data.float()
        yield
    finally:
        with torch.no_grad():
            for tensor, dtype in changed:
                tensor.data = tensor.data.to(dtype)


class DiffusersSynthesizer:
    name = "diffusers"

    def __init__(self, model: str = DEFAULT_MODEL, image_size: int = 512, steps: int = 1,
                 guidance_scale: float = 0.0, batch_size: int = 8, seed: int = 0, device: str = "auto",
                 dtype: str = "auto"):
        import torch

        self.torch, self.seed, self.batch_size = torch, seed, batch_size
        self.call = {"num_inference_steps": steps, "guidance_scale": guidance_scale, "height": image_size,
                     "width": image_size}
        # what decides the images (the safe mode decides the recovered ones)
        self.settings = {"model": model, "seed": seed, "dtype": dtype, **self.call, "safe_mode": "float32"}
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        # checked here, where they would otherwise fail every batch and count every sample as an "error"
        if image_size % 8:
            raise ValueError(f"synthesize image_size {image_size}: text-to-image pipelines need a multiple of 8")
        try:
            torch.device(self.device)
        except RuntimeError as e:
            raise ValueError(f"synthesize device {device!r}: {e}") from e
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"synthesize device {device!r}, but torch sees no CUDA GPU here")
        if dtype == "auto":
            dtype = "float16" if self.device.startswith("cuda") else "float32"
        self.pipe = load_pipeline(model, getattr(torch, dtype))
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    def synthesize(self, items: Sequence[tuple[str, str]]) -> list[Image.Image | str]:
        """Per item an image, or the reason there is none ("error", "nsfw", or a degenerate output's); an image the
        safe mode recovered has info[RETRIED] = what was wrong with it the first time."""
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

    def _generate(self, batch, safe: bool = False) -> list[Image.Image | str]:
        # CPU generators: the same latents on any device, and per sample, so batching does not change them.
        generators = [self.torch.Generator("cpu").manual_seed(key_seed(self.seed, key)) for key, _ in batch]
        rows = []
        # no_grad rather than inference_mode: the safe mode changes weights' dtypes in the middle of the call, which
        # inference tensors would forbid afterwards
        with self._checked_decode(rows, redecode=not safe), self.torch.no_grad():
            result = self.pipe(prompt=[caption for _, caption in batch], generator=generators, output_type="pil",
                               **self.call)
        flagged = getattr(result, "nsfw_content_detected", None) or [False] * len(batch)
        if len(rows) != len(batch) or None in rows:  # no `vae`, or decoded otherwise: only the images are checked
            rows = [(None, None)] * len(batch)
        out, again = [], []
        for i, (image, nsfw, (seen, left)) in enumerate(zip(result.images, flagged, rows)):
            if nsfw:
                out.append("nsfw")
                continue
            left = left or (UNIFORM_IMAGE if is_uniform(image) else None)
            if left is None:
                if seen:
                    image.info[RETRIED] = seen
                    log.info("%s: %s, recovered by a float32 decode", batch[i][0], seen)
                out.append(image)
            else:
                out.append(left)
                # its one retry: a float32 decode was it, unless the latents were broken or the check came too late
                if not safe and seen in (None, NONFINITE_LATENTS):
                    again.append(i)
                elif not safe:
                    log.warning("%s: %s, and still %s decoded in float32", batch[i][0], seen, left)
        if again:
            self._regenerate_safely(batch, out, again)
        return out

    def _regenerate_safely(self, batch, out: list, indices: list[int]) -> None:
        """The safe mode for latents the denoiser left non-finite: the sample again, alone, with every component's
        half-precision weights in float32 (converted once for all of a batch's such samples, then back)."""
        modules = [m for m in getattr(self.pipe, "components", {}).values() if isinstance(m, self.torch.nn.Module)]
        try:
            with float32(self.torch, modules):
                for i in indices:
                    first = out[i]
                    out[i] = self._generate([batch[i]], safe=True)[0]
                    if isinstance(out[i], Image.Image):
                        out[i].info[RETRIED] = first
                        log.info("%s: %s, recovered by generating it in float32", batch[i][0], first)
                    else:
                        log.warning("%s: %s, and still %s generated in float32", batch[i][0], first, out[i])
        except Exception as e:  # noqa: BLE001 - e.g. no memory for float32: those samples keep their first reason
            log.error("the float32 retry of %d samples failed (%s: %s)", len(indices), type(e).__name__, e)

    @contextlib.contextmanager
    def _checked_decode(self, rows: list, redecode: bool):
        """While the pipeline runs, every sample its VAE decodes is checked before the conversion to pixels hides a
        NaN as black: `rows` gets per sample (what was wrong, what is still wrong), and with `redecode` the degenerate
        ones among finite latents are decoded again with the VAE in float32, replacing the first decode."""
        vae = getattr(self.pipe, "vae", None)
        decode = getattr(vae, "decode", None)
        if decode is None:
            yield
            return
        torch = self.torch

        def checked(z, *args, **kwargs):
            output = decode(z, *args, **kwargs)
            x = output[0]
            if not (torch.is_tensor(z) and torch.is_tensor(x) and z.ndim >= 2 and x.ndim >= 3 and len(z) == len(x)):
                rows.append(None)  # a call it cannot follow sample by sample: the images alone are checked
                return output
            seen = self._problems(z, x)
            left = list(seen)
            bad = [i for i, problem in enumerate(seen) if problem and problem != NONFINITE_LATENTS]
            if bad and redecode:
                with float32(torch, [vae]):
                    fixed = decode(z[bad].float(), *args, **kwargs)[0]
                for i, problem in zip(bad, self._problems(z[bad], fixed)):
                    left[i] = problem
                x[bad] = fixed.to(x.dtype)
            broken = [i for i, problem in enumerate(left) if problem]
            if broken:  # never kept; zeros spare the uint8 conversion its warning about NaN
                x[broken] = 0
            rows.extend(zip(seen, left))
            return output

        own = vae.__dict__.get("decode")  # an instance's own decode (someone else's wrapper) comes back after
        vae.decode = checked
        try:
            yield
        finally:
            if own is None:
                del vae.decode
            else:
                vae.decode = own

    def _problems(self, z, x) -> list[str | None]:
        torch = self.torch
        latents = torch.isfinite(z.flatten(1)).all(1).tolist()
        decoded = torch.isfinite(x.flatten(1)).all(1).tolist()
        # the spread of each channel after the pipeline's clamp to [-1, 1], in levels of 255
        top, low = x.flatten(2).amax(2).clamp(-1, 1), x.flatten(2).amin(2).clamp(-1, 1)
        flat = ((top - low).float() * 127.5 <= UNIFORM_LEVELS).all(1).tolist()
        return [NONFINITE_LATENTS if not ok_z else NONFINITE_IMAGE if not ok_x else UNIFORM_IMAGE if f else None
                for ok_z, ok_x, f in zip(latents, decoded, flat)]
