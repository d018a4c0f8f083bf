"""The negate stage's run over one input: batches to the negator, a checkpoint after every batch, the output and
its stats written atomically at the end.

The checkpoint is `.{output}.partial` beside the output: a first line with the run's settings, then one JSON line per
finished caption; a killed job that is rerun with the same settings reads it and negates only what is missing. The
output itself appears only when every caption is done; its stats record the settings, so that a rerun of a finished
output with the same settings and input has nothing to do. A row is reused only for the same key and caption.
"""

from __future__ import annotations

import collections
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from .. import io
from . import captions as captions_io
from .base import Negator, Outcome

log = logging.getLogger(__name__)


def checkpoint_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.partial")


def read_input(path: str, caption_col: str = "caption", key_col: str | None = None, header: bool | str = "auto",
               columns: list[str] | None = None, caption_key: str = "txt") -> tuple[list, list[str]]:
    """(records, input errors) of any caption file (captions_io.read), each error logged."""
    errors: list[str] = []
    records = captions_io.read(path, caption_col, key_col, errors, header, columns, caption_key)
    for e in errors:
        log.error("input: %s", e)
    return records, errors


def negate_file(path: str, output: str, stats_path: str, negator: Negator, batch_size: int = 256,
                caption_col: str = "caption", key_col: str | None = None, settings: dict | None = None,
                header: bool | str = "auto", columns: list[str] | None = None, caption_key: str = "txt") -> dict:
    """Negate every caption of `path` (text, CSV/TSV/parquet or webdataset shard) into `output`: one JSON object
    per caption, in input order. Returns the stats, also written to `stats_path`. `settings` (JSON) decides the
    negatives together with the input: earlier work is reused only under the same settings. `header`, `columns`: how
    to read a table (tables.read); `caption_key`: a shard's caption member (captions_io.read)."""
    records, errors = read_input(path, caption_col, key_col, header, columns, caption_key)
    return negate_records(records, output, stats_path, negator, batch_size, errors, desc=f"negate {path}",
                          settings=settings)


negate_shard = negate_file  # the DAG's rule: a webdataset shard in, its negatives out


@dataclass(frozen=True)
class Kind:
    """What a stage over captions makes of them (negate's: NEGATE; the rewrite stage has its own)."""

    verb: str  # the worker's method, called with a batch of (key, caption); also its log's word
    done: str  # the stats' count of the captions that got what they came for ("negated")
    row: Callable  # (record, outcome) -> the output row
    skipped: Callable  # (record, backend) -> the row of a record with a problem, which no worker sees
    summarize: Callable  # (rows, backend, resumed, input_errors) -> the stats


def negate_records(records, output: str, stats_path: str, negator: Negator | Callable[[], Negator],
                   batch_size: int = 256, input_errors=(), desc: str = "negate", settings: dict | None = None) -> dict:
    """Negate `records` (captions_io.Record) into `output` and its stats; see the module docstring for resume. A
    callable `negator` is called only when there is something to negate."""
    return run_records(NEGATE, records, output, stats_path, negator, batch_size, input_errors, desc, settings)


