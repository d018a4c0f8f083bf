"""The negate rule's job: in the rule's own process, or in another Python environment when `negate.python` names its
interpreter (vLLM pins its own torch, so it often lives in a venv of its own). Either way the same code runs on the
same spec; the other interpreter needs the dependencies (envs/vllm.yaml), not this package installed: it is put on
that process's PYTHONPATH.

    python -m tripletclip.negate.job SPEC.json

SPEC.json: {"input": a shard, or the rewrite stage's JSONL of one (its first rewrites are negated), "negatives": the output JSONL, "stats": its stats JSON, "negate": the config's negate
block, "seed": the config's seed, "heldout_combos": the shapes world's count of held-out colour-shape combinations,
which no negative may name (the shapes negator does not draw them, another's are dropped: negate.shapes.WithoutCombos;
null for other sources), "caption_key": the shard's caption member, or a JSON
member's field as json:caption (io.caption_text; optional, default txt)}.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from .. import environment, io, logs, shapes
from .base import config_options, make_negator
from .captions import Record
from .shapes import WithoutCombos
from .stage import negate_records, negate_shard

log = logging.getLogger(__name__)


def run(spec: dict) -> dict:
    """Negate the spec's shard; returns its stats (see stage.negate_records)."""
    cfg = spec["negate"]
    options = config_options(cfg)
    # training negatives must not show the shapes world's held-out combinations either
    forbidden = shapes.heldout_combos(spec["seed"], spec["heldout_combos"]) if spec.get("heldout_combos") else None
    if cfg["backend"] == "shapes" and forbidden:
        options["forbidden"] = forbidden
    negator = make_negator(cfg["backend"], num_negatives=cfg["num_negatives"], seed=spec["seed"], **options)
    if cfg["backend"] != "shapes" and forbidden:
        negator = WithoutCombos(negator, forbidden)
    settings = {"negate": {k: v for k, v in cfg.items() if k != "python"}, "seed": spec["seed"],
                "heldout_combos": spec.get("heldout_combos")}
    # The caption key is not a setting: the rows record each caption, and a row is reused only for the same one.
    if spec["input"].endswith(".jsonl"):  # the rewrite stage's rows (negate.input: rewrites)
        return negate_records(rewritten(spec["input"]), spec["negatives"], spec["stats"], negator, cfg["batch_size"],
                              desc=f"negate {spec['input']}", settings=settings)
    return negate_shard(spec["input"], spec["negatives"], spec["stats"], negator, cfg["batch_size"],
                        settings=settings, caption_key=spec.get("caption_key") or "txt")


def rewritten(path: str) -> list[Record]:
    """The captions to negate of a rewrite stage's rows: each caption's first rewrite, as TripletCLIP negated
    LaCLIP's rewrites; the caption itself where it has none; the caption's problem where it has neither."""
    records = []
    for row in io.read_jsonl(path):
        text = (row.get("rewrites") or [row.get("caption")])[0]
        records.append(Record(row["key"], text, None if text and text.strip() else "missing_caption"))
    return records


def run_with(python: str, spec: dict, log_path: str | None = None) -> None:
    """`run(spec)` in a process of the interpreter `python`, its output appended to `log_path`. Raises RuntimeError
    when that process fails, FileNotFoundError when `python` is not an executable."""
    run_in(python, "tripletclip.negate.job", spec, spec["negatives"], log_path, "negate")


def start(spec: dict, python: str | None = None, log_path: str | None = None, run=run, run_with=run_with) -> None:
    """A stage's job: `run(spec)` here, or `run_with(python, spec, log_path)` when the config names an interpreter."""
    if python:
        run_with(python, spec, log_path)
    else:
        run(spec)


def run_in(python: str, module: str, spec: dict, output: str, log_path: str | None = None, stage: str = "negate"
           ) -> None:
    """`python -m module SPEC.json` in a process of the interpreter `python` (a stage's job in another environment),
    the spec written beside `output`, the process's output appended to `log_path`."""
    if not os.access(python, os.X_OK) or os.path.isdir(python):
        raise FileNotFoundError(f"{stage}.python: {python!r} is not an executable Python interpreter")
    spec_path = Path(output).with_name(f".{Path(output).name}.spec.json")
    io.write_json(spec_path, spec)
    env = environment.with_package_path(os.environ)
    command = [python, "-m", module, str(spec_path)]
    log.info("running the %s job in another environment: %s", stage, " ".join(command))
    with open(log_path or os.devnull, "a", encoding="utf-8") as sink:
        done = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    spec_path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"{python} exited with {done.returncode} running the {stage} job on {spec['input']}: "
                           f"see {log_path}")


def main(argv: list[str] | None = None, run=run, doc: str = __doc__, stage: str = "negate") -> int:
    """A job's command line: one SPEC.json, handed to `run`."""
    logs.setup()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(doc, file=sys.stderr)
        return 2
    log.info("%s job under %s", stage, sys.executable)
    run(io.read_json(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
