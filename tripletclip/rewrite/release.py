"""LaCLIP's released rewrites: the rewrite backend that reads them instead of running a model.

LaCLIP released, for CC3M, CC12M and RedCaps, one text file per kind of meta pairs (ChatGPT, Bard, MSCOCO, Human;
their README, "Pre-computed Augmented Texts"), one rewrite per line, line i belonging to row i of the dataset's
caption list; their loader reads them with readlines(), requires every file to have the same number of lines and
pairs line i with the CSV's row i (LaCLIP data.py:26-34, 46-50), and falls back to the original caption when a
rewrite has fewer than 2 words (data.py:68-69). `files:` lists them, one per rewrite: the first `num_rewrites`.

The DAG's shards come from img2dataset, whose sample key gives the row: shard id and index within the shard, the
index zero-padded to ceil(log10(samples_per_shard)) digits (img2dataset 1.47 downloader.py:69-75, 202:
key = 10**digits * shard + index). The rows are those the download handed img2dataset: the URL list must be the
release's own list, whole (a line the download skips as malformed would shift every row after it).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from .base import Outcome

MIN_WORDS = 2  # LaCLIP data.py:68: a rewrite of fewer words is not used


def count_lines(path: str) -> int:
    """Lines of a text file, as readlines() counts them (a last line without a newline counts)."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n, last = n + chunk.count(b"\n"), chunk[-1:]
    return n + (last != b"\n")


def check_release(files: Sequence[str], rows: int) -> None:
    """Raise ValueError, naming the file, unless every release file has one line per row of the URL list."""
    for path in files:
        lines = count_lines(path)
        if lines != rows:
            raise ValueError(f"rewrite.files: {path} has {lines} lines, but the URL list has {rows} rows; each of "
                             "LaCLIP's files holds one rewrite per row of its caption list, in order")


def row_of(key: str, samples_per_shard: int | None) -> int:
    """The URL list row of an img2dataset sample key; with no `samples_per_shard`, `key` is a 1-based line number
    (a caption file's, captions.read)."""
    if samples_per_shard is None:
        return int(key) - 1
    digits = math.ceil(math.log10(samples_per_shard))
    shard, index = divmod(int(key), 10 ** digits)
    if index >= samples_per_shard:
        raise ValueError(f"sample key {key!r} is no img2dataset key of shards of {samples_per_shard} samples")
    return shard * samples_per_shard + index


def read_rows(path: str, rows: Iterable[int]) -> dict[int, str]:
    """row -> the line (without its newline) of `path`, for `rows` only, reading up to the last of them."""
    wanted = set(rows)
    found: dict[int, str] = {}
    last = max(wanted, default=-1)
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        for row, line in enumerate(f):
            if row > last:
                break
            if row in wanted:
                found[row] = line.rstrip("\n").rstrip("\r")
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"rewrite.files: {path} has no line {missing[0] + 1} (a row of this shard)")
    return found


def rewrites_for(files: Sequence[str], keys: Sequence[str], samples_per_shard: int | None) -> dict[str, list[str]]:
    """key -> its line of each file, in the order of `files`."""
    rows = {key: row_of(key, samples_per_shard) for key in keys}
    lines = [read_rows(path, rows.values()) for path in files]
    return {key: [found[row] for found in lines] for key, row in rows.items()}


class ReleaseRewriter:
    """The rewrites LaCLIP released for each caption's row; a blank line or one of fewer than 2 words is rejected
    (`empty`, `short`), as their loader passes it over."""

    name = "laclip"

    def __init__(self, files: Sequence[str] | None = None, num_rewrites: int = 4, samples_per_shard: int | None = None,
                 seed: int = 0):
        if not files:
            raise ValueError("rewrite.backend laclip needs rewrite.files: LaCLIP's released text files, one per kind")
        if num_rewrites > len(files):
            raise ValueError(f"rewrite.num_rewrites is {num_rewrites}, but rewrite.files lists {len(files)} files")
        self.files, self.k, self.samples_per_shard = list(files[:num_rewrites]), num_rewrites, samples_per_shard

    def rewrite(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        found = rewrites_for(self.files, [key for key, _ in items], self.samples_per_shard)
        outcomes = []
        for key, _ in items:
            kept, rejected = [], []
            for text in found[key]:
                text = " ".join(text.split())
                reason = "empty" if not text else "short" if len(text.split(" ")) < MIN_WORDS else None
                (rejected if reason else kept).append(reason or text)
            outcomes.append(Outcome.of(kept, self.k, self.name, rejected=rejected))
        return outcomes
