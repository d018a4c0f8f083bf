"""The rewrite rule's job: in the rule's own process, or in another Python environment when `rewrite.python` names its
interpreter (vLLM pins its own torch), as the negate rule's job does (negate/job.py).

    python -m tripletclip.rewrite.job SPEC.json

SPEC.json: {"input": a shard, "rewrites": the output JSONL, "stats": its stats JSON, "rewrite": the config's rewrite
block, "seed": the config's seed, "caption_key": the shard's caption member (io.caption_text; optional, default txt),
"samples_per_shard": download.samples_per_shard, which maps a sample key to its row of LaCLIP's files (laclip)}.
"""

from __future__ import annotations

import sys

from ..negate import job as negate_job
from .base import config_options, make_rewriter
from .stage import rewrite_shard


def run(spec: dict) -> dict:
    """Rewrite the spec's shard; returns its stats (see stage.py)."""
    cfg = spec["rewrite"]
    rewriter = make_rewriter(cfg["backend"], num_rewrites=cfg["num_rewrites"], seed=spec["seed"],
                             **config_options(cfg, spec.get("samples_per_shard")))
    settings = {"rewrite": {k: v for k, v in cfg.items() if k != "python"}, "seed": spec["seed"],
                "samples_per_shard": spec.get("samples_per_shard")}
    return rewrite_shard(spec["input"], spec["rewrites"], spec["stats"], rewriter, cfg["batch_size"],
                         settings=settings, caption_key=spec.get("caption_key") or "txt")


def run_with(python: str, spec: dict, log_path: str | None = None) -> None:
    """`run(spec)` in a process of the interpreter `python`; see negate.job.run_in."""
    negate_job.run_in(python, "tripletclip.rewrite.job", spec, spec["rewrites"], log_path, "rewrite")


def start(spec: dict, python: str | None = None, log_path: str | None = None) -> None:
    """The rule's job: here, or in the interpreter rewrite.python."""
    negate_job.start(spec, python, log_path, run, run_with)


def main(argv: list[str] | None = None) -> int:
    return negate_job.main(argv, run, __doc__, "rewrite")


if __name__ == "__main__":
    sys.exit(main())
