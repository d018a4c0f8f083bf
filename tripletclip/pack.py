"""The pack stage: join a downloaded shard with its negatives into triplet shards (jpg, txt, neg.jpg, neg.txt, json).
neg.txt holds every negative caption, one per line, the first being the one neg.jpg draws. The input shard's image
and caption may be under other member names (a webdataset source's image_key and caption_key, the latter perhaps a
field of a JSON member, json:caption, read by io.caption_text); the triplet shard
always names them jpg and txt, which training reads, and keeps the image's bytes as they are.

Every downloaded sample is either packed or dropped with a reason, and the stats say so: in = packed + sum(dropped).
"""

from __future__ import annotations

import collections
import json
import logging
from pathlib import Path

from . import io

log = logging.getLogger(__name__)


def pack_shard(
    download_tar: str, negatives: str, synthesized_tar: str, output: str, stats_path: str,
    download_stats: str | None = None, image_key: str = "jpg", caption_key: str = "txt",
) -> dict:
    """Pack `download_tar`'s pairs (image under `image_key`, caption under `caption_key`) with their negatives into
    `output`; the stats, also written to `stats_path`, count every input sample as packed or dropped by reason."""
    errors: list[str] = []
    neg_rows = {row["key"]: row for row in io.read_jsonl(negatives)}
    neg_images = {s["__key__"]: s for s in io.iter_shard(synthesized_tar, errors)}
    dropped = collections.Counter()
    seen = packed = 0
    # img2dataset's threads store samples in the order they finish; sorting by key makes the packed shard, and so
    # the training order, the same on every run.
    samples = sorted(io.iter_shard(download_tar, errors), key=lambda s: s["__key__"])
    with io.shard_writer(output) as sink:
        for sample in samples:
            seen += 1
            key = sample["__key__"]
            reason, caption = _check(sample, neg_rows.get(key), neg_images.get(key), image_key, caption_key)
            if reason:
                dropped[reason] += 1
                continue
            row = neg_rows[key]
            types = [n["type"] for n in row["negatives"]]
            meta = {"key": key, "neg_type": types[0], "neg_types": types, "negate_backend": row["backend"],
                    "synthesize_backend": json.loads(neg_images[key].get("json", b"{}")).get("backend")}
            if "json" in sample:  # img2dataset's own record (url, status, original size), or COCO's ids
                try:
                    meta["source"] = json.loads(sample["json"])
                except ValueError:  # a shard made elsewhere may hold anything there; it is only provenance
                    errors.append(f"{download_tar}: {key}.json is not JSON: not kept")
            negatives = "\n".join(n["text"] for n in row["negatives"]).encode()
            sink.write({"__key__": key, "jpg": sample[image_key], "txt": caption.encode("utf-8"),
                        "neg.jpg": neg_images[key]["jpg"], "neg.txt": negatives, "json": meta})
            packed += 1
    count_in = seen
    # img2dataset writes {shard}_stats.json beside {shard}.tar
    download_stats = download_stats or str(Path(download_tar).with_name(Path(download_tar).stem + "_stats.json"))
    if Path(download_stats).exists():
        # Samples img2dataset stored but we could not read back (a truncated shard) are counted, not lost.
        expected = io.read_json(download_stats).get("successes", seen)
        if expected > seen:
            dropped["unreadable_in_download_shard"] += expected - seen
            count_in = expected
    stats = {"in": count_in, "packed": packed, "dropped": dict(dropped), "input_errors": errors}
    assert stats["in"] == packed + sum(dropped.values())
    io.write_json(stats_path, stats)
    for e in errors:
        log.error("input shard: %s", e)
    log.info("%s: packed %d of %d %s", output, packed, count_in, dict(dropped) or "")
    return stats


def _check(sample: dict, neg_row: dict | None, neg_image: dict | None, image_key: str = "jpg",
           caption_key: str = "txt") -> tuple[str | None, str | None]:
    """(why a sample cannot be packed, None), or (None, its caption): the text io.caption_text reads under
    `caption_key`, a member or a JSON member's field; a sample without one is dropped under the CaptionError's reason
    (missing_caption, empty_caption, missing_caption_field, caption_not_text, ...)."""
    if image_key not in sample:
        return "missing_image", None
    try:
        caption = io.caption_text(sample, caption_key)
    except io.CaptionError as exn:
        return ("missing_caption" if exn.reason == "empty_caption" else exn.reason), None
    try:
        io.decode_image(sample[image_key])
    except Exception:
        return "corrupt_image", None
    if neg_row is None or neg_row.get("status") != "ok":
        return "no_negative_caption", None
    if neg_image is None or "jpg" not in neg_image:
        return "no_negative_image", None
    try:
        io.decode_image(neg_image["jpg"])
    except Exception:
        return "corrupt_negative_image", None
    return None, caption

