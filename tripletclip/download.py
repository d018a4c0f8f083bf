"""The download stage: img2dataset turns a URL list into webdataset shards, the same way for CC3M's TSV over
http(s) and for the shapes world's `file://` list. Shards are written to a staging folder and renamed into place."""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path

from . import io

log = logging.getLogger(__name__)


def shard_ids(num_samples: int, samples_per_shard: int) -> list[str]:
    """img2dataset's shard names for a URL list of `num_samples` rows."""
    return [f"{i:05d}" for i in range(math.ceil(num_samples / samples_per_shard))]


def download(
    url_list: str, output_dir: str, samples_per_shard: int, image_size: int, resize_mode: str = "border",
    url_col: str = "url", caption_col: str = "caption", processes: int = 1, threads: int = 8, timeout: int = 10,
    retries: int = 0, expected_shards: list[str] | None = None,
) -> dict:
    """Run img2dataset on `url_list` (TSV with `url_col` and `caption_col`); returns the summed stats, which are
    also written to `output_dir/stats.json`. Every expected shard exists afterwards (an all-failed shard is empty)."""
    from img2dataset import download as img2dataset_download  # heavy import; only this stage needs it

    out = Path(output_dir)
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    img2dataset_download(
        url_list=url_list, input_format="tsv", url_col=url_col, caption_col=caption_col,
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
    for path in staging.iterdir():
        os.replace(path, out / path.name)
    shutil.rmtree(staging)
    io.write_json(out / "stats.json", totals)
    log.info("downloaded %d of %d samples into %d shards (%d failed to download, %d failed to resize)",
             totals["successes"], totals["count"], len(shards), totals["failed_to_download"], totals["failed_to_resize"])
    return totals
