"""The config's schema (schemas/config.schema.yaml), read once: the one place a default is set. Snakemake validates
a config against it and fills its defaults; Python callers outside the DAG read the defaults here. torch-free."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


@functools.cache
def document() -> dict:
    return yaml.safe_load(PATH.read_text(encoding="utf-8"))


def block(name: str) -> dict:
    """The schema of the config's top-level block `name` (e.g. "negate")."""
    return document()["properties"][name]


def defaults(name: str) -> dict:
    """The defaults of block `name`'s keys, as the schema states them."""
    return {key: value["default"] for key, value in block(name)["properties"].items() if "default" in value}
