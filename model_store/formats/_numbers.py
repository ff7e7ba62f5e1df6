"""Parse a column of decimal numbers with numpy, giving exactly what Python's ``float()`` gives.

Plain decimals (``[+-]digits[.digits]``, at most 15 digits, the form every station format writes) are
parsed column by column as integer mantissa / power of ten: both are exact in float64, so the division is correctly
rounded, as ``float()`` is. Anything else (exponents, ``nan``, ``inf``, very long cells) goes through
``float()`` one cell at a time; a cell that is not a number raises CorruptFileError naming its line.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFileError
from ._fields import IS_SPACE, Rows

MAX_FAST_DIGITS = 15  # mantissas below 10**15 < 2**53 are exact in float64
MAX_NUMBER_CHARS = 64  # a longer cell is not a number any reader accepts
MISSING_WORD = b"nan"
_POW10 = 10.0 ** np.arange(MAX_NUMBER_CHARS + 1)
BLANK, DIGIT, DOT, SIGN, OTHER = range(5)
_CLASS = np.full(256, OTHER, dtype=np.uint8)
_CLASS[IS_SPACE] = BLANK
_CLASS[ord("0") : ord("9") + 1] = DIGIT
_CLASS[ord(".")] = DOT
_CLASS[[ord("+"), ord("-")]] = SIGN


def parse_numbers(rows: Rows, j: int, name: str, what: str, empty_is_missing: bool) -> np.ndarray:
    """Field ``j`` of every row as float64; empty cells are NaN if ``empty_is_missing``, else an error."""
    m, cut = rows.blank_padded(j)
    values, simple, empty = _fast_decimal(m)
    if cut is not None:
        simple &= ~cut
        empty &= ~cut
    if empty.any():
        if not empty_is_missing:
            k = int(np.flatnonzero(empty)[0])
            raise CorruptFileError(f"{name}: line {rows.line_no[k]}: {what} is empty")
        values[empty] = np.nan
    slow = np.flatnonzero(~simple & ~empty)
    if slow.size:
        values[slow] = _slow_numbers(rows, j, slow, name, what, empty_is_missing)
    return values


def _fast_decimal(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, which rows were plain decimals, which rows were blank) of a blank-padded byte matrix.

    One pass over the columns (a handful at most), each a contiguous vector over all rows.
    """
    n, width = m.shape
    cols = np.ascontiguousarray(m.T)
    classes = _CLASS[cols]
    runs, digits, dots, signs = (np.zeros(n, np.int8) for _ in range(4))
    frac = np.zeros(n, np.int8)
    mantissa = np.zeros(n, np.int64)
    first = np.zeros(n, np.uint8)
    solid_before, seen, after_dot, other = (np.zeros(n, bool) for _ in range(4))
    for chars, cls in zip(cols, classes):
        solid = cls != BLANK
        is_digit = cls == DIGIT
        is_dot = cls == DOT
        runs += solid & ~solid_before
        solid_before = solid
        np.copyto(first, chars, where=solid & ~seen)
        seen |= solid
        mantissa = np.where(is_digit, mantissa * 10 + (chars.astype(np.int64) - ord("0")), mantissa)
        digits += is_digit
        frac += is_digit & after_dot
        dots += is_dot
        after_dot |= is_dot
        signs += cls == SIGN
        other |= cls == OTHER
    simple = (
        (runs == 1) & ~other & (dots <= 1) & (signs == (_CLASS[first] == SIGN))
        & (digits >= 1) & (digits <= MAX_FAST_DIGITS)
    )
    values = mantissa / _POW10[frac]
    values[first == ord("-")] *= -1
    return values, simple, runs == 0


def _slow_numbers(rows: Rows, j: int, idx: np.ndarray, name: str, what: str, empty_is_missing: bool) -> np.ndarray:
    """Cells that are not plain decimals, through numpy's string-to-float cast (Python's float rules)."""
    cells = rows.cells(j, idx)
    too_long = np.flatnonzero(np.strings.str_len(cells) > MAX_NUMBER_CHARS)
    if too_long.size:
        k = idx[too_long[0]]
        raise CorruptFileError(f"{name}: line {rows.line_no[k]}: {what} is too long to be a number")
    if empty_is_missing:
        cells = np.where(np.strings.lower(cells) == MISSING_WORD, b"nan", cells)
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    for cell, k in zip(cells, idx):  # find the culprit to name its line
        try:
            float(cell)
        except ValueError as exc:
            raise CorruptFileError(
                f"{name}: line {rows.line_no[k]}: {what} {cell[:40].decode('ascii', errors='replace')!r} is not a number"
            ) from exc
    raise CorruptFileError(f"{name}: {what} holds a value that is not a number")
