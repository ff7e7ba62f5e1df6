"""A documented CSV for data that comes in no standard format.

```
# station: LUT                 (optional comment lines: station, latitude, longitude)
time,H,D,Z                     (header; the time column may be called time, timestamp, time_utc or datetime)
2023-01-01T00:00:00Z,38392.76,-52.31,-23468.90
```
Rules:

* UTF-8 text, with or without a byte-order mark; ``,`` between cells; cells may be quoted (``"..."``) but a
  quoted cell must close on its line; lines are at most 8 KiB. Lines starting with ``#`` are comments
  (``# key: value`` lines give station, latitude, longitude); blank lines are skipped.
* The first other line is the header; every data row has as many cells as the header.
* Times are ISO-8601 in UTC (``YYYY-MM-DD[T ]HH:MM:SS[.ffffff]``, a trailing ``Z`` or ``+HH:MM`` offset
  is applied, naive times are taken as UTC). Rows must be on a regular time grid; skipped rows become
  missing samples.
* H, D, Z are in nT with D the east component. An empty cell or ``nan`` is a missing sample;
  ``inf``/``-inf`` and values beyond +-100,000 nT are missing samples too, and are counted in
  ``StationSeries.masked_samples`` (``non_finite``, ``out_of_range``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from itertools import chain

import numpy as np

from ..errors import CorruptFileError
from ..series import StationSeries
from ._components import VectorLayout, vector_series
from ._fields import Rows, delimited_rows, empty_rows, line_text
from ._grid import RowGrid
from ._lines import LineBlock, line_blocks
from ._numbers import parse_numbers
from ._physical import station_coordinates
from ._source import Payload, Source, as_payload
from ._times import iso_column

NAME = "csv"
DESCRIPTION = "CSV with a UTC time column and H, D, Z columns in nT"

TIME_COLUMNS = ("time", "timestamp", "time_utc", "datetime")
FIELD_COLUMNS = ("h", "d", "z")
COMMENT = "#"
DELIMITER = ","
QUOTE = '"'
BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 8192
MAX_HEADER_BYTES = 64 * 1024
SNIFF_BYTES = 8192
UNIT_SEPARATOR = "\x1f"  # stands in for the delimiter once quoted cells are unquoted
META_KEYS = ("station", "latitude", "longitude")
CSV_LAYOUT = VectorLayout("HEZ", {"H": 0, "E": 1, "Z": 2})  # D is the east component in nT


def sniff(data: bytes) -> bool:
    """True if ``data`` is text whose header names a time column and H, D, Z. Never raises."""
    try:
        head = data[:SNIFF_BYTES].removeprefix(BOM)
        if b"\x00" in head:
            return False
        for line in head.decode("utf-8", errors="replace").splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith(COMMENT):
                return _columns_ok(_header_columns(stripped))
        return False
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def read(data: Payload | Source, name: str = "<bytes>") -> StationSeries:
    payload = as_payload(data, name)
    name = payload.name
    blocks = line_blocks(_without_bom(payload.chunks()), name, MAX_LINE_BYTES)
    first = next(blocks, None)
    if first is None:
        raise CorruptFileError(f"{name}: input is empty")
    meta, cols, rest = _split_header(first, name)
    time_col = next(cols.index(c) for c in TIME_COLUMNS if c in cols)
    field_idx = [cols.index(c) for c in FIELD_COLUMNS]

    grid = RowGrid(name, n_values=3)
    for block in chain([rest], blocks):
        rows, comments = _rows(block, len(cols), name)
        meta.update(_meta(comments))
        if not len(rows):
            continue
        times = iso_column(rows, time_col, name, "time")
        values = np.column_stack(
            [parse_numbers(rows, i, name, f"{cols[i]!r} value", empty_is_missing=True) for i in field_idx]
        )
        grid.add(times, values, rows.line_no)
    lat, lon = station_coordinates(_coordinate(meta, "latitude", name), _coordinate(meta, "longitude", name), name)
    return vector_series(NAME, meta.get("station", "").upper(), CSV_LAYOUT, grid.finish(), 1.0, lat, lon)


def _without_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    it = iter(chunks)
    first = next(it, b"")
    yield first.removeprefix(BOM)
    yield from it


def _header_columns(line: str) -> list[str]:
    return [c.strip().lower() for c in next(csv.reader([line], strict=True))]


def _columns_ok(cols: list[str]) -> bool:
    return any(c in cols for c in TIME_COLUMNS) and all(c in cols for c in FIELD_COLUMNS)


def _split_header(block: LineBlock, name: str) -> tuple[dict[str, str], list[str], LineBlock]:
    """(comment fields before the header, header column names, the block's lines after the header)."""
    offset = 0
    comments = []
    line_no = block.first_line
    while offset < min(len(block.data), MAX_HEADER_BYTES):
        end = block.data.index(b"\n", offset) + 1
        text = _decode(block.data[offset:end], line_no, name).strip()
        if text.startswith(COMMENT):
            comments.append(text)
        elif text:
            try:
                cols = _header_columns(text)
            except csv.Error as exc:
                raise CorruptFileError(f"{name}: header line {line_no} is not valid CSV: {exc}") from exc
            if not _columns_ok(cols):
                raise CorruptFileError(
                    f"{name}: header line {line_no} must name a time column ({'/'.join(TIME_COLUMNS)}) and H, D, Z"
                )
            return _meta(comments), cols, LineBlock(block.data[end:], line_no + 1)
        offset, line_no = end, line_no + 1
    raise CorruptFileError(f"{name}: no header line in the first {MAX_HEADER_BYTES // 1024} KB")


def _rows(block: LineBlock, n_fields: int, name: str) -> tuple[Rows, list[str]]:
    """Data rows of a block and its comment lines; quoted cells are unquoted by the csv module first."""
    if not block.data:
        return empty_rows(), []
    if QUOTE.encode() in block.data:
        block = _unquoted(block, name)
        delimiter = UNIT_SEPARATOR
    else:
        delimiter = DELIMITER
    rows, comment_lines = delimited_rows(block, n_fields, name, ord(delimiter), ord(COMMENT))
    return rows, [line_text(block, k) for k in comment_lines]


def _unquoted(block: LineBlock, name: str) -> LineBlock:
    """The same lines with quoted cells resolved and cells joined by UNIT_SEPARATOR."""
    lines = _decode(block.data, block.first_line, name).split("\n")[:-1]
    out = []
    for k, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(COMMENT):
            out.append(line)
            continue
        try:
            cells = next(csv.reader([stripped], strict=True))
        except csv.Error as exc:
            raise CorruptFileError(f"{name}: line {block.first_line + k} is not valid CSV: {exc}") from exc
        out.append(UNIT_SEPARATOR.join(cells))
    return LineBlock(("\n".join(out) + "\n").encode("utf-8"), block.first_line)


def _decode(data: bytes, first_line: int, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise CorruptFileError(f"{name}: CSV must be UTF-8 text; bad byte on line {line}") from exc


def _meta(comments: list[str]) -> dict[str, str]:
    meta = {}
    for text in comments:
        key, sep, value = text.lstrip(COMMENT).partition(":")
        if sep and key.strip().lower() in META_KEYS:
            meta[key.strip().lower()] = value.strip()
    return meta


def _coordinate(meta: dict[str, str], key: str, name: str) -> float | None:
    if key not in meta:
        return None
    try:
        return float(meta[key])
    except ValueError as exc:
        raise CorruptFileError(f"{name}: {key} comment {meta[key][:40]!r} is not a number") from exc
