"""The readers that issue 20 replaced, against what they replaced, side by side in one run on the same files.

    python benchmarks/readers.py [--rows 1000000] [--samples 4000] [--rounds 3]

- URL list: `tables.read` (fields split at tabs, nothing else: a caption keeps its quotes) against pyarrow's CSV reader
  with a tab delimiter, which img2dataset used on the TSV directly (and which drops a caption's quotes, or refuses the
  whole list at an unclosed one), on a CC3M-like headerless TSV of `--rows` rows without quotes, so both read it.
- Shard: `io.iter_shard` (members grouped by key wherever they stand; two passes: headers, then data) against
  webdataset's `tarfile_samples` (one streaming pass, members grouped while adjacent), which the training loader used,
  on a packed-like shard of `--samples` triplets (jpg, txt, neg.jpg, neg.txt, json; ~6 kB JPEGs).

The two alternate for `--rounds` rounds; the ratio of the fastest rounds is printed as Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tripletclip import io, tables  # noqa: E402


def url_list(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    words = np.array("a the red dog man woman sitting on top of wooden bench next to street with two cats".split())
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            caption = " ".join(words[rng.integers(0, len(words), 10)])
            f.write(f"{caption}\thttps://images.example.com/cc3m/{i:08d}.jpg?w=640\n")


def shard(path: Path, samples: int) -> None:
    rng = np.random.default_rng(0)
    images = [io.encode_jpeg(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), quality=80)
              for _ in range(16)]
    with io.shard_writer(path) as sink:
        for i in range(samples):
            sink.write({"__key__": f"{i:09d}", "jpg": images[i % 16], "txt": f"a caption number {i}",
                        "neg.jpg": images[(i + 1) % 16], "neg.txt": f"a negative number {i}", "json": {"key": i}})


def pyarrow_tsv(path: Path) -> int:
    from pyarrow import csv

    table = csv.read_csv(path, read_options=csv.ReadOptions(column_names=["caption", "url"]),
                         parse_options=csv.ParseOptions(delimiter="\t"))
    return table.num_rows


def ours_tsv(path: Path) -> int:
    return tables.read(path).data.num_rows


def webdataset_shard(path: Path) -> int:
    import webdataset as wds

    return sum(1 for _ in wds.tariterators.tarfile_samples(iter([{"url": str(path)}])))


def ours_shard(path: Path) -> int:
    return sum(1 for _ in io.iter_shard(path))


def race(name: str, baseline, ours, path: Path, rounds: int) -> str:
    times = {"baseline": [], "ours": []}
    for _ in range(rounds):
        for label, fn in (("baseline", baseline), ("ours", ours)):
            start = time.perf_counter()
            count = fn(path)
            times[label].append(time.perf_counter() - start)
        print(f"{name}: {count} rows/samples, baseline {times['baseline'][-1]:.2f} s, ours {times['ours'][-1]:.2f} s",
              file=sys.stderr)
    best_b, best_o = min(times["baseline"]), min(times["ours"])
    return f"| {name} | {best_b:.2f} s | {best_o:.2f} s | {best_o / best_b:.2f}x |"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the URL list")
    parser.add_argument("--samples", type=int, default=4000, help="triplets of the shard")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tsv, tar = Path(tmp) / "cc3m.tsv", Path(tmp) / "shard.tar"
        url_list(tsv, args.rows)
        shard(tar, args.samples)
        lines = [f"{platform.processor() or platform.machine()}, Python {platform.python_version()}; fastest of "
                 f"{args.rounds} alternating rounds", "",
                 "| reader | before | ours | ours / before |", "|---|---:|---:|---:|",
                 race(f"URL list, {args.rows:,} rows (pyarrow CSV / tables.read)", pyarrow_tsv, ours_tsv, tsv,
                      args.rounds),
                 race(f"shard, {args.samples:,} triplets (webdataset / io.iter_shard)", webdataset_shard, ours_shard,
                      tar, args.rounds)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
