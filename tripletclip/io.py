"""Atomic file output and webdataset shard I/O shared by every stage.

Every stage writes to a temporary name beside its output and renames it into place when done, so a killed job
leaves no half-written output for Snakemake (or a person) to mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Iterator

import webdataset as wds
from PIL import Image

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block finishes without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file 0600 whatever the umask: as open() would, let the umask decide (colleagues on a
        # cluster's shared filesystem read each other's outputs)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (os.umask can only set it)."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | os.PathLike, rows) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def shard_writer(path: str | os.PathLike) -> Iterator[wds.TarWriter]:
    """A webdataset TarWriter that appears at `path` only when complete. mtime is fixed so that the same samples
    always give the same bytes."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as stream, wds.TarWriter(stream, mtime=0) as sink:
            yield sink


# Extensions with a dot that our writers use; any other member's extension is what follows the last dot of its name.
COMPOUND_EXTENSIONS = ("neg.jpg", "neg.txt", "neg_type.txt")


def split_member(name: str) -> tuple[str, str] | None:
    """(key, extension) of a tar member name, or None for a name without either. Unlike webdataset, which cuts at the
    first dot of the file name, the extension is the known compound one or the part after the last dot: a key may hold
    dots (`photo_v1.0.jpg` is key `photo_v1.0`; `shot.a.jpg` and `shot.b.jpg` are two samples)."""
    directory, _, base = name.rpartition("/")
    ext = next((e for e in COMPOUND_EXTENSIONS if base.endswith("." + e)), None)
    key = base[:-len(ext) - 1] if ext else base.rpartition(".")[0]
    ext = ext or base.rpartition(".")[2]
    if not key or not ext or "." not in base:
        return None
    return (f"{directory}/{key}" if directory else key), ext


def iter_shard(path: str | os.PathLike, errors: list | None = None) -> Iterator[dict]:
    """Samples of a webdataset tar as {"__key__": key, ext: bytes, ...}, in the order their keys first appear.

    Members are grouped by key (`split_member`), wherever they stand in the tar: a tar made by hand with
    `tar cf shard.tar *.jpg *.txt` reads as one sample per key, not two, and says so in the log. A problem is appended
    to `errors` (or raised when `errors` is None): a truncated or corrupt tar (its readable samples are still
    yielded), a member whose data cannot be read (its sample is dropped), the same key and extension twice (the
    first is kept), a member name without a key or extension, or a link whose target is not in the tar (skipped).
    A link to a member of the same tar reads as that member's bytes."""

    def problem(exn: Exception) -> None:
        if errors is None:
            raise exn
        errors.append(f"{path}: {exn}")

    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.ReadError, EOFError) as exn:
        problem(tarfile.ReadError(f"not a readable tar ({exn})"))
        return
    with tar:
        groups: dict[str, list[tuple[str, tarfile.TarInfo]]] = {}
        scattered, last = set(), None
        try:
            for member in tar:
                if member.isdir():
                    continue
                if not (member.isfile() or member.islnk() or member.issym()):
                    problem(ValueError(f"member {member.name!r} is not a file: skipped"))
                    continue
                parts = split_member(member.name)
                if parts is None:
                    problem(ValueError(f"member {member.name!r} has no key or no extension: skipped"))
                    continue
                key, ext = parts
                if key in groups and key != last:
                    scattered.add(key)
                groups.setdefault(key, []).append((ext, member))
                last = key
        except (tarfile.ReadError, EOFError, OSError) as exn:
            problem(EOFError(f"truncated or corrupt after {sum(map(len, groups.values()))} members ({exn})"))
        if scattered:
            log.warning("%s: the files of %d of its samples are not next to each other (a tar made by hand?); read "
                        "by key", path, len(scattered))
        dotted = sum("." in key.rpartition("/")[2] for key in groups)
        if dotted:
            log.info("%s: %d sample keys hold a dot; each extension is read after the last dot", path, dotted)
        for key, members in groups.items():
            sample = {"__key__": key, "__url__": str(path)}
            try:
                for ext, member in members:
                    if ext in sample:
                        problem(ValueError(f"{member.name!r} appears twice: the first is kept"))
                        continue
                    try:
                        data = tar.extractfile(member)  # a link is read through to its target in the tar
                    except KeyError:  # its target is not in the tar
                        data = None
                    if data is None:
                        raise OSError(f"{member.name!r} links to {member.linkname!r}, which is not a file in the tar")
                    sample[ext] = data.read()
            except (tarfile.ReadError, EOFError, OSError) as exn:
                problem(EOFError(f"sample {key!r} cannot be read ({exn}): dropped"))
                continue
            yield sample
    # tarfile reads a tar cut at a member boundary without complaint; only the missing end marker tells.
    if not has_end_marker(path):
        problem(EOFError(f"truncated: {path} has no end-of-archive marker"))


