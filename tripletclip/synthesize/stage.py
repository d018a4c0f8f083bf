"""The synthesize stage's run: one image per negative caption, each kept as a file the moment it is done.

In a directory (the command line's OUTDIR, or the DAG's hidden `.{shard}.tar.parts/`), every finished sample is
`{key}.jpg`, and a sample the model failed on is `{key}.failed` holding the reason; a rerun generates only the keys
that have neither. The DAG's shard then appears atomically, once every sample is done, and the parts are removed.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import shutil
from pathlib import Path
from urllib.parse import quote

from PIL import Image
from tqdm import tqdm

from .. import io
from ..negate import captions as captions_io

log = logging.getLogger(__name__)


def read_requests(path: str) -> list[tuple[str, str | None, str | None]]:
    """(key, caption, problem) per input row: the negate stage's JSON lines (the first negative of each), or a text
    file with one caption per line (keys: line numbers)."""
    if str(path).endswith(".jsonl"):
        out = []
        for row in io.read_jsonl(path):
            ok = row.get("status") == "ok" and row.get("negatives")
            out.append((row["key"], row["negatives"][0]["text"] if ok else None, None if ok else "no_negative_caption"))
        return out
    return [(r.key, r.caption, r.problem) for r in captions_io.read(path)]


def _name(key: str) -> str:
    return quote(key, safe="")


def synthesize_to_dir(requests, out_dir: str | Path, synthesizer, batch_size: int = 8) -> dict:
    """Images for every request without one yet; returns the stats of all requests.

    Batches are fixed slices of the requests, whether or not a run was interrupted: a batch with anything missing is
    generated whole and only what is missing is written. Batched kernels round differently at different batch
    sizes (by one pixel level, now and then, on the CPU), so the same batches are what make a resumed run write the
    bytes an uninterrupted one would have.

    Like `generated` and `resumed`, `recovered` is about this run: of the images generated now, those the backend's
    safe mode recovered (an image with info["retried"]), by what was wrong with them the first time."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def done(key):
        return (out_dir / f"{_name(key)}.jpg").exists() or (out_dir / f"{_name(key)}.failed").exists()

    wanted = [(k, c) for k, c, problem in requests if problem is None]
    batches = [wanted[i:i + batch_size] for i in range(0, len(wanted), batch_size)]
    todo = {k for k, _ in wanted if not done(k)}
    resumed = len(wanted) - len(todo)
    recovered = collections.Counter()
    if resumed:
        log.info("%s: %d images already done, %d to generate", out_dir, resumed, len(todo))
    with tqdm(total=len(todo), desc=f"synthesize {out_dir.name}", unit="img", mininterval=5) as bar:
        for batch in batches:
            missing = [key for key, _ in batch if key in todo]
            if not missing:
                continue
            for (key, _), result in zip(batch, synthesizer.synthesize(batch)):
                if key not in todo:
                    continue
                if isinstance(result, Image.Image):
                    if result.info.get("retried"):
                        recovered[result.info["retried"]] += 1
                    with io.atomic_path(out_dir / f"{_name(key)}.jpg") as tmp:
                        tmp.write_bytes(io.encode_jpeg(result.convert("RGB")))
                else:
                    with io.atomic_path(out_dir / f"{_name(key)}.failed") as tmp:
                        tmp.write_text(result, encoding="utf-8")
            bar.update(len(missing))
    skipped, failed = collections.Counter(), collections.Counter()
    done = 0
    for key, _, problem in requests:
        if problem:
            skipped[problem] += 1
        elif (out_dir / f"{_name(key)}.jpg").exists():
            done += 1
        else:
            failed[(out_dir / f"{_name(key)}.failed").read_text(encoding="utf-8")] += 1
    return {"in": len(requests), "synthesized": done, "skipped": dict(skipped), "failed": dict(failed),
            "generated": len(todo), "resumed": resumed, "recovered": dict(recovered), "backend": synthesizer.name}


def synthesize_file(path: str, out_dir: str, synthesizer, batch_size: int = 8) -> dict:
    """The command line: OUTDIR/{key}.jpg per caption of `path`, and OUTDIR/stats.json."""
    stats = synthesize_to_dir(read_requests(path), out_dir, synthesizer, batch_size)
    io.write_json(Path(out_dir) / "stats.json", stats)
    log.info("%s: %d of %d images (%d generated now)", out_dir, stats["synthesized"], stats["in"], stats["generated"])
    return stats


def synthesize_shard(negatives: str, output: str, stats_path: str, synthesizer, batch_size: int = 8) -> dict:
    """The DAG's rule: a webdataset shard of (jpg, txt, json) for the first negative caption of every negated row
    of `negatives`; stats: in = synthesized + sum(skipped) + sum(failed)."""
    requests = read_requests(negatives)
    parts = Path(output).with_name(f".{Path(output).name}.parts")
    # Parts left by a killed job are reused only for the same captions and the same synthesizer: after a change
    # upstream (new negatives, another model) they would be stale images.
    fingerprint = hashlib.sha256(json.dumps([requests, synthesizer.name, getattr(synthesizer, "settings", {})],
                                            default=str).encode("utf-8")).hexdigest()
    stamp = parts / "inputs.sha256"
    if parts.exists() and (not stamp.exists() or stamp.read_text(encoding="utf-8") != fingerprint):
        log.info("%s: parts from other inputs, starting over", parts)
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    with io.atomic_path(stamp) as tmp:
        tmp.write_text(fingerprint, encoding="utf-8")
    stats = synthesize_to_dir(requests, parts, synthesizer, batch_size)
    with io.shard_writer(output) as sink:
        for key, caption, problem in requests:
            image = parts / f"{_name(key)}.jpg"
            if problem is None and image.exists():
                sink.write({"__key__": key, "jpg": image.read_bytes(), "txt": caption,
                            "json": {"backend": synthesizer.name}})
    io.write_json(stats_path, stats)
    shutil.rmtree(parts)
    log.info("%s: synthesized %d of %d %s", output, stats["synthesized"], stats["in"], stats["failed"] or "")
    return stats
