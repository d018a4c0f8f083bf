"""Captions to negate, from any of the inputs users have: a text file (one caption per line), a CSV/TSV/parquet
table with a caption column, or a webdataset shard. Each record is (key, caption, problem): a caption that is empty
or not UTF-8 has `problem` set and is counted and skipped, never sent to a model."""

from __future__ import annotations

import io as _io
from pathlib import Path
from typing import NamedTuple

from .. import io


class Record(NamedTuple):
    key: str
    caption: str | None
    problem: str | None  # None, "empty_caption", "not_utf8", "missing_caption"


def _decoded(data: bytes | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, "missing_caption"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not_utf8"
    return (text, None) if text.strip() else (text, "empty_caption")


def read(path: str, caption_col: str = "caption", key_col: str | None = None,
         errors: list | None = None) -> list[Record]:
    """Records in input order. Keys: a text file's 1-based line numbers, a table's `key_col` (else its 0-based row
    index), a shard's sample keys (sorted, as the DAG's stages order them)."""
    suffixes = "".join(Path(path).suffixes[-1:]).lower()
    if suffixes == ".tar":
        samples = sorted(io.iter_shard(path, errors), key=lambda s: s["__key__"])
        return [Record(s["__key__"], *_decoded(s.get("txt"))) for s in samples]
    if suffixes in (".csv", ".tsv", ".parquet"):
        return _table(path, suffixes, caption_col, key_col)
    lines = Path(path).read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the file's final newline ends the last line, it does not start another
    return [Record(str(n), *_decoded(line.rstrip(b"\r"))) for n, line in enumerate(lines, start=1)]


def _table(path: str, suffix: str, caption_col: str, key_col: str | None) -> list[Record]:
    import pandas as pd

    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        # Undecodable bytes come through as lone surrogates, so one bad row is counted instead of failing the file.
        text = Path(path).read_bytes().decode("utf-8", errors="surrogateescape")
        frame = pd.read_csv(_io.StringIO(text), sep="\t" if suffix == ".tsv" else ",", dtype=str,
                            keep_default_na=False, quoting=3 if suffix == ".tsv" else 0)
    for col in (caption_col, key_col):
        if col is not None and col not in frame.columns:
            raise ValueError(f"{path} has no column {col!r}; its columns are {list(frame.columns)}")
    keys = frame[key_col].astype(str).tolist() if key_col else [str(i) for i in range(len(frame))]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path}: the key column {key_col!r} has duplicate values; keys must be unique to resume")
    records = []
    for key, value in zip(keys, frame[caption_col].tolist()):
        if value is None or (isinstance(value, float) and value != value) or not str(value).strip():
            records.append(Record(key, None if value is None or isinstance(value, float) else value,
                                  "empty_caption"))
        elif any("\udc80" <= ch <= "\udcff" for ch in str(value)):
            records.append(Record(key, None, "not_utf8"))
        else:
            records.append(Record(key, str(value), None))
    return records
