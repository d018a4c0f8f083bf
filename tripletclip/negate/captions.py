"""Captions to negate, from any of the inputs users have: a text file (one caption per line), a CSV/TSV/parquet
table with a caption column, or a webdataset shard. Each record is (key, caption, problem): a caption that is empty
or not UTF-8 has `problem` set and is counted and skipped, never sent to a model."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .. import io, tables


class Record(NamedTuple):
    key: str
    caption: str | None
    problem: str | None  # None, "empty_caption", "not_utf8", "missing_caption", "malformed_row", or another
    # io.CaptionError reason of a shard's sample (caption_is_json, missing_caption_field, ...)


def _decoded(data: bytes | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, "missing_caption"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not_utf8"
    return (text, None) if text.strip() else (text, "empty_caption")


def _sample_record(sample: dict, caption_key: str) -> Record:
    try:
        return Record(sample["__key__"], io.caption_text(sample, caption_key), None)
    except io.CaptionError as exn:
        return Record(sample["__key__"], None, exn.reason)


def read(path: str, caption_col: str = "caption", key_col: str | None = None, errors: list | None = None,
         header: bool | str = "auto", columns: list[str] | None = None, caption_key: str = "txt") -> list[Record]:
    """Records in input order. Keys: a text file's 1-based line numbers, a table's `key_col` (else its 0-based row
    index), a shard's sample keys (sorted, as the DAG's stages order them). `header` and `columns` are tables.read's,
    for a table; `caption_key` is a shard's caption: a member extension (img2dataset's txt; `caption` in some
    shards) or a field of a JSON member (`json:caption`, `json:meta.caption`), read by io.caption_text; a sample
    without a caption there is a record whose problem is why (`missing_caption`, `missing_caption_field`, ...)."""
    name = Path(path).name.lower()
    suffixes = ".tar" if name.endswith((".tar", ".tar.gz", ".tgz")) else "".join(Path(path).suffixes[-1:]).lower()
    if suffixes == ".tar":
        samples = sorted(io.iter_shard(path, errors), key=lambda s: s["__key__"])
        return [_sample_record(s, caption_key) for s in samples]
    if suffixes in (".csv", ".tsv", ".parquet"):
        return _table(path, caption_col, key_col, errors, header, columns)
    lines = Path(path).read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the file's final newline ends the last line, it does not start another
    return [Record(str(n), *_decoded(line.rstrip(b"\r"))) for n, line in enumerate(lines, start=1)]


def _table(path: str, caption_col: str, key_col: str | None, errors: list | None, header: bool | str = "auto",
           columns: list[str] | None = None) -> list[Record]:
    """A table read as the download stage reads a URL list (tables.read: a TSV byte for byte, with or without a
    header). A malformed line is listed in `errors`; without `key_col`, it and a row that is not UTF-8 are also
    records under their row numbers, counted as `malformed_row` and `not_utf8`."""
    table = tables.read(path, header, columns, caption_col=caption_col)
    if errors is not None:
        errors.extend(f"{path}: {problem}" for problem in table.malformed)
    tables.require_columns(table, path, {"--caption-col": caption_col, **({"--key-col": key_col} if key_col else {})})
    keys = table.data.column(key_col).to_pylist() if key_col else [str(i) for i in table.row_numbers()]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path}: the key column {key_col!r} has duplicate values; keys must be unique to resume")
    records = [Record(key, value, None if value and value.strip() else "empty_caption")
               for key, value in zip(keys, table.data.column(caption_col).to_pylist())]
    if not key_col:  # the skipped rows are counted under their row numbers, in file order
        problems = {"malformed": "malformed_row", "not_utf8": "not_utf8"}
        records += [Record(str(i), None, problems[why]) for i, why in table.skipped_rows.items()]
        records.sort(key=lambda r: int(r.key))
    elif errors is not None:
        errors.extend(f"{path}: row {i} is not UTF-8" for i, why in table.skipped_rows.items() if why == "not_utf8")
    return records
