"""The download stage: img2dataset turns a URL list into webdataset shards, the same way for CC3M's TSV over
http(s) and for the shapes world's `file://` list. Shards are written to a staging folder and renamed into place.

The URL list is read by `tables.read` (a TSV byte for byte, with or without a header row; CSV; parquet), checked for
its columns before img2dataset starts, and handed to img2dataset as parquet: img2dataset's own TSV reader takes a
caption's leading quote for CSV quoting, and one unclosed quote would make it refuse the whole list."""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import io, tables

log = logging.getLogger(__name__)


def shard_ids(num_samples: int, samples_per_shard: int) -> list[str]:
    """img2dataset's shard names for a URL list of `num_samples` rows."""
    return [f"{i:05d}" for i in range(math.ceil(num_samples / samples_per_shard))]


def download(
    url_list: str, output_dir: str, samples_per_shard: int, image_size: int, resize_mode: str = "border",
    url_col: str = "url", caption_col: str = "caption", processes: int = 1, threads: int = 8, timeout: int = 10,
    retries: int = 0, expected_shards: list[str] | None = None, header: bool | str = "auto",
    columns: list[str] | None = None, num_samples: int | None = None,
) -> dict:
    """Run img2dataset on the first `num_samples` good rows of `url_list` (see `read_url_list`); returns the summed
    stats, which are also written to `output_dir/stats.json`: img2dataset's counts and, under `url_list`, the rows
    read, used and skipped by reason. Every expected shard exists afterwards (an all-failed shard is empty). Raises
    ValueError, before any download, when the list lacks a configured column."""
    from img2dataset import download as img2dataset_download  # heavy import; only this stage needs it

    out = Path(output_dir)
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows, list_stats = read_url_list(url_list, url_col, caption_col, header, columns, num_samples)
    pq.write_table(rows, staging / "url_list.parquet")
    img2dataset_download(
        url_list=str(staging / "url_list.parquet"), input_format="parquet", url_col="url", caption_col="caption",
        output_format="webdataset", output_folder=str(staging), processes_count=processes, thread_count=threads,
        image_size=image_size, resize_mode=resize_mode, number_sample_per_shard=samples_per_shard,
        timeout=timeout, retries=retries, enable_wandb=False, distributor="multiprocessing",
        disallowed_header_directives=[],  # the default list refuses no file:// image, but costs a header parse
    )
    shards = expected_shards or sorted(p.stem for p in staging.glob("*.tar"))
    totals = {"count": 0, "successes": 0, "failed_to_download": 0, "failed_to_resize": 0, "errors": {}}
    for shard in shards:
        tar = staging / f"{shard}.tar"
        if not tar.exists():  # img2dataset writes no tar when a shard had no rows
            with io.shard_writer(tar):
                pass
        stats_path = staging / f"{shard}_stats.json"
        stats = io.read_json(stats_path) if stats_path.exists() else {"count": 0, "successes": 0}
        for k in ("count", "successes", "failed_to_download", "failed_to_resize"):
            totals[k] += stats.get(k, 0)
        for status, n in stats.get("status_dict", {}).items():
            if status != "success":
                totals["errors"][status] = totals["errors"].get(status, 0) + n
        io.write_json(stats_path, stats)
    totals["shards"] = len(shards)
    totals["url_list"] = list_stats
    (staging / "url_list.parquet").unlink()
    for path in staging.iterdir():
        os.replace(path, out / path.name)
    shutil.rmtree(staging)
    io.write_json(out / "stats.json", totals)
    for problem in list_stats["malformed_lines"]:
        log.warning("%s: %s (skipped)", url_list, problem)
    log.info("downloaded %d of %d samples into %d shards (%d failed to download, %d failed to resize)",
             totals["successes"], totals["count"], len(shards), totals["failed_to_download"], totals["failed_to_resize"])
    return totals


def read_url_list(path: str, url_col: str = "url", caption_col: str = "caption", header: bool | str = "auto",
                  columns: list[str] | None = None, num_samples: int | None = None) -> tuple[pa.Table, dict]:
    """(url, caption) rows of a URL list, in file order, and what was skipped: `malformed` lines (wrong field count,
    blank), rows `not_utf8`, and rows beyond `num_samples`. A caption is kept exactly as written (tables.read).
    Raises ValueError naming the columns found and configured when `url_col` or `caption_col` is missing."""
    table = tables.read(path, header, columns, url_col, caption_col)
    tables.require_columns(table, path, {"download.url_col": url_col, "download.caption_col": caption_col})
    rows = table.data.select([url_col, caption_col]).rename_columns(["url", "caption"])
    beyond = max(0, rows.num_rows - num_samples) if num_samples is not None else 0
    rows = rows.slice(0, rows.num_rows - beyond)
    skipped = {"malformed": table.count("malformed"), "not_utf8": table.count("not_utf8"),
               "beyond_num_samples": beyond}
    stats = {"rows": table.data.num_rows + len(table.skipped_rows), "used": rows.num_rows, "header": table.header,
             "skipped": {k: v for k, v in skipped.items() if v}, "malformed_lines": table.malformed[:100]}
    if beyond:
        log.info("%s: using the first %d rows (download.num_samples); %d more are left out", path, rows.num_rows,
                 beyond)
    return rows, stats
