"""What every process of the pipeline passes on to the processes it starts: imports that never reach for the network,
and this package on PYTHONPATH, so that a rule's job finds it under any interpreter (a per-rule conda env, a
container, `negate.python`) without installing it there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])  # the folder that holds `tripletclip/`: the repository
# albumentations (imported by img2dataset) checks for its updates on import unless told not to; wandb logs online
# unless disabled; the Hugging Face libraries send telemetry. A user's own setting wins.
OFFLINE = {"NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled", "HF_HUB_DISABLE_TELEMETRY": "1"}


def offline_imports() -> None:
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)


def with_package_path(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of `environ` whose PYTHONPATH starts with PACKAGE_ROOT (once)."""
    paths = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys([PACKAGE_ROOT, *paths]))}


def share_package_path() -> None:
    """From now on, every process this one starts imports this package from PACKAGE_ROOT."""
    os.environ["PYTHONPATH"] = with_package_path(os.environ)["PYTHONPATH"]
