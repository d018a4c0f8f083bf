"""Encode each distinct image and caption once, in batches: every benchmark's protocol is then a matter of
indexing into two feature matrices."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from tqdm import tqdm

from .. import text_tower


def index(items: Sequence) -> tuple[list, dict]:
    """The distinct items in first-seen order, and each one's row."""
    unique = list(dict.fromkeys(items))
    return unique, {item: i for i, item in enumerate(unique)}


def open_rgb(path: str | Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _prepared(items: Sequence, batch_size: int, prepare: Callable, desc: str, device: str):
    """Batches of `items` passed through `prepare`. On an accelerator, one batch ahead in a thread, so that decoding
    and tokenizing (Python, PIL) overlap the model's forward. On the CPU the forward's own threads already use
    every core, and a thread beside them only preempts them: measured 1.4 s against 0.95 s sequentially for the
    SugarCrepe benchmark on 2 cores (BENCHMARKS.md)."""
    starts = tqdm(range(0, len(items), batch_size), desc=desc, unit="batch", disable=len(items) <= batch_size)
    if torch.device(device).type == "cpu":
        for start in starts:
            yield prepare(items[start:start + batch_size])
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, items[0:batch_size]) if items else None
        for start in starts:
            batch = pending.result()
            if start + batch_size < len(items):
                pending = pool.submit(prepare, items[start + batch_size:start + 2 * batch_size])
            yield batch


@torch.no_grad()
def images(model, preprocess, items: Sequence, batch_size: int = 256, device: str = "cpu",
           load: Callable = open_rgb, desc: str = "encode images") -> torch.Tensor:
    """L2-normalized features (N, D), float32, of `items` loaded with `load` (a path -> PIL image by default)."""
    model.eval().to(device)
    out = [model.encode_image(batch.to(device), normalize=True).float().cpu() for batch in _prepared(
        items, batch_size, lambda chunk: torch.stack([preprocess(load(item)) for item in chunk]), desc, device)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def texts(model, tokenizer, captions: Sequence[str], batch_size: int = 256, device: str = "cpu",
          desc: str = "encode captions") -> torch.Tensor:
    """L2-normalized features (N, D), float32, of `captions`. Captions are batched longest first, so that each
    batch of open_clip's causal text tower stops near its own longest caption instead of the full context."""
    model.eval().to(device)
    order = sorted(range(len(captions)), key=lambda i: -len(captions[i]))
    out = [text_tower.encode_text(model, tokens.to(device)).float().cpu() for tokens in _prepared(
        [captions[i] for i in order], batch_size, lambda chunk: tokenizer(list(chunk)), desc, device)]
    if not out:
        return torch.empty(0)
    features = torch.empty_like(torch.cat(out))
    features[order] = torch.cat(out)
    return features


def resolve(root: str | Path, path: str | None) -> Path | None:
    """A spec's path: absolute as given, relative to the spec's folder (or the working directory) otherwise."""
    return None if path is None else Path(root) / path
