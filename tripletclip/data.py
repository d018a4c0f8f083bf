"""Training data: triplet webdataset shards as batches of (image, text, neg_image, neg_text, neg_mask).

The unit is the *global* batch: every process reads the same shuffled stream of raw (undecoded) samples, cuts it into
global batches, and decodes only its share — rank r takes rows [r*B, (r+1)*B) of each global batch, and loader
worker w of a rank takes every n-th global batch. So the order of samples depends only on (seed, epoch), never on
the number of GPUs or workers: every method of an equal-compute comparison sees the same data, a 2-process run sees
the global batch of a 1-process one, and a resumed run skips to its position without decoding what it skips. The
price is that every process reads every shard's bytes (sequential reads, shared by the page cache of a node);
decoding, the costly part, is never repeated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import webdataset as wds
from PIL import Image, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from . import io

log = logging.getLogger(__name__)
# Field names of a triplet in our packed shards and in the authors' released TripletData shards.
FORMATS = {
    "pipeline": ("jpg", "txt", "neg.jpg", "neg.txt"),
    "tripletdata": ("image", "caption", "neg_image", "neg_caption"),
}


@dataclasses.dataclass(frozen=True)
class View:
    """What an arm reads beside the triplet shards (tripletclip.plan.arms), each a list of files aligned with the
    shards (shard i's file at i; None: the shard's own fields):

    rewrites    the rewrite stage's JSONL of each shard ({"key", "caption", "rewrites": [...]}): each visit of a
                triplet takes one of its caption's variants, {caption} + its rewrites, uniformly (LaCLIP's
                `CsvDatasetAugCap`, `LijieFan/LaCLIP` data.py), drawn from (seed, epoch, key) alone (`variant`)
    negatives   a negative set's JSONL of each shard (the negate stage's rows): its negative captions replace the
                shard's; a triplet without any is masked out of the loss (tripletclip.losses)
    neg_images  that set's synthesized tar of each shard: its images replace the shard's; a triplet without one is
                not read (each shard's count of them is logged)
    extra_pairs the negative pairs (negative image, first negative caption) join the stream as positive pairs,
                shuffled with the real ones, each once per epoch (LaCLIP+HN, TripletCLIP's Table 2)
    negative_set the name of the set `negatives` are of (for the report; None: the shards' own, set `main`)"""

    rewrites: tuple[str, ...] | None = None
    negatives: tuple[str, ...] | None = None
    neg_images: tuple[str, ...] | None = None
    extra_pairs: bool = False
    negative_set: str | None = None

    @classmethod
    def from_dict(cls, value: dict | None) -> "View":
        value = value or {}
        return cls(**{f.name: tuple(value[f.name]) if isinstance(value.get(f.name), list) else value.get(f.name)
                      for f in dataclasses.fields(cls) if f.name in value})


def variant(seed: int, epoch: int, key: str, count: int) -> int:
    """Which of a caption's `count` variants the visit of sample `key` in `epoch` takes: uniform, and a function of
    (seed, epoch, key) only, so a resumed run, any number of processes and any loader worker draw the same."""
    digest = hashlib.sha256(f"caption:{seed}:{epoch}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def side_rows(path: str) -> dict[str, dict]:
    """key -> row of a stage's JSONL (the rewrite or negate stage's rows of one shard)."""
    return {row["key"]: row for row in io.read_jsonl(path)}


def triplet_fields(sample: dict) -> tuple[bytes, bytes, bytes, bytes] | None:
    """(image, caption, neg_image, neg_caption) bytes of a raw sample in either format, or None if it has neither."""
    for keys in FORMATS.values():
        if all(k in sample for k in keys):
            return tuple(sample[k] for k in keys)
    return None


class BatchTransform:
    """The model's eval preprocessing (resize the short side, center crop, normalize by its mean and std): `fit` brings
    each decoded image to the model's size (a no-op for images already there), `__call__` normalizes the whole uint8
    batch at once: per-image float transforms cost more than the tiny model's training step on a CPU."""

    def __init__(self, preprocess_cfg: dict):
        size = preprocess_cfg["size"]
        self.size = [size, size] if isinstance(size, int) else list(size)
        self.mean = torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1)

    def fit(self, image: Image.Image) -> torch.Tensor:
        """A decoded image as uint8 (3, H, W) at the model's size."""
        if [image.height, image.width] != self.size:
            image = TF.center_crop(TF.resize(image, min(self.size), TF.InterpolationMode.BICUBIC), self.size)
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """A uint8 batch already at the model's size (see `fit`), normalized."""
        return (images.float().div_(255) - self.mean) / self.std


class Cache:
    """What one loading process has read and prepared, kept for the next epochs while it fits in `megabytes`: each
    shard's raw triplets, each sample's tokens and decoded images. On a CPU, tar parsing, decoding and tokenizing
    cost a fifth of the tiny model's step, and the embedded world is read three times in the claim's
    budget; a CC3M-sized set does not fit and streams as before. Nothing changes the order or the values of a batch."""

    def __init__(self, megabytes: float):
        self.free = megabytes * 2**20
        self.shards: dict[str, list[tuple]] = {}
        self.samples: dict[str, tuple | None] = {}

    def keep(self, store: dict, key: str, value, nbytes: int) -> None:
        if nbytes <= self.free:
            store[key] = value
            self.free -= nbytes


class TripletBatches(torch.utils.data.IterableDataset):
    """One epoch of this rank's batches, from global batch `skip` on, as (index, batch, synthetic): index is the
    global batch's number in the epoch (the data position a checkpoint records), batch a tuple (image (B,3,H,W)
    float, text (B,L), neg_image (B,3,H,W) or an empty tensor, neg_text (B,K,L), neg_mask (B,K) bool), synthetic the
    number of the global batch's pairs that are negative pairs read as positives (`View.extra_pairs`). The epoch's
    last item, from worker 0, is (-1, None, the real pairs in the epoch's stream): `batches` counts with it.

    A raw row is (key, image, caption, neg_image, neg_caption, synthetic): bytes, the caption a tuple of its
    variants under `View.rewrites`."""

    def __init__(self, shards: Sequence[str], batch_size: int, tokenizer: Callable, transform: BatchTransform,
                 seed: int, epoch: int, skip: int = 0, rank: int = 0, world_size: int = 1, num_negatives: int = 1,
                 neg_images: bool = True, shuffle_buffer: int = 2000, cache: Cache | None = None,
                 view: View = View()):
        super().__init__()
        self.shards, self.batch_size, self.tokenizer, self.transform = list(shards), batch_size, tokenizer, transform
        self.seed, self.epoch, self.skip, self.rank, self.world_size = seed, epoch, skip, rank, world_size
        self.num_negatives, self.neg_images, self.shuffle_buffer = num_negatives, neg_images, shuffle_buffer
        self.cache, self.view = cache, view
        for name in ("rewrites", "negatives", "neg_images"):
            files = getattr(view, name)
            if files is not None and len(files) != len(self.shards):
                raise ValueError(f"View.{name}: {len(files)} files for {len(self.shards)} shards")

    def triplets(self, urls: list[str]) -> Iterator[tuple]:
        """The raw rows of the shards' triplets, in order, as the arm's view reads them: a shard's own, then, under
        `View.extra_pairs`, its negative pair as a row of its own."""
        for url in urls:
            if self.cache and url in self.cache.shards:
                yield from self.cache.shards[url]
                continue
            rows, errors, skipped = [], [], 0
            sides = self.sides(url)
            for sample in io.iter_shard(url, errors):
                fields = triplet_fields(sample)
                if fields is None:
                    log.warning("skipping %s: it has neither %s", sample.get("__key__"),
                                " nor ".join("/".join(keys) for keys in FORMATS.values()))
                    continue
                row = self.viewed((f"{url}#{sample['__key__']}", *fields, False), sample["__key__"], sides)
                if row is None:
                    skipped += 1
                    continue
                made = [row]
                if self.view.extra_pairs and row[3] and row[4].strip():
                    made.append((f"{row[0]}#synthetic", row[3], row[4].splitlines()[0], b"", b"", True))
                rows += made if self.cache else []
                yield from made
            if skipped:
                log.warning("%s: %d triplets without an image in this arm's negative set are not read", url, skipped)
            for error in errors:
                log.warning("skipping what cannot be read: %s", error)
            if self.cache and rows:  # a shard read to its end (a missing one is looked for again)
                self.cache.keep(self.cache.shards, url, rows, sum(_nbytes(f) for row in rows for f in row))

    def sides(self, url: str) -> dict:
        """What the view reads beside shard `url`: {"rewrites": key -> row, "negatives": key -> row, "neg_images":
        key -> sample} for the files it names."""
        i, found = self.shards.index(url), {}
        for name, read in (("rewrites", side_rows), ("negatives", side_rows),
                           ("neg_images", lambda p: {s["__key__"]: s for s in io.iter_shard(p)})):
            files = getattr(self.view, name)
            if files is not None:
                found[name] = read(files[i])
        return found

    @staticmethod
    def viewed(row: tuple, key: str, sides: dict) -> tuple | None:
        """`row` with the view's caption variants and negatives; None when its negative set has no image for it."""
        key_, image, caption, neg_image, neg_caption, synthetic = row
        if "rewrites" in sides:
            rewrites = sides["rewrites"].get(key, {}).get("rewrites", [])
            caption = (caption, *(r.encode("utf-8") for r in rewrites))
        if "negatives" in sides:
            negatives = sides["negatives"].get(key, {}).get("negatives", [])
            neg_caption = "\n".join(n["text"] for n in negatives).encode("utf-8")
        if "neg_images" in sides:
            if key not in sides["neg_images"]:
                return None
            neg_image = sides["neg_images"][key]["jpg"]
        return key_, image, caption, neg_image, neg_caption, synthetic

    def raw_batches(self, counted: dict | None = None) -> Iterator[list[tuple]]:
        """The epoch's global batches of raw rows, identical in every process; `counted["real"]` ends as the real
        pairs of the epoch's stream (those of its last, incomplete batch included)."""
        urls = list(self.shards)
        random.Random(f"shards:{self.seed}:{self.epoch}").shuffle(urls)
        shuffle = wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer,
                              rng=random.Random(f"samples:{self.seed}:{self.epoch}"))
        batch, real = [], 0
        for row in shuffle(self.triplets(urls)):
            batch.append(row)
            real += not row[5]
            if len(batch) == self.batch_size * self.world_size:
                yield batch
                batch = []
        if counted is not None:
            counted["real"] = real

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        counted = {}
        for index, raw in enumerate(self.raw_batches(counted)):
            if index >= self.skip and (index - self.skip) % workers == worker:
                synthetic = sum(row[5] for row in raw)
                yield index, self.collate(raw[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]), synthetic
        if worker == 0:
            yield -1, None, counted["real"]

    def sample_key(self, row: tuple) -> str:
        """The key a prepared row is kept under: the sample's, and the variant its caption takes this epoch."""
        if isinstance(row[2], bytes):
            return row[0]
        return f"{row[0]}@{variant(self.seed, self.epoch, row[0], len(row[2]))}"

    def caption(self, row: tuple) -> str:
        if isinstance(row[2], bytes):
            return row[2].decode()
        return row[2][variant(self.seed, self.epoch, row[0], len(row[2]))].decode()

    def decode(self, data: bytes) -> torch.Tensor | None:
        try:
            return self.transform.fit(io.decode_image(data))
        except (OSError, UnidentifiedImageError, ValueError) as exn:
            log.warning("an undecodable image in a batch (%s); its sample is replaced by the batch's first", exn)
            return None

    def prepare(self, rows: list[tuple]) -> dict[str, tuple | None]:
        """sample_key -> (image, text, neg_image, neg_text, neg_mask) of each raw row, or None where an image does
        not decode. The captions are tokenized together: open_clip's tokenizer costs less per call on a list."""
        negatives, masks = [], []
        for row in rows:
            found = [line.strip() for line in row[4].decode().splitlines() if line.strip()][:self.num_negatives]
            negatives += found + [""] * (self.num_negatives - len(found))
            masks.append(torch.tensor([True] * len(found) + [False] * (self.num_negatives - len(found))))
        texts = self.tokenizer([self.caption(row) for row in rows]) if rows else []
        neg_texts = self.tokenizer(negatives).view(len(rows), self.num_negatives, -1) if rows else []
        prepared = {}
        for row, text, neg_text, mask in zip(rows, texts, neg_texts, masks):
            image = self.decode(row[1])
            neg = self.decode(row[3]) if self.neg_images else torch.empty(0, dtype=torch.uint8)
            ok = image is not None and neg is not None
            prepared[self.sample_key(row)] = (image, text, neg, neg_text, mask) if ok else None
        return prepared

    def collate(self, rows: list[tuple]) -> tuple[torch.Tensor, ...]:
        cached = self.cache.samples if self.cache else {}
        keys = [self.sample_key(row) for row in rows]
        prepared = self.prepare([row for row, key in zip(rows, keys) if key not in cached])
        if self.cache:
            for key, sample in prepared.items():
                self.cache.keep(cached, key, sample, sum(t.nbytes for t in sample) if sample else 0)
        samples = [s for s in (prepared[key] if key in prepared else cached[key] for key in keys) if s]
        if not samples:
            raise RuntimeError("no image of a whole batch decodes: the shards are not images")
        # A corrupt image cannot simply be dropped: every rank must keep the same batch size for the gather.
        samples += [samples[0]] * (len(rows) - len(samples))
        images, texts, neg_images, neg_texts, masks = (torch.stack(t) for t in zip(*samples))
        return (self.transform(images), texts, self.transform(neg_images) if self.neg_images else torch.empty(0),
                neg_texts, masks)


def _nbytes(field) -> int:
    return sum(map(len, field)) if isinstance(field, tuple) else len(field) if isinstance(field, bytes) else 0


def batches(shards: Sequence[str], batch_size: int, tokenizer, transform: BatchTransform, seed: int,
            start: tuple[int, int] = (0, 0), workers: int = 0, cache_mb: float = 0, seen: dict | None = None,
            **kwargs) -> Iterator[tuple[tuple[int, int], tuple]]:
    """This rank's batches forever, epoch after epoch, from position start = (epoch, global batch index), as
    ((epoch, next index), batch): the position to resume from once this batch is consumed. With `cache_mb` and no
    loader workers (whose copies of a cache would die with each epoch's workers), later epochs reuse what the first
    one read, up to that many megabytes (see `Cache`). `seen`, when given, counts what the global batches consumed
    held: "real" and "synthetic" pairs (View.extra_pairs), and "real_per_epoch", the real pairs of an epoch's
    stream, once the first epoch is read."""
    epoch, skip = start
    cache = Cache(cache_mb) if cache_mb and not workers else None
    global_batch = batch_size * kwargs.get("world_size", 1)
    while True:
        dataset = TripletBatches(shards, batch_size, tokenizer, transform, seed, epoch, skip=skip, cache=cache,
                                 **kwargs)
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
        count = 0
        for index, batch, synthetic in loader:
            if index < 0:
                if seen is not None:
                    seen["real_per_epoch"] = synthetic
                continue
            count += 1
            if seen is not None:
                seen["real"] = seen.get("real", 0) + global_batch - synthetic
                seen["synthetic"] = seen.get("synthetic", 0) + synthetic
            yield (epoch, index + 1), batch
        if count == 0 and skip == 0:
            raise RuntimeError(f"no complete batch of {batch_size * kwargs.get('world_size', 1)} in {len(shards)} "
                               "shards: too little data")
        epoch, skip = epoch + 1, 0


def read_pairs(shard: str) -> tuple[list, list[str]]:
    """All (image, caption) pairs of a small shard, decoded, in order."""
    images, captions = [], []
    for sample in io.iter_shard(shard):
        images.append(io.decode_image(sample["jpg"]))
        captions.append(sample["txt"].decode())
    return images, captions
