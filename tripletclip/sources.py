"""Data people already have, read and checked where it lies: COCO with Karpathy's split file, webdataset shards of
(image, caption) pairs, and the authors' released TripletData shards.

Layouts:

- COCO with Karpathy's split file, `dataset_coco.json` (from cs.stanford.edu/people/karpathy/deepimagesent, the
  split every COCO retrieval paper uses): {"dataset": "coco", "images": [{"filepath": "val2014", "filename":
  "COCO_val2014_000000391895.jpg", "split": "train" | "restval" | "val" | "test", "cocoid": 391895, "imgid": 0,
  "sentids": [...], "sentences": [{"raw": "A man ...", "tokens": [...], "sentid": 770337, "imgid": 0}, ...]}, ...]}.
  The images lie as COCO ships them, image_dir/train2014/NAME and image_dir/val2014/NAME (image_dir/filepath/filename),
  or all in one folder (image_dir/filename).
- webdataset shards as img2dataset writes them (its `output_format: webdataset`): tars of KEY.jpg, KEY.txt and
  KEY.json members, with {shard}_stats.json beside each; the image and caption extensions are configurable.
- TripletData (the authors' release on the Hugging Face hub, TripletCLIP's 13M triplets): tars whose samples hold
  `image`, `caption`, `neg_image` and `neg_caption` members (tripletclip.data.FORMATS["tripletdata"]).

The checks run at every DAG build, so they read as little as they can: the first sample of a shard, never a whole
shard; the COCO split file is parsed (unavoidably) but nothing is cached on disk.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import logging
import os
import tarfile
from pathlib import Path

import braceexpand

from . import io

log = logging.getLogger(__name__)

MAX_ERRORS = 10  # error messages kept in a shard's stats; the counts hold the rest
SHOWN = 5  # paths named in an error message before "and N more"


# ---------------------------------------------------------------------------------------------------------------
# Shard lists


def expand_shards(shards: str | list[str]) -> list[str]:
    """The paths of a path, a brace pattern ("/data/cc3m/{00000..00331}.tar", as webdataset and img2dataset write
    them) or a list of either, in the order given. `~` is expanded. ValueError when there is none or a path comes
    twice (a shard trained on twice is an error in the config, not a choice)."""
    items = [shards] if isinstance(shards, (str, os.PathLike)) else list(shards or [])
    paths = [os.path.expanduser(path) for item in items for path in braceexpand.braceexpand(str(item))]
    if not paths:
        raise ValueError("no shards: give a path, a brace pattern like /data/cc3m/{00000..00331}.tar, or a list")
    counts = collections.Counter(os.path.normpath(path) for path in paths)  # lab/x.tar and ./lab/x.tar are one
    twice = [path for path, n in counts.items() if n > 1]
    if twice:
        raise ValueError(f"{len(twice)} shard paths come more than once: {_some(twice)}")
    return paths


def _some(items: list[str]) -> str:
    shown = ", ".join(map(str, items[:SHOWN]))
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


# ---------------------------------------------------------------------------------------------------------------
# COCO with Karpathy's split file


@contextlib.contextmanager
def _no_gc():
    """The cyclic garbage collector paused: it runs over and over while millions of small objects are made and frees
    none of them (COCO's split file parses in a third of the time without it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_karpathy(annotations: str) -> list[dict]:
    """The `images` of Karpathy's split file, every field we read checked. ValueError for a missing file, a file that
    is not JSON, or one that lacks a field (named, with the image's position)."""
    path = Path(annotations).expanduser()
    if not path.is_file():
        raise ValueError(f"coco.annotations: {annotations} does not exist (Karpathy's dataset_coco.json, from "
                         "cs.stanford.edu/people/karpathy/deepimagesent)")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exn:
        raise ValueError(f"coco.annotations: {annotations} is not JSON ({exn})") from None
    what = f"coco.annotations: {annotations} is not Karpathy's split file (dataset_coco.json)"
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{what}: it has no 'images' list")
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict):
            raise ValueError(f"{what}: images[{i}] is not an object")
        for field in ("filename", "split", "sentences"):
            if field not in image:
                raise ValueError(f"{what}: images[{i}] has no {field!r}")
        # Flickr30k's file of the same layout numbers its images by imgid alone
        if "cocoid" not in image and "imgid" not in image:
            raise ValueError(f"{what}: images[{i}] has no 'cocoid'")
        if not isinstance(image["sentences"], list):
            raise ValueError(f"{what}: images[{i}]['sentences'] is not a list")
        for j, sentence in enumerate(image["sentences"]):
            for field in ("raw", "sentid"):
                if not isinstance(sentence, dict) or field not in sentence:
                    raise ValueError(f"{what}: images[{i}]['sentences'][{j}] has no {field!r}")
    return data["images"]


