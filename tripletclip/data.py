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


def _warn(exn: Exception) -> bool:
    log.warning("skipping a bad sample: %s", exn)
    return True


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


class TripletBatches(torch.utils.data.IterableDataset):
    """One epoch of this rank's batches, from global batch `skip` on, as (index, batch): index is the global batch's
    number in the epoch (the data position a checkpoint records), batch a tuple (image (B,3,H,W) float,
    text (B,L), neg_image (B,3,H,W) or an empty tensor, neg_text (B,K,L), neg_mask (B,K) bool)."""

    def __init__(self, shards: Sequence[str], batch_size: int, tokenizer: Callable, transform: BatchTransform,
                 seed: int, epoch: int, skip: int = 0, rank: int = 0, world_size: int = 1, num_negatives: int = 1,
                 neg_images: bool = True, shuffle_buffer: int = 2000):
        super().__init__()
        self.shards, self.batch_size, self.tokenizer, self.transform = list(shards), batch_size, tokenizer, transform
        self.seed, self.epoch, self.skip, self.rank, self.world_size = seed, epoch, skip, rank, world_size
        self.num_negatives, self.neg_images, self.shuffle_buffer = num_negatives, neg_images, shuffle_buffer

    def raw_batches(self) -> Iterator[list[tuple]]:
        """The epoch's global batches of raw triplets, identical in every process."""
        urls = list(self.shards)
        random.Random(f"shards:{self.seed}:{self.epoch}").shuffle(urls)
        pipeline = wds.DataPipeline(
            wds.SimpleShardList(urls),
            wds.tarfile_to_samples(handler=_warn),
            wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer,
                        rng=random.Random(f"samples:{self.seed}:{self.epoch}")),
        )
        batch = []
        for sample in pipeline:
            fields = triplet_fields(sample)
            if fields is None:
                log.warning("skipping %s: it has neither %s", sample.get("__key__"),
                            " nor ".join("/".join(keys) for keys in FORMATS.values()))
                continue
            batch.append(fields)
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

    def collate(self, rows: list[tuple]) -> tuple[torch.Tensor, ...]:
        # A corrupt image cannot simply be dropped: every rank must keep the same batch size for the gather.
        decoded = []
        for image, caption, neg_image, neg_caption in rows:
            image = self.decode(image)
            neg = self.decode(neg_image) if self.neg_images else torch.empty(0)
            if image is not None and neg is not None:
                decoded.append((image, caption, neg, neg_caption))
        if not decoded:
            raise RuntimeError("no image of a whole batch decodes: the shards are not images")
        decoded += [decoded[0]] * (len(rows) - len(decoded))
        images, captions, neg_images, neg_captions = zip(*decoded)
        negatives, mask = [], []
        for text in neg_captions:
            found = [line.strip() for line in text.decode().splitlines() if line.strip()][:self.num_negatives]
            negatives += found + [""] * (self.num_negatives - len(found))
            mask.append([True] * len(found) + [False] * (self.num_negatives - len(found)))
        return (
            self.transform(torch.stack(images)),
            self.tokenizer([c.decode() for c in captions]),
            self.transform(torch.stack(neg_images)) if self.neg_images else torch.empty(0),
            self.tokenizer(negatives).view(len(rows), self.num_negatives, -1),
            torch.tensor(mask),
        )


def batches(shards: Sequence[str], batch_size: int, tokenizer, transform: BatchTransform, seed: int,
            start: tuple[int, int] = (0, 0), workers: int = 0, **kwargs) -> Iterator[tuple[tuple[int, int], tuple]]:
    """This rank's batches forever, epoch after epoch, from position start = (epoch, global batch index), as
    ((epoch, next index), batch): the position to resume from once this batch is consumed."""
    epoch, skip = start
    while True:
        dataset = TripletBatches(shards, batch_size, tokenizer, transform, seed, epoch, skip=skip, **kwargs)
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
