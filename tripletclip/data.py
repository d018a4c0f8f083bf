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
    """One epoch of this rank's batches, from global batch `skip` on, as (index, batch): index is the global batch's
    number in the epoch (the data position a checkpoint records), batch a tuple (image (B,3,H,W) float,
    text (B,L), neg_image (B,3,H,W) or an empty tensor, neg_text (B,K,L), neg_mask (B,K) bool)."""

    def __init__(self, shards: Sequence[str], batch_size: int, tokenizer: Callable, transform: BatchTransform,
                 seed: int, epoch: int, skip: int = 0, rank: int = 0, world_size: int = 1, num_negatives: int = 1,
                 neg_images: bool = True, shuffle_buffer: int = 2000, cache: Cache | None = None):
        super().__init__()
        self.shards, self.batch_size, self.tokenizer, self.transform = list(shards), batch_size, tokenizer, transform
        self.seed, self.epoch, self.skip, self.rank, self.world_size = seed, epoch, skip, rank, world_size
        self.num_negatives, self.neg_images, self.shuffle_buffer = num_negatives, neg_images, shuffle_buffer
        self.cache = cache

    def triplets(self, urls: list[str]) -> Iterator[tuple]:
        """(key, image, caption, neg_image, neg_caption) of each triplet of the shards, in order, as bytes."""
        for url in urls:
            if self.cache and url in self.cache.shards:
                yield from self.cache.shards[url]
                continue
            rows, errors = [], []
            for sample in io.iter_shard(url, errors):
                fields = triplet_fields(sample)
                if fields is None:
                    log.warning("skipping %s: it has neither %s", sample.get("__key__"),
                                " nor ".join("/".join(keys) for keys in FORMATS.values()))
                    continue
                rows.append((f"{url}#{sample['__key__']}", *fields))
                yield rows[-1]
            for error in errors:
                log.warning("skipping what cannot be read: %s", error)
            if self.cache and rows:  # a shard read to its end (a missing one is looked for again)
                self.cache.keep(self.cache.shards, url, rows, sum(len(f) for row in rows for f in row))

    def raw_batches(self) -> Iterator[list[tuple]]:
        """The epoch's global batches of raw triplets, identical in every process."""
        urls = list(self.shards)
        random.Random(f"shards:{self.seed}:{self.epoch}").shuffle(urls)
        shuffle = wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer,
                              rng=random.Random(f"samples:{self.seed}:{self.epoch}"))
        batch = []
        for row in shuffle(self.triplets(urls)):
            batch.append(row)
            if len(batch) == self.batch_size * self.world_size:
                yield batch
                batch = []

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for index, raw in enumerate(self.raw_batches()):
            if index >= self.skip and (index - self.skip) % workers == worker:
                yield index, self.collate(raw[self.rank * self.batch_size:(self.rank + 1) * self.batch_size])

    def decode(self, data: bytes) -> torch.Tensor | None:
        try:
            return self.transform.fit(io.decode_image(data))
        except (OSError, UnidentifiedImageError, ValueError) as exn:
            log.warning("an undecodable image in a batch (%s); its sample is replaced by the batch's first", exn)
            return None

    def prepare(self, rows: list[tuple]) -> dict[str, tuple | None]:
        """key -> (image, text, neg_image, neg_text, neg_mask) of each raw row, or None where an image does not
        decode. The captions are tokenized together: open_clip's tokenizer costs less per call on a list."""
        negatives, masks = [], []
        for row in rows:
            found = [line.strip() for line in row[4].decode().splitlines() if line.strip()][:self.num_negatives]
            negatives += found + [""] * (self.num_negatives - len(found))
            masks.append(torch.tensor([True] * len(found) + [False] * (self.num_negatives - len(found))))
        texts = self.tokenizer([row[2].decode() for row in rows]) if rows else []
        neg_texts = self.tokenizer(negatives).view(len(rows), self.num_negatives, -1) if rows else []
        prepared = {}
        for row, text, neg_text, mask in zip(rows, texts, neg_texts, masks):
            image = self.decode(row[1])
            neg = self.decode(row[3]) if self.neg_images else torch.empty(0, dtype=torch.uint8)
            ok = image is not None and neg is not None
            prepared[row[0]] = (image, text, neg, neg_text, mask) if ok else None
        return prepared

    def collate(self, rows: list[tuple]) -> tuple[torch.Tensor, ...]:
        cached = self.cache.samples if self.cache else {}
        prepared = self.prepare([row for row in rows if row[0] not in cached])
        if self.cache:
            for key, sample in prepared.items():
                self.cache.keep(cached, key, sample, sum(t.nbytes for t in sample) if sample else 0)
        samples = [s for s in (prepared[row[0]] if row[0] in prepared else cached[row[0]] for row in rows) if s]
        if not samples:
            raise RuntimeError("no image of a whole batch decodes: the shards are not images")
        # A corrupt image cannot simply be dropped: every rank must keep the same batch size for the gather.
        samples += [samples[0]] * (len(rows) - len(samples))
        images, texts, neg_images, neg_texts, masks = (torch.stack(t) for t in zip(*samples))
        return (self.transform(images), texts, self.transform(neg_images) if self.neg_images else torch.empty(0),
                neg_texts, masks)


def batches(shards: Sequence[str], batch_size: int, tokenizer, transform: BatchTransform, seed: int,
            start: tuple[int, int] = (0, 0), workers: int = 0, cache_mb: float = 0,
            **kwargs) -> Iterator[tuple[tuple[int, int], tuple]]:
    """This rank's batches forever, epoch after epoch, from position start = (epoch, global batch index), as
    ((epoch, next index), batch): the position to resume from once this batch is consumed. With `cache_mb` and no
    loader workers (whose copies of a cache would die with each epoch's workers), later epochs reuse what the first
    one read, up to that many megabytes (see `Cache`)."""
    epoch, skip = start
    cache = Cache(cache_mb) if cache_mb and not workers else None
    while True:
        dataset = TripletBatches(shards, batch_size, tokenizer, transform, seed, epoch, skip=skip, cache=cache,
                                 **kwargs)
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
        count = 0
        for index, batch in loader:
            count += 1
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
