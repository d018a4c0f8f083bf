"""The negate rule's job: in the rule's own process, or in another Python environment when `negate.python` names its
interpreter (vLLM pins its own torch, so it often lives in a venv of its own). Either way the same code runs on the
same spec; the other interpreter needs the dependencies (envs/vllm.yaml), not this package installed: it is put on
that process's PYTHONPATH.

    python -m tripletclip.negate.job SPEC.json

SPEC.json: {"input": a shard, "negatives": the output JSONL, "stats": its stats JSON, "negate": the config's negate
block, "seed": the config's seed, "heldout_combos": the shapes world's count of held-out colour-shape combinations,
which the shapes negator must not draw (null for other sources), "caption_key": the shard's caption member, or a JSON
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
from .stage import negate_shard

log = logging.getLogger(__name__)


def run(spec: dict) -> dict:
    """Negate the spec's shard; returns its stats (see stage.negate_records)."""
    cfg = spec["negate"]
    options = config_options(cfg)
    if cfg["backend"] == "shapes" and spec.get("heldout_combos"):
        # training negatives must not show the held-out combinations either
        options["forbidden"] = shapes.heldout_combos(spec["seed"], spec["heldout_combos"])
    negator = make_negator(cfg["backend"], num_negatives=cfg["num_negatives"], seed=spec["seed"], **options)
    settings = {"negate": {k: v for k, v in cfg.items() if k != "python"}, "seed": spec["seed"],
                "heldout_combos": spec.get("heldout_combos")}
    # The caption key is not a setting: the rows record each caption, and a row is reused only for the same one.
    return negate_shard(spec["input"], spec["negatives"], spec["stats"], negator, cfg["batch_size"],
                        settings=settings, caption_key=spec.get("caption_key") or "txt")


def run_with(python: str, spec: dict, log_path: str | None = None) -> None:
    """`run(spec)` in a process of the interpreter `python`, its output appended to `log_path`. Raises RuntimeError
    when that process fails, FileNotFoundError when `python` is not an executable."""
    if not os.access(python, os.X_OK) or os.path.isdir(python):
        raise FileNotFoundError(f"negate.python: {python!r} is not an executable Python interpreter")
    spec_path = Path(spec["negatives"]).with_name(f".{Path(spec['negatives']).name}.spec.json")
    io.write_json(spec_path, spec)
    env = environment.with_package_path(os.environ)
    command = [python, "-m", "tripletclip.negate.job", str(spec_path)]
    log.info("negating in another environment: %s", " ".join(command))
    with open(log_path or os.devnull, "a", encoding="utf-8") as sink:
        done = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    spec_path.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"{python} exited with {done.returncode} negating {spec['input']}: see {log_path}")


def main(argv: list[str] | None = None) -> int:
    logs.setup()
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    log.info("negate job under %s", sys.executable)
    run(io.read_json(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
