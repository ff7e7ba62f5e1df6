"""IAGA-2002, the INTERMAGNET exchange format (1-second and 1-minute; HDZF, HEZF, XYZF, EHZF, ...).

Fixed-width header lines end in ``|``; the column header line ``DATE TIME DOY <code><element> ...`` names
the components, and its names decide which column is which (the element is what follows the IAGA code,
e.g. ``WICE`` -> E). The ``Reported`` header field is only a cross-check: if it disagrees with the column
names about a vector component, the file is refused rather than read with components swapped. Data
lines are ``YYYY-MM-DD HH:MM:SS.sss DOY c1 c2 c3 [c4]``; ``99999.00`` marks a missing value and
``88888.00`` a value that was not recorded; both become NaN. D (minutes of arc) becomes the east
component in nT, ``D_nT = H * sin(D)``; for XYZ data H = sqrt(X^2 + Y^2) and D = Y. Lines are parsed
with numpy a block at a time while the (possibly gzipped) input streams in.
"""

from __future__ import annotations

import re
from itertools import chain

import numpy as np

from ..errors import CorruptFileError
from ..series import StationSeries
from ._components import ARCMIN_TO_RAD, SCALAR_ELEMENTS, VectorLayout, vector_layout, vector_series
from ._fields import whitespace_rows
from ._grid import RowGrid
from ._lines import LineBlock, line_blocks
from ._numbers import parse_numbers
from ._physical import station_coordinates
from ._source import Payload, Source, as_payload
from ._times import date_time_columns

NAME = "iaga2002"
DESCRIPTION = "IAGA-2002 text (INTERMAGNET), 1-second or 1-minute"

MISSING_VALUES = (99999.0, 88888.0)
MISSING_TOLERANCE = 0.5
FIXED_COLUMNS = ("DATE", "TIME", "DOY")
DATE_COLUMN, TIME_COLUMN = 0, 1
MAX_LINE_BYTES = 4096  # IAGA-2002 lines are 70 characters
MAX_HEADER_BYTES = 64 * 1024
_FORMAT_LINE = re.compile(r"^\s*Format\s+IAGA-2002", re.IGNORECASE)
_COLUMN_LINE = re.compile(rb"(?:^|\n)DATE\b")


def sniff(data: bytes) -> bool:
    """True if ``data`` starts with an IAGA-2002 header. Never raises."""
    try:
        head = data[:400].decode("ascii", errors="replace")
        return bool(_FORMAT_LINE.match(head.splitlines()[0])) if head.strip() else False
    except Exception:  # noqa: BLE001 - a sniffer must never raise
        return False


def read(data: Payload | Source, name: str = "<bytes>") -> StationSeries:
    payload = as_payload(data, name)
    name = payload.name
    blocks = line_blocks(payload.chunks(), name, MAX_LINE_BYTES)
    first = next(blocks, None)
    if first is None:
        raise CorruptFileError(f"{name}: input is empty")
    header, elements, rest = _split_header(first, name)
    _cross_check(header.get("reported", ""), elements, name)
    layout = vector_layout(elements, name)

    grid = RowGrid(name, n_values=3)
    for block in chain([rest], blocks):
        _add_rows(block, grid, layout, 3 + len(elements), name)
    lat, lon = station_coordinates(
        _float_or_none(header.get("geodetic latitude")), _float_or_none(header.get("geodetic longitude")), name
    )
    return vector_series(NAME, header["station"], layout, grid.finish(), ARCMIN_TO_RAD, lat, lon)


def _split_header(block: LineBlock, name: str) -> tuple[dict[str, str], list[str], LineBlock]:
    """(header fields, the element of each data column, the block's lines after the column line)."""
    found = _COLUMN_LINE.search(block.data, 0, MAX_HEADER_BYTES)
    if found is None:
        raise CorruptFileError(
            f"{name}: no 'DATE TIME DOY ...' column header line in the first {MAX_HEADER_BYTES // 1024} KB"
        )
    col_start = found.start() + (block.data[found.start()] == 0x0A)
    col_end = block.data.index(b"\n", col_start) + 1
    col_line_no = block.first_line + block.data.count(b"\n", 0, col_start)
    try:
        head_lines = block.data[:col_start].decode("ascii").splitlines()
        col_text = block.data[col_start:col_end].decode("ascii")
    except UnicodeDecodeError as exc:
        line = block.first_line + block.data.count(b"\n", 0, exc.start)
        raise CorruptFileError(f"{name}: IAGA-2002 header must be ASCII; bad byte on line {line}") from exc
    header = _header_fields(head_lines)
    columns = col_text.strip().rstrip("|").split()
    if [c.upper() for c in columns[:3]] != list(FIXED_COLUMNS) or len(columns) < 6:
        raise CorruptFileError(
            f"{name}: column header line {col_line_no} must be 'DATE TIME DOY' and three or more components, "
            f"not {col_text.strip()[:80]!r}"
        )
    code = (header.get("iaga code", "") or columns[3][:3]).upper()
    header["station"] = code
    elements = [_element(c.upper(), code) for c in columns[3:]]
    rest = LineBlock(block.data[col_end:], col_line_no + 1)
    return header, elements, rest


def _header_fields(lines: list[str]) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in lines:
        body = line.rstrip().rstrip("|").strip()
        if not body or body.startswith("#"):
            continue
        key, _, value = body.partition("  ")
        header[key.strip().lower()] = value.strip()
    return header


def _element(column: str, code: str) -> str:
    """``WICE`` -> ``E``: what follows the IAGA code, or the last letter if the name does not start with it."""
    return column[len(code):] if column.startswith(code) and len(column) > len(code) else column[-1]


def _cross_check(reported: str, elements: list[str], name: str) -> None:
    """Refuse a ``Reported`` field that disagrees with the column names about a vector component."""
    reported = reported.replace(" ", "").upper()
    if not reported:
        return
    columns = "".join(elements)
    for k in range(max(len(reported), len(columns))):
        r = reported[k] if k < len(reported) else ""
        c = elements[k] if k < len(elements) else ""
        if r != c and not ({r, c} <= set(SCALAR_ELEMENTS) | {""}):
            raise CorruptFileError(
                f"{name}: the header reports components {reported!r} but the column names say {columns!r} "
                f"(column {k + 4}: {r or 'nothing'} vs {c or 'nothing'}); refusing rather than guessing which is right"
            )


def _add_rows(block: LineBlock, grid: RowGrid, layout: VectorLayout, n_fields: int, name: str) -> None:
    if not block.data:
        return
    rows = whitespace_rows(block, n_fields, name)
    if not len(rows):
        return
    times = date_time_columns(rows, DATE_COLUMN, TIME_COLUMN, name)
    values = np.column_stack(
        [
            parse_numbers(rows, len(FIXED_COLUMNS) + layout.index[e], name, f"{e} value", empty_is_missing=False)
            for e in layout.orientation
        ]
    )
    for code in MISSING_VALUES:
        values[np.abs(values - code) < MISSING_TOLERANCE] = np.nan
    grid.add(times, values, rows.line_no)


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


__all__ = ["NAME", "DESCRIPTION", "sniff", "read"]
