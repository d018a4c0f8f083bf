"""Tables of captions and image URLs as people have them, read one way for every stage that reads them (download's URL
list, `python -m tripletclip.negate` on a table).

- TSV (`.tsv`, `.txt`): one row per line, fields split at tabs and nothing else. A TSV has no quoting, so a caption
  that starts with a double quote (`"the best" red car`, or an unclosed `"the world's tallest tree`) is kept byte
  for byte; img2dataset's and pandas' readers would take the quote for CSV syntax. CC3M as Google ships it and
  CC12M have no header row; a header is detected when no field of the first row is a URL (`header: "auto"`).
- CSV (`.csv`): RFC 4180, where quotes are syntax (Python's csv module); a header row is required.
- Parquet (`.parquet`): its columns as they are.

A row with the wrong number of fields (or a blank line) is malformed: it is counted, with its line number, and
skipped; a row that is not UTF-8 is counted under its row number and skipped; neither makes the file unreadable.
A TSV is parsed by pyarrow (no quote character, one thread so that a bad line keeps its number): a CC12M-sized list
stays a compact Arrow table instead of millions of Python strings.
"""

from __future__ import annotations

import csv
import io as _io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

# A URL as every URL list holds them: a scheme, then "//" (http, https, file, s3, gs, ...). A header row has none.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S")
_LONE_CR = re.compile(rb"\r(?!\n)")
BOM = b"\xef\xbb\xbf"
SUFFIXES = (".tsv", ".txt", ".csv", ".parquet")


@dataclass
class Table:
    """The well-formed UTF-8 rows of a table (every column a string), and what was skipped. Rows are numbered from 0
    in file order over every data row, skipped ones included, so a file's numbering does not depend on which rows
    are broken."""

    data: pa.Table
    header: bool
    malformed: list[str] = field(default_factory=list)  # "line N: why", one per skipped line
    skipped_rows: dict[int, str] = field(default_factory=dict)  # row number -> "malformed" | "not_utf8"

    @property
    def columns(self) -> list[str]:
        return self.data.column_names

    def row_numbers(self) -> list[int]:
        """The row number of each row of `data`."""
        total = self.data.num_rows + len(self.skipped_rows)
        return [i for i in range(total) if i not in self.skipped_rows]

    def count(self, reason: str) -> int:
        return sum(r == reason for r in self.skipped_rows.values())


def looks_like_url(text: str) -> bool:
    return bool(_URL.match(text.strip()))


