"""Atomic file output and webdataset shard I/O shared by every stage.

Every stage writes to a temporary name beside its output and renames it into place when done, so a killed job
leaves no half-written output for Snakemake (or a person) to mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import webdataset as wds
from PIL import Image


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def write_jsonl(path: str | os.PathLike, rows) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def shard_writer(path: str | os.PathLike) -> Iterator[wds.TarWriter]:
    """A webdataset TarWriter that appears at `path` only when complete. mtime is fixed so that the same samples
    always give the same bytes."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream, wds.TarWriter(stream, mtime=0) as sink:
            yield sink


def iter_shard(path: str | os.PathLike, errors: list | None = None) -> Iterator[dict]:
    """Samples of a webdataset tar as {"__key__": key, ext: bytes, ...}. A truncated or corrupt tar ends the
    iteration with the error appended to `errors` (or raised when `errors` is None)."""

    def handler(exn: Exception) -> bool:
        if errors is None:
            raise exn
        errors.append(f"{path}: {exn}")
        return True

    yield from wds.tariterators.tarfile_samples(iter([{"url": str(path)}]), handler=handler)
    # tarfile reads a tar cut at a member boundary without complaint; only the missing end marker tells.
    if not has_end_marker(path):
        handler(EOFError(f"truncated: {path} has no end-of-archive marker"))


def has_end_marker(path: str | os.PathLike) -> bool:
    """A complete tar ends with two zero blocks (1024 bytes)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < 1024:
            return False
        f.seek(-1024, os.SEEK_END)
        return f.read() == bytes(1024)


def decode_image(data: bytes) -> Image.Image:
    """Decode and fully load an image, so a corrupt file fails here and not later in a worker."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def encode_jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