def _check_splits(images: list[dict], splits: list[str], annotations: str) -> None:
    if not splits:
        raise ValueError("coco.splits is empty: name the splits to train on (train, restval)")
    present = collections.Counter(image["split"] for image in images)
    absent = [split for split in splits if not present[split]]
    if absent:
        have = ", ".join(f"{split} ({n} images)" for split, n in sorted(present.items())) or "none"
        raise ValueError(f"coco.splits: no image of split {', '.join(map(repr, absent))} in {annotations}; its "
                         f"splits are: {have}")


def _relpath(image: dict) -> str:
    return f"{image['filepath']}/{image['filename']}" if image.get("filepath") else image["filename"]


def coco_pairs(annotations: str, splits: list[str]) -> list[dict]:
    """Every (image, caption) pair of the images of `splits`, in the file's order (images, then their sentences):
    [{"key", "image": filepath/filename (relative to the image folder), "caption": the raw sentence, stripped,
    "cocoid", "sentid", "split"}]. key = f"{cocoid:012d}_{sentid}", unique and the same on every run. ValueError as
    `check_coco` for a bad file or split, and for a key that comes twice."""
    with _no_gc():
        return _pairs(annotations, splits)


def _pairs(annotations: str, splits: list[str]) -> list[dict]:
    images = _load_karpathy(annotations)
    _check_splits(images, splits, annotations)
    wanted, pairs, seen = set(splits), [], set()
    for image in images:
        if image["split"] not in wanted:
            continue
        cocoid = int(image.get("cocoid", image.get("imgid")))
        for sentence in image["sentences"]:
            key = f"{cocoid:012d}_{sentence['sentid']}"
            if key in seen:
                raise ValueError(f"coco.annotations: {annotations} holds sentence {sentence['sentid']} of image "
                                 f"{cocoid} twice")
            seen.add(key)
            # COCO's raw captions carry stray spaces and newlines at their ends
            pairs.append({"key": key, "image": _relpath(image), "caption": str(sentence["raw"]).strip(),
                          "cocoid": cocoid, "sentid": sentence["sentid"], "split": image["split"]})
    return pairs


def image_candidates(image_dir: str, relpath: str) -> list[Path]:
    """Where an image may lie: COCO's layout (image_dir/val2014/NAME) first, then a flat folder (image_dir/NAME)."""
    candidates = [Path(image_dir).expanduser() / relpath]
    if "/" in relpath:
        candidates.append(Path(image_dir).expanduser() / relpath.rpartition("/")[2])
    return candidates


def _find_image(image_dir: str, relpath: str) -> Path | None:
    return next((path for path in image_candidates(image_dir, relpath) if path.is_file()), None)


def check_coco(annotations: str, image_dir: str, splits: list[str]) -> int:
    """The number of pairs of `splits`. ValueError with what to fix: no annotations file; not Karpathy's split file
    (the missing field named); a split with no image (the file's splits named); no image folder; the first pair's
    image in neither place it may be (both paths named)."""
    pairs = coco_pairs(annotations, splits)
    if not pairs:
        raise ValueError(f"coco.splits: the images of {', '.join(splits)} in {annotations} have no sentences")
    if not image_dir or not Path(image_dir).expanduser().is_dir():
        raise ValueError(f"coco.image_dir: {image_dir} is not a folder (it holds train2014/ and val2014/, or every "
                         "image)")
    if _find_image(image_dir, pairs[0]["image"]) is None:
        tried = " or ".join(map(str, image_candidates(image_dir, pairs[0]["image"])))
        raise ValueError(f"coco.image_dir: the first image, {pairs[0]['image']}, is not at {tried}")
    return len(pairs)


