"""Logging for stage entry points and command lines: messages go to the rule's log file (UTF-8) and to stderr."""

from __future__ import annotations

import logging
import os
import sys


def console() -> None:
    """Make stdout and stderr safe for captions: under a locale that is not UTF-8 (LANG=C on a cluster node), what
    they cannot encode is escaped (\\xf1) instead of raising UnicodeEncodeError in the middle of a run."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def setup(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    console()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        open(log_path, "w", encoding="utf-8").close()
        # Appending (O_APPEND) keeps lines that subprocesses add to the same file (tripletclip.launch).
        handlers.append(logging.FileHandler(log_path, mode="a", encoding="utf-8"))
    logging.basicConfig(
        level=level, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.excepthook = _log_uncaught
    return logging.getLogger("tripletclip")


def _log_uncaught(kind, error, traceback) -> None:
    """An error that ends the process, with its traceback, in the log file as well as on stderr: Snakemake shows a
    failed job's log (show-failed-logs), which would otherwise hold everything but the reason."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("tripletclip").critical("failed: %s", error, exc_info=(kind, error, traceback))