def has_end_marker(path: str | os.PathLike) -> bool:
    """A complete tar ends with two zero blocks (1024 bytes)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < 1024:
            return False
        f.seek(-1024, os.SEEK_END)
        return f.read() == bytes(1024)


# ---------------------------------------------------------------------------------------------------------------
# Captions of a pair shard's samples


class CaptionError(ValueError):
    """Why a sample has no caption text. `reason` names the count in a stage's stats (missing_caption, not_utf8,
    empty_caption, caption_is_json, caption_not_json, missing_caption_field, caption_not_text); the message says
    what the member holds."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def parse_caption_key(caption_key: str) -> tuple[str, list[str]]:
    """(member extension, field path) of a caption key, MEMBER or MEMBER:FIELD.PATH: `txt` is ("txt", []),
    `json:caption` ("json", ["caption"]), `json:meta.caption` ("json", ["meta", "caption"]). The member is split off
    at the colon, so a compound extension keeps its dot (`neg.txt`); the field path is split at dots. ValueError for
    a key that is neither."""
    member, colon, path = str(caption_key).partition(":")
    fields = path.split(".") if colon else []
    if not member or (colon and not all(fields)):
        raise ValueError(f"caption_key: {caption_key!r} is neither MEMBER (an extension, e.g. txt) nor "
                         "MEMBER:FIELD.PATH (a field of a JSON member, e.g. json:caption or json:meta.caption)")
    return member, fields


def caption_text(sample: dict, caption_key: str = "txt") -> str:
    """The caption of a sample ({"__key__": key, ext: bytes, ...}, as iter_shard yields it) under `caption_key`:
    the member's UTF-8 text (MEMBER), or the string at a field of the JSON object the member holds (MEMBER:FIELD.PATH,
    dotted for a nested field). Every stage that reads a caption from a pair shard reads it here. CaptionError (its
    `reason` the count's name) for a sample without a caption: no such member (missing_caption), not UTF-8
    (not_utf8), blank (empty_caption), a whole JSON object under a plain MEMBER (caption_is_json: its text is not a
    caption), a member that is not a JSON object under MEMBER:FIELD (caption_not_json), a field that is missing or
    null (missing_caption_field) or not a string (caption_not_text); the messages name the fields there are."""
    member, fields = parse_caption_key(caption_key)
    data = sample.get(member)
    if data is None:
        raise CaptionError("missing_caption", f"no {member!r} member")
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        if fields:  # JSON is UTF-8: a member that is not holds no field (an image named by mistake)
            raise CaptionError("caption_not_json", f"caption_key: {caption_key}: the {member} member is not a JSON "
                               "object: it is not UTF-8 text") from None
        raise CaptionError("not_utf8", f"the {member} member is not UTF-8") from None
    if not fields:
        found = _json_object(text) if text.lstrip().startswith("{") else None
        if found is not None:
            raise CaptionError("caption_is_json", f"caption_key: {member} holds a JSON object with fields "
                               f"{_names(found)}: name the field, e.g. caption_key: {member}:{_suggest(found)}")
    else:
        found = _json_object(text)
        if found is None:
            raise CaptionError("caption_not_json", f"caption_key: {caption_key}: the {member} member is not a JSON "
                               f"object: {_clip(text)!r}")
        value: object = found
        for depth, field in enumerate(fields):
            parent = ".".join(fields[:depth])
            if not isinstance(value, dict):
                raise CaptionError("missing_caption_field", f"caption_key: {caption_key}: {parent} in the {member} "
                                   f"member is {_kind(value)}, not an object with fields")
            if value.get(field) is None:
                there = f"the fields of {parent} are" if parent else "its fields are"
                state = "is null" if field in value else "is missing"
                raise CaptionError("missing_caption_field", f"caption_key: {caption_key}: field "
                                   f"{'.'.join(fields[:depth + 1])!r} of the {member} member {state}; {there}: "
                                   f"{_names(value)}")
            value = value[field]
        if not isinstance(value, str):
            raise CaptionError("caption_not_text", f"caption_key: {caption_key}: field {'.'.join(fields)!r} of the "
                               f"{member} member is {_kind(value)}, not a string; its fields are: {_names(found)}")
        text = value
    if not text.strip():
        raise CaptionError("empty_caption", f"the caption under {caption_key} is empty")
    return text


def _json_object(text: str) -> dict | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _names(obj: dict) -> str:
    return ", ".join(sorted(map(str, obj))) or "none"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _clip(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[:size] + "..."


def _suggest(obj: dict) -> str:
    """The field path most likely to hold the caption: a string field named like one (caption, text, ...), at any
    depth, else the first string field, else the first field."""
    leaves: list[tuple[str, str]] = []  # (dotted path, last name) of every string field, depth first

    def walk(value: dict, prefix: str, depth: int) -> None:
        for name, item in value.items():
            if "." in str(name) or ":" in str(name):
                continue  # not expressible in a caption key
            path = f"{prefix}{name}"
            if isinstance(item, str):
                leaves.append((path, str(name).lower()))
            elif isinstance(item, dict) and depth < 3:
                walk(item, path + ".", depth + 1)

    walk(obj, "", 0)
    for wanted in ("caption", "text", "txt", "alt", "description", "title"):
        for path, name in leaves:
            if name == wanted:
                return path
    return leaves[0][0] if leaves else next(iter(map(str, obj)), "FIELD")


def decode_image(data: bytes) -> Image.Image:
    """Decode and fully load an image, so a corrupt file fails here and not later in a worker."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def encode_jpeg(image: Image.Image, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
