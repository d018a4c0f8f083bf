"""Logging for stage entry points: messages go to the rule's log file and to stderr."""

from __future__ import annotations

import logging
import os
import sys


def setup(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        open(log_path, "w").close()
        # Appending (O_APPEND) keeps lines that subprocesses add to the same file (tripletclip.launch).
        handlers.append(logging.FileHandler(log_path, mode="a"))
    logging.basicConfig(
        level=level, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return logging.getLogger("tripletclip")