def write_coco_shard(annotations: str, image_dir: str, splits: list[str], shard_index: int, samples_per_shard: int,
                     output: str, stats_path: str) -> dict:
    """Pairs [shard_index * samples_per_shard, (shard_index + 1) * samples_per_shard) of `coco_pairs` as a webdataset
    shard at `output`: per pair, KEY.jpg (the image file's bytes, unchanged), KEY.txt (the caption) and KEY.json
    ({cocoid, sentid, split, filepath, filename}). A missing or undecodable image, or an empty caption, is skipped and
    counted. Returns the stats, also written to `stats_path`: {"in", "written", "successes" (= written: the key
    img2dataset's stats give it, which pack reads), "dropped": {reason: n}, "errors": the first messages};
    in = written + sum(dropped). Both files appear only complete."""
    pairs = coco_pairs(annotations, splits)
    start = shard_index * samples_per_shard
    if samples_per_shard < 1 or not 0 <= start < len(pairs):
        raise ValueError(f"shard {shard_index} of {samples_per_shard} pairs is past the {len(pairs)} pairs of "
                         f"{', '.join(splits)} in {annotations}")
    chunk = pairs[start:start + samples_per_shard]
    dropped, errors, written = collections.Counter(), [], 0
    # A COCO image has five captions, one after another: it is read and decoded once.
    last: tuple[str, bytes | None, str | None] = ("", None, None)
    with io.shard_writer(output) as sink:
        for pair in chunk:
            if pair["image"] != last[0]:
                last = (pair["image"], *_read_image(image_dir, pair["image"]))
            data, problem = last[1], last[2]
            if problem is None and not pair["caption"]:
                problem = "empty_caption: no text"
            if problem is not None:
                reason, _, message = problem.partition(": ")
                dropped[reason] += 1
                if len(errors) < MAX_ERRORS:
                    errors.append(f"{pair['key']}: {message}")
                continue
            filepath, _, filename = pair["image"].rpartition("/")
            meta = {"cocoid": pair["cocoid"], "sentid": pair["sentid"], "split": pair["split"], "filepath": filepath,
                    "filename": filename}
            sink.write({"__key__": pair["key"], "jpg": data, "txt": pair["caption"], "json": meta})
            written += 1
    stats = {"in": len(chunk), "written": written, "successes": written, "dropped": dict(dropped), "errors": errors}
    assert stats["in"] == written + sum(dropped.values())
    io.write_json(stats_path, stats)
    for message in errors:
        log.warning("skipped %s", message)
    log.info("%s: %d of %d pairs written %s", output, written, len(chunk), dict(dropped) or "")
    return stats


def _read_image(image_dir: str, relpath: str) -> tuple[bytes | None, str | None]:
    """(the image file's bytes, None), or (None, "reason: message") when it is missing or does not decode."""
    path = _find_image(image_dir, relpath)
    if path is None:
        return None, f"missing_image: {relpath} is not at {' or '.join(map(str, image_candidates(image_dir, relpath)))}"
    try:
        data = path.read_bytes()
        io.decode_image(data)  # decoded here so that a corrupt file is dropped now, not replaced in a training batch
    except Exception as exn:  # PIL raises many kinds for a corrupt file; any of them means: skip it
        return None, f"corrupt_image: {path} does not decode ({type(exn).__name__}: {exn})"
    return data, None


# ---------------------------------------------------------------------------------------------------------------
# Shards on disk


def _first_sample(path: str, read: tuple[str, ...] = ()) -> dict | None:
    """The member extensions of the first sample of a shard, as {"__key__": key, ext: None, ...} (the bytes for the
    extensions in `read`), or None for a shard without samples. ValueError for a file that is not a readable tar."""
    first: dict | None = None
    try:
        # streamed: only the first few headers are read, however large the shard (an img2dataset shard writes a
        # sample's members one after another)
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                parts = io.split_member(member.name) if member.isfile() else None
                if parts is None:
                    continue
                key, ext = parts
                if first is not None and key != first["__key__"]:
                    break
                first = first or {"__key__": key}
                first[ext] = tar.extractfile(member).read() if ext in read else None
    except (tarfile.TarError, EOFError, OSError) as exn:
        if first is None:
            raise ValueError(f"{path} is not a readable tar ({exn})") from None
    return first


