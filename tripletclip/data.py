"""Training data: triplet webdataset shards, shuffled, split across workers, batched and tokenized."""

from __future__ import annotations

import logging
import random
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
import webdataset as wds

from . import io

log = logging.getLogger(__name__)
TRIPLET_KEYS = ("jpg", "txt", "neg.jpg", "neg.txt")


def _warn(exn: Exception) -> bool:
    log.warning("skipping a bad sample: %s", exn)
    return True


class BatchTransform:
    """The model's eval preprocessing (resize, then normalize by its mean and std) applied to a whole uint8 batch at
    once: per-image torchvision transforms cost more than the tiny model's training step on a CPU."""

    def __init__(self, preprocess_cfg: dict):
        size = preprocess_cfg["size"]
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.mean = torch.tensor(preprocess_cfg["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(preprocess_cfg["std"]).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bicubic", antialias=True, align_corners=False).clamp_(0, 1)
        return (x - self.mean) / self.std


def triplet_pipeline(
    shards: Sequence[str], batch_size: int, tokenizer: Callable, seed: int, epoch: int, shuffle_buffer: int = 2000,
) -> wds.DataPipeline:
    """One epoch of (image, text, neg_image, neg_text) batches, images as uint8 (B, 3, H, W); the order depends only
    on (seed, epoch), so every method of an equal-compute comparison sees the same samples in the same order."""
    urls = list(shards)
    random.Random(f"shards:{seed}:{epoch}").shuffle(urls)

    def tokenize(sample):
        image, text, neg_image, neg_text = sample
        return image, tokenizer(text)[0], neg_image, tokenizer(neg_text)[0]

    return wds.DataPipeline(
        wds.SimpleShardList(urls),
        wds.split_by_worker,
        wds.tarfile_to_samples(handler=_warn),
        wds.shuffle(shuffle_buffer, initial=shuffle_buffer, rng=random.Random(f"samples:{seed}:{epoch}")),
        wds.decode("torchrgb8", handler=_warn),
        wds.to_tuple(*TRIPLET_KEYS, handler=_warn),
        wds.map(tokenize, handler=_warn),
        wds.batched(batch_size, partial=False),
    )


def batches(shards: Sequence[str], batch_size: int, tokenizer, seed: int, workers: int = 0,
            **kwargs) -> Iterator[tuple[torch.Tensor, ...]]:
    """Batches forever, epoch after epoch."""
    epoch = 0
    while True:
        pipeline = triplet_pipeline(shards, batch_size, tokenizer, seed, epoch, **kwargs)
        loader = torch.utils.data.DataLoader(pipeline, batch_size=None, num_workers=workers,
                                             persistent_workers=False)
        count = 0
        for batch in loader:
            count += 1
            yield batch
        if count == 0:
            raise RuntimeError(f"no complete batch of {batch_size} in {len(shards)} shards: too little data")
        epoch += 1


def read_pairs(shard: str) -> tuple[list, list[str]]:
    """All (image, caption) pairs of a small shard, decoded, in order."""
    images, captions = [], []
    for sample in io.iter_shard(shard):
        images.append(io.decode_image(sample["jpg"]))
        captions.append(sample["txt"].decode())
    return images, captions