def run_records(kind: Kind, records, output: str, stats_path: str, worker, batch_size: int = 256, input_errors=(),
                desc: str = "", settings: dict | None = None) -> dict:
    """`kind.verb` every record of `records` into `output` and its stats, batch by batch through the checkpoint (see
    the module docstring). A callable `worker` without that method is called only when there is something to do."""
    if settings is not None and _finished(records, output, stats_path, settings):
        log.info("%s: already done for this input and these settings; nothing to do", output)
        return io.read_json(stats_path)
    if not hasattr(worker, kind.verb):
        worker = worker()
    settings = {"backend": worker.name} if settings is None else settings
    ckpt = checkpoint_path(output)
    done = _load_checkpoint(ckpt, settings, {r.key: r.caption for r in records})
    resumed = len(done)
    if resumed:
        log.info("%s: resuming, %d captions already done", output, resumed)
    todo = [r for r in records if r.problem is None and r.key not in done]
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    if not ckpt.exists() or not done:
        ckpt.write_text(json.dumps({"settings": settings}) + "\n", encoding="utf-8")
    work = getattr(worker, kind.verb)
    with open(ckpt, "a", encoding="utf-8") as sink, \
            tqdm(total=len(todo), desc=desc or kind.verb, unit="caption", mininterval=5) as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            outcomes = work([(r.key, r.caption) for r in batch])
            for record, outcome in zip(batch, outcomes):
                done[record.key] = kind.row(record, outcome)
                sink.write(json.dumps(done[record.key]) + "\n")
            sink.flush()
            os.fsync(sink.fileno())  # a batch that was reported done survives the job being killed
            bar.update(len(batch))
    rows = [done.get(r.key) or kind.skipped(r, worker.name) for r in records]
    io.write_jsonl(output, rows)
    stats = kind.summarize(rows, worker.name, resumed, input_errors) | {"settings": settings}
    io.write_json(stats_path, stats)
    ckpt.unlink(missing_ok=True)
    log.info("%s: %d of %d captions %s %s", output, stats[kind.done], stats["in"], kind.done, stats["failed"] or "")
    return stats


def _row(record, outcome: Outcome) -> dict:
    row = {"key": record.key, "caption": record.caption, "negatives": outcome.negatives,
           "backend": outcome.backend, "attempts": outcome.attempts, "status": outcome.status}
    if outcome.rejected:
        row["rejected"] = outcome.rejected
    return row


def _load_checkpoint(path: Path, settings: dict, captions: dict[str, str]) -> dict:
    """key -> row of what a killed run finished, for the same settings, keys and captions; {} for anything else."""
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        head = json.loads(lines[0]) if lines else {}
    except json.JSONDecodeError:
        head = {}
    if head.get("settings") != settings:
        log.info("%s: left by a run with other settings; starting over", path)
        return {}
    done = {}
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # the line being written when the job was killed
            continue
        if row.get("key") in captions and captions[row["key"]] == row.get("caption"):
            done[row["key"]] = row
    return done


def _finished(records, output: str, stats_path: str, settings: dict) -> bool:
    """True when `output` holds a row for each of `records` (same keys, captions and order) and its stats record the
    same settings."""
    if not (os.path.exists(output) and os.path.exists(stats_path)):
        return False
    try:
        if io.read_json(stats_path).get("settings") != settings:
            return False
        rows = io.read_jsonl(output)
    except (ValueError, OSError):
        return False
    return [(r.key, r.caption) for r in records] == [(row.get("key"), row.get("caption")) for row in rows]


def summarize(rows: list[dict], backend: str, resumed: int = 0, input_errors=()) -> dict:
    """in = negated + sum(failed); every rejected LLM answer counted by reason; fallback: captions whose negatives
    all came from the rules after the LLM's answers were rejected."""
    failed, by_type, rejected = collections.Counter(), collections.Counter(), collections.Counter()
    for row in rows:
        if row["status"] != "ok":
            failed[row["status"]] += 1
        by_type.update(n["type"] for n in row["negatives"])
        rejected.update(row.get("rejected", ()))
    negated = sum(row["status"] == "ok" for row in rows)
    return {
        "in": len(rows), "negated": negated, "failed": dict(failed), "negatives": sum(by_type.values()),
        "by_type": dict(by_type), "attempts": sum(row["attempts"] for row in rows), "rejected": dict(rejected),
        "fallback": sum(row["backend"] == "rules" and backend != "rules" and row["status"] == "ok" for row in rows),
        "resumed": resumed, "backend": backend, "input_errors": list(input_errors),
    }


def _skipped(record, backend: str) -> dict:
    return _row(record, Outcome.failed(record.problem, backend, attempts=0))


NEGATE = Kind("negate", "negated", _row, _skipped, summarize)