def read(path: str | Path, header: bool | str = "auto", columns: list[str] | None = None,
         url_col: str = "url", caption_col: str = "caption", head: int | None = None) -> Table:
    """Read `path` by its suffix (see the module docstring).

    header: True (the first row names the columns), False (it does not), or "auto" (TSV only: a header exactly when no
    field of the first row looks like a URL). columns: the names of a headerless file's columns; when omitted, a
    two-column file names its URL column `url_col` and the other `caption_col` (CC3M is caption, URL; CC12M URL,
    caption). head: read only the first `head` lines (the column check of a long list before any job runs). Raises
    ValueError for an unknown suffix, a headerless file whose columns cannot be named, or a file with no row at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        if head is not None:
            return Table(pa.table({name: pa.array([], pa.string()) for name in pq.read_schema(path).names}), True)
        data = pq.read_table(path)
        return Table(data.cast(pa.schema([(name, pa.string()) for name in data.column_names])), True)
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: a table must be one of {', '.join(SUFFIXES)}")
    with open(path, "rb") as f:
        first = f.readline()
        data = first + b"".join(itertools.islice(f, head - 1)) if head is not None else None
    first = first.removeprefix(BOM)  # Excel's "CSV UTF-8" and Notepad start the file with one
    if not first.strip(b"\r\n"):
        raise ValueError(f"{path} is empty" if not first else f"{path}: its first line is blank")
    if suffix == ".csv":
        if header is False:
            raise ValueError(f"{path}: a CSV table needs a header row; give a TSV for a headerless list")
        return _python(path, data, csv_rows=True, header=True, columns=None)
    fields = first.rstrip(b"\r\n").decode("utf-8", errors="surrogateescape").split("\t")
    if header == "auto":
        header = not any(looks_like_url(f) for f in fields)
    names = [f.strip() for f in fields] if header else _headerless_names(path, fields, columns, url_col, caption_col)
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate column names {names}")
    if data is None and not _lone_carriage_return(path):  # pyarrow would end a line at a lone "\r"
        try:
            return _arrow_tsv(path, names, bool(header))
        except pa.ArrowInvalid as e:
            if "UTF8" not in str(e):
                raise
            # a row that is not UTF-8: Python reads on, counting it
    return _python(path, data, csv_rows=False, header=bool(header), columns=names)


def _arrow_tsv(path: Path, names: list[str], header: bool) -> Table:
    offset = 2 if header else 1  # the line number of row 0
    bad, skipped = [], {}

    def bad_line(row) -> str:
        bad.append((row.number, f"{row.actual_columns} fields, expected {row.expected_columns}"))
        skipped[row.number - offset] = "malformed"
        return "skip"

    data = pa_csv.read_csv(
        path, read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(header), use_threads=False),
        parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                          newlines_in_values=False, ignore_empty_lines=False,
                                          invalid_row_handler=bad_line),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                              quoted_strings_can_be_null=False))
    # pyarrow reads a blank line as a row of empty fields
    blank = pc.equal(data.column(names[0]), "")
    for name in names[1:]:
        blank = pc.and_(blank, pc.equal(data.column(name), ""))
    if pc.any(blank).as_py():
        numbers = Table(data, header, skipped_rows=dict(skipped)).row_numbers()
        for i in pc.indices_nonzero(blank).to_pylist():
            bad.append((numbers[i] + offset, "blank"))
            skipped[numbers[i]] = "malformed"
        data = data.filter(pc.invert(blank))
    return Table(data, header, [f"line {n}: {why}" for n, why in sorted(bad)], dict(sorted(skipped.items())))


def _lone_carriage_return(path: Path) -> bool:
    """Whether the file holds a "\r" that does not end a line: a caption may (a TSV splits only at "\n")."""
    with open(path, "rb") as f:
        tail = b""
        for chunk in iter(lambda: f.read(1 << 24), b""):
            if b"\r" in chunk and _LONE_CR.search(tail + chunk):
                return True
            tail = chunk[-1:]
    return tail == b"\r"


def _python(path: Path, data: bytes | None, csv_rows: bool, header: bool, columns: list[str] | None) -> Table:
    """The careful path: a CSV, the first lines of a file, a TSV with a "\r" inside a field or with bytes that are
    not UTF-8."""
    text = (path.read_bytes() if data is None else data).removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    if csv_rows:  # a quoted field may span lines: each record's number is that of the line it starts on
        reader = csv.reader(_io.StringIO(text, newline=""))
        lines, numbers, previous = [], [], 0
        for record in reader:
            lines.append(record)
            numbers.append(previous + 1)
            previous = reader.line_num
    else:
        lines = [line.removesuffix("\r").split("\t") for line in text.split("\n")]
        if lines and lines[-1] == [""]:
            lines.pop()  # the file's final newline ends the last line, it does not start another
        numbers = list(range(1, len(lines) + 1))
    names = [f.strip() for f in lines[0]] if header else columns
    body, numbers = (lines[1:], numbers[1:]) if header else (lines, numbers)
    good, malformed, skipped = [], [], {}
    for i, (fields, line) in enumerate(zip(body, numbers)):
        if not fields or fields == [""]:
            malformed.append(f"line {line}: blank")
            skipped[i] = "malformed"
        elif len(fields) != len(names):
            malformed.append(f"line {line}: {len(fields)} fields, expected {len(names)}")
            skipped[i] = "malformed"
        elif any(has_undecodable(f) for f in fields):
            skipped[i] = "not_utf8"
        else:
            good.append(fields)
    table = pa.table({name: pa.array([row[j] for row in good], pa.string()) for j, name in enumerate(names)})
    return Table(table, header, malformed, skipped)


def has_undecodable(text: str) -> bool:
    """True where UTF-8 decoding with surrogateescape met bytes that are not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _headerless_names(path, first: list[str], columns, url_col: str, caption_col: str) -> list[str]:
    if columns:
        if len(columns) != len(first):
            raise ValueError(f"{path} has {len(first)} columns, but {len(columns)} are named ({columns})")
        return list(columns)
    urls = [i for i, f in enumerate(first) if looks_like_url(f)]
    if len(first) == 2 and len(urls) == 1:
        return [url_col if i == urls[0] else caption_col for i in range(2)]
    raise ValueError(f"{path} has no header row and {len(first)} columns: name them (download.columns in the config, "
                     f"--columns on the command line; e.g. {caption_col} {url_col} for CC3M as Google ships it)")


def require_columns(table: Table, path, wanted: dict[str, str]) -> None:
    """Raise ValueError naming the columns found and the ones configured ({config key: column}) if any is missing."""
    missing = {key: col for key, col in wanted.items() if col not in table.columns}
    if missing:
        configured = ", ".join(f"{key}: {col!r}" for key, col in wanted.items())
        how = "its header row" if table.header else "its columns, named for a headerless file"
        raise ValueError(f"{path}: no column {', '.join(map(repr, missing.values()))}; {how} gives {table.columns}, "
                         f"the config asks for {configured}")
