"""Encode each distinct image and caption once, in batches: every benchmark's protocol is then a matter of
indexing into two feature matrices."""

from __future__ import annotations

import glob
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import Compose, Normalize, ToTensor
from tqdm import tqdm

from .. import io


def index(items: Sequence) -> tuple[list, dict]:
    """The distinct items in first-seen order, and each one's row."""
    unique = list(dict.fromkeys(items))
    return unique, {item: i for i, item in enumerate(unique)}


def open_rgb(path: str | Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()  # read before the file closes; an RGB image is kept as it is, not copied
        return image if image.mode == "RGB" else image.convert("RGB")


def _prepared(items: Sequence, batch_size: int, prepare: Callable, desc: str | None, device: str):
    """Batches of `items` passed through `prepare`. On an accelerator, one batch ahead in a thread, so that decoding
    (Python, PIL) overlaps the model's forward. On the CPU the forward's own threads already use every core, and a
    thread beside them only preempts them: measured 1.4 s against 0.95 s sequentially for the SugarCrepe benchmark
    on 2 cores (BENCHMARKS.md)."""
    starts = tqdm(range(0, len(items), batch_size), desc=desc, unit="batch",
                  disable=desc is None or len(items) <= batch_size)
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


class BatchPreprocess:
    """An open_clip eval transform applied image by image up to its ToTensor, and its ToTensor and Normalize on the
    whole batch at once: the same values (the same float operations in the same order), for about a third of
    the time on the CPU. A transform of another shape, or an image that is not RGB by then, takes the whole transform."""

    def __init__(self, preprocess: Callable):
        self.preprocess = preprocess
        steps = getattr(preprocess, "transforms", [])
        split = len(steps) >= 2 and isinstance(steps[-2], ToTensor) and isinstance(steps[-1], Normalize)
        self.head = Compose(steps[:-2]) if split else None
        if split:
            self.mean = torch.tensor(steps[-1].mean).view(-1, 1, 1)
            self.std = torch.tensor(steps[-1].std).view(-1, 1, 1)

    def one(self, image) -> torch.Tensor:
        """uint8 (3, H, W) for the batch step to normalize, or the transform's own float result."""
        if self.head is not None:
            head = self.head(image)
            if isinstance(head, Image.Image) and head.mode == "RGB":
                return torch.from_numpy(np.array(head)).permute(2, 0, 1)
        return self.preprocess(image)

    def batch(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """The batch (N, C, H, W), float, its uint8 images converted and normalized here."""
        raw = torch.tensor([image.dtype == torch.uint8 for image in images])
        out = torch.stack([image.float() for image in images])
        if not raw.any():
            return out
        if raw.all():
            return out.div_(255).sub_(self.mean).div_(self.std)
        out[raw] = out[raw].div_(255).sub_(self.mean).div_(self.std)
        return out


@torch.no_grad()
def images(model, preprocess, items: Sequence, batch_size: int = 256, device: str = "cpu",
           load: Callable = open_rgb, desc: str | None = "encode images") -> torch.Tensor:
    """L2-normalized features (N, D), float32, of `items` loaded with `load` (a path -> PIL image by default);
    `desc` None: no progress bar."""
    model.eval().to(device)
    prep = BatchPreprocess(preprocess)
    out = [model.encode_image(batch.to(device), normalize=True).float().cpu() for batch in _prepared(
        items, batch_size, lambda chunk: prep.batch([prep.one(load(item)) for item in chunk]), desc, device)]
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def texts(model, tokenizer, captions: Sequence[str], batch_size: int = 256, device: str = "cpu",
          desc: str | None = "encode captions") -> torch.Tensor:
    """L2-normalized features (N, D), float32, of `captions`. Captions are batched in the order of their tokens,
    so that a batch's captions share their prefixes, which open_clip's causal text tower then computes once
    (`text_tower.encode_text_shared`)."""
    # here, not at the top: building an analogue or scoring it blind imports this module, and open_clip costs seconds
    from .. import text_tower

    model.eval().to(device)
    if not captions:
        return torch.empty(0)
    tokens = tokenizer(list(captions))
    rows = tokens.tolist()
    order = sorted(range(len(rows)), key=rows.__getitem__)
    features = None
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch",
                      disable=desc is None or len(order) <= batch_size):
        chunk = order[start:start + batch_size]
        out = text_tower.encode_text_shared(model, tokens[chunk].to(device)).float().cpu()
        if features is None:
            features = torch.empty(len(rows), out.shape[1])
        features[chunk] = out
    return features


def read_json(path: str | Path, what: str):
    """The JSON document at `path`, read as UTF-8. `what` names it in the errors: FileNotFoundError when `path` is
    not a file, ValueError when it is not UTF-8 JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: expected a JSON file, found {'a folder' if path.is_dir() else 'nothing'} "
                                f"at {path}")
    try:
        return io.read_json(path)  # the pipeline's one JSON reader; this adds what the file was meant to be
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{what}: expected a UTF-8 JSON file, {path} is not one ({error})") from None


def require_fields(rows, fields: Sequence[str], what: str) -> None:
    """ValueError naming `what` unless `rows` is a list of dicts that each hold every key of `fields`."""
    if not isinstance(rows, list):
        raise ValueError(f"{what}: expected a list of {{{', '.join(fields)}}}, found a {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(f in row for f in fields):
            found = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise ValueError(f"{what}: entry {i} has {found}; expected the keys {list(fields)}")


def require_files(paths: Sequence, what: str, shown: int = 5) -> None:
    """FileNotFoundError naming `what`, how many of `paths` are not files, and the first `shown` of them. Checked
    before encoding, so that a wrong image folder fails at once and says so, not after minutes of encoding."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{what}: {len(missing)} of {len(paths)} images are missing, e.g. "
                                + ", ".join(missing[:shown]))


def resolve(root: str | Path, path: str | None) -> Path | None:
    """A spec's path: absolute as given, relative to the spec's folder (or the working directory) otherwise."""
    return None if path is None else Path(root) / path


def example_files(root: str | Path, spec: dict, what: str, layouts: Sequence[str], expected: str) -> list[Path]:
    """The files a spec's `examples` names: one file, the files of a glob (sorted), or, for a folder (a downloaded
    dataset repository), the files of the first of `layouts` (glob patterns inside it) that matches any.

    Raises ValueError when the spec names no `examples` (saying `expected`), FileNotFoundError when the file, or every
    match of the glob or of `layouts`, is missing (naming what the folder does hold)."""
    if not spec.get("examples"):
        raise ValueError(f"{what}: the spec names no `examples` (expected {expected})")
    path = resolve(root, spec["examples"])
    if any(c in str(spec["examples"]) for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"{what} examples: no file matches {path}")
        return files
    if path.is_dir():
        for pattern in layouts:
            if files := sorted(p for p in path.glob(pattern) if p.is_file()):
                return files
        found = sorted(p.name for p in path.iterdir())[:10]
        raise FileNotFoundError(f"{what} examples: {path} holds none of {', '.join(layouts)}; found "
                                f"{found or 'nothing'}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} examples: no file or folder {path}")
    return [path]


def mean32(values: Sequence) -> float:
    """The float32 mean of `values` (booleans or numbers) as torch computes it. Each benchmark's metrics were first
    computed as `tensor.float().mean().item()`; computing them from the per-sample table the same way keeps every
    metric bit for bit what it was, so that results written before and after the table compare equal."""
    return torch.tensor(np.asarray(values, dtype=np.float32)).mean().item()