def _first_sample_grouped(path: str, read: tuple[str, ...] = ()) -> dict | None:
    """The first sample as io.iter_shard groups it: all members of its key wherever they stand in the tar."""
    for sample in io.iter_shard(path, errors=[]):
        return {k: (v if k in read or k == "__key__" else None) for k, v in sample.items() if k != "__url__"}
    return None


def _check_shards(shards: list[str], keys: dict[str, str], what: str, read: tuple[str, ...] = ()) -> tuple[str, dict]:
    """Every shard exists, and the first sample of the first shard with samples holds each of `keys` ({member
    extension: the config key that names it, or "" for a fixed one}). Returns (that shard, that sample: its
    extensions, with the bytes of those in `read`)."""
    if not shards:
        raise ValueError(f"{what}.shards names no shard")
    folders = [path for path in shards if os.path.isdir(path)]
    if folders:
        raise ValueError(f"{what}.shards: {_some(folders)} is a folder: give its shards, as paths, a brace pattern "
                         "(folder/{00000..00099}.tar) or a list")
    missing = [path for path in shards if not os.path.isfile(path)]
    if missing:
        raise ValueError(f"{what}.shards: {len(missing)} of {len(shards)} shards do not exist: {_some(missing)}")
    for path in shards:
        sample = _first_sample(path, read)
        if sample is None:
            log.warning("%s: no samples", path)
            continue
        if any(ext not in sample for ext in keys):
            # a tar made by hand may hold a key's members apart: look at the whole tar before calling a key missing
            sample = _first_sample_grouped(path, read) or sample
        lacking = [f"{ext!r}" + (f" ({what}.{name})" if name else "") for ext, name in keys.items()
                   if ext not in sample]
        if lacking:
            found = ", ".join(sorted(k for k in sample if k != "__key__")) or "nothing"
            raise ValueError(f"{what}: the first sample of {path} ({sample['__key__']!r}) has no "
                             f"{' and no '.join(lacking)} member; its members are: {found}")
        return path, sample
    raise ValueError(f"{what}.shards: none of the {len(shards)} shards holds a sample")


# A first sample whose caption is refused before any job: its caption member is not text to train on, so no
# sample's is (an empty or non-UTF-8 caption is one bad sample, counted by the stages).
REFUSED_CAPTIONS = ("caption_is_json", "caption_not_json", "missing_caption_field", "caption_not_text")


def check_webdataset(shards: list[str], image_key: str, caption_key: str) -> None:
    """ValueError unless every shard exists (the first missing ones named, and how many) and the first sample holds
    `image_key` and the member of `caption_key` (MEMBER or MEMBER:FIELD.PATH, io.parse_caption_key), e.g.
    img2dataset's jpg and txt, or jpg and json:caption; and unless that sample's caption is text (io.caption_text):
    a plain member holding a JSON object (`caption_key: json`) is refused with its fields and the key to write, a
    field that is missing, null or not a string with the fields there are."""
    member, _ = io.parse_caption_key(caption_key)
    path, sample = _check_shards(shards, {image_key: "image_key", member: "caption_key"}, "webdataset",
                                 read=(member,))
    try:
        io.caption_text(sample, caption_key)
    except io.CaptionError as exn:
        if exn.reason in REFUSED_CAPTIONS:
            raise ValueError(f"webdataset.{exn} (the first sample of {path}, {sample['__key__']!r})") from None


def check_tripletdata(shards: list[str]) -> None:
    """ValueError unless every shard exists and the first sample holds TripletData's image, caption, neg_image and
    neg_caption members."""
    from .data import FORMATS  # imports torch: only a tripletdata source pays for it

    _check_shards(shards, dict.fromkeys(FORMATS["tripletdata"], ""), "tripletdata")
