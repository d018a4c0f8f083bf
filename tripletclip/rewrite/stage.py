"""The rewrite stage's run over one input, the negate stage's (negate/stage.py, `run_records`): batches to the
rewriter, a checkpoint `.{output}.partial` after every batch that a killed job resumes from, the output and its
stats written atomically when every caption is done, nothing redone for the same settings and input.

Output: one JSON line per caption, in input order: {"key", "caption", "rewrites": [str, ...], "backend", "attempts",
"status", "rejected" (when any answer was turned down)}. Stats: in = rewritten (status ok) + partial + sum(failed).
"""

from __future__ import annotations

import collections

from ..negate.stage import Kind, read_input, run_records
from .base import Outcome, Rewriter


def rewrite_file(path: str, output: str, stats_path: str, rewriter: Rewriter, batch_size: int = 256,
                 caption_col: str = "caption", key_col: str | None = None, settings: dict | None = None,
                 header: bool | str = "auto", columns: list[str] | None = None, caption_key: str = "txt") -> dict:
    """Rewrite every caption of `path` (text, CSV/TSV/parquet or webdataset shard; captions.read) into `output`;
    returns the stats, also written to `stats_path`. `settings` (JSON) decide the rewrites together with the input:
    earlier work is reused only under the same settings. A callable `rewriter` is built only when work is left."""
    records, errors = read_input(path, caption_col, key_col, header, columns, caption_key)
    return run_records(REWRITE, records, output, stats_path, rewriter, batch_size, errors, f"rewrite {path}", settings)


def rewrite_shard(input: str, output: str, stats_path: str, rewriter: Rewriter, batch_size: int = 256,
                  settings: dict | None = None, caption_key: str = "txt") -> dict:
    """The DAG's rule: a webdataset shard in, its rewrites out."""
    return rewrite_file(input, output, stats_path, rewriter, batch_size, settings=settings, caption_key=caption_key)


def _row(record, outcome: Outcome) -> dict:
    row = {"key": record.key, "caption": record.caption, "rewrites": outcome.rewrites, "backend": outcome.backend,
           "attempts": outcome.attempts, "status": outcome.status}
    if outcome.rejected:
        row["rejected"] = outcome.rejected
    return row


def _skipped(record, backend: str) -> dict:
    return _row(record, Outcome([], record.problem, backend, attempts=0))


def summarize(rows: list[dict], backend: str, resumed: int = 0, input_errors=()) -> dict:
    """in = rewritten + partial + sum(failed); rejected answers counted by reason."""
    status = collections.Counter(row["status"] for row in rows)
    rejected = collections.Counter(reason for row in rows for reason in row.get("rejected", ()))
    return {
        "in": len(rows), "rewritten": status.pop("ok", 0), "partial": status.pop("partial", 0), "failed": dict(status),
        "rewrites": sum(len(row["rewrites"]) for row in rows), "attempts": sum(row["attempts"] for row in rows),
        "rejected": dict(rejected), "resumed": resumed, "backend": backend, "input_errors": list(input_errors),
    }


REWRITE = Kind("rewrite", "rewritten", _row, _skipped, summarize)
