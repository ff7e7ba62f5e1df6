"""Parse columns of ISO-8601 times, validated and computed byte by byte, as microseconds since 1970 UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from ..errors import CorruptFileError
from ._fields import Rows

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US_PER_S = 1_000_000
MAX_TIME_CHARS = 40
DATE_CHARS = 10  # YYYY-MM-DD
CLOCK_CHARS = 12  # HH:MM:SS.sss
CLOCK_DIGITS = [0, 1, 3, 4, 6, 7, 9, 10, 11]
CLOCK_SEPARATORS = [2, 5, 8]
_IS_CLOCK_CHAR = np.zeros(256, dtype=bool)
_IS_CLOCK_CHAR[list(b"0123456789:.\x00")] = True
_T = ord("T")


def to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def iso_column(rows: Rows, j: int, name: str, what: str) -> np.ndarray:
    """Field ``j``: ``YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]]`` with an optional ``Z`` or ``+HH:MM`` offset."""
    widths = rows.widths(j)
    _refuse_where(rows, j, widths > MAX_TIME_CHARS, name, f"{what} is longer than {MAX_TIME_CHARS} characters")
    width = int(widths.max(initial=1))
    stripped = np.strings.strip(np.ascontiguousarray(rows.left_aligned(j, width)).view(f"S{width}").ravel())
    m, offset_us = _strip_zone(np.ascontiguousarray(stripped.astype(f"S{width}")).view(np.uint8).reshape(-1, width))
    return _parse(m, rows.line_no, name, what) - offset_us


def date_time_columns(rows: Rows, j_date: int, j_time: int, name: str) -> np.ndarray:
    """IAGA-2002 ``YYYY-MM-DD`` and ``HH:MM:SS.sss`` in two fields, read as UTC.

    Each distinct date is parsed once (a day file has one) and the clock by digit arithmetic; other
    clock layouts go through numpy's ISO parser.
    """
    _refuse_where(rows, j_date, rows.widths(j_date) != DATE_CHARS, name, "the date is not YYYY-MM-DD")
    dates = rows.left_aligned(j_date, DATE_CHARS)
    t_widths = rows.widths(j_time)
    if np.all(t_widths == CLOCK_CHARS):
        return _dates_us(dates, rows, name) + _clock_us(rows.left_aligned(j_time, CLOCK_CHARS), rows, j_time, name)
    _refuse_where(rows, j_time, t_widths > MAX_TIME_CHARS, name, "the time is too long")
    clock = rows.left_aligned(j_time, int(t_widths.max(initial=1)))
    _refuse_where(rows, j_time, ~_IS_CLOCK_CHAR[clock].all(axis=1), name, "the time is not HH:MM:SS.sss")
    m = np.concatenate([dates, np.full((len(rows), 1), _T, np.uint8), clock], axis=1)
    return _parse(m, rows.line_no, name, "time")


def _dates_us(dates: np.ndarray, rows: Rows, name: str) -> np.ndarray:
    text = np.ascontiguousarray(dates).view(f"S{DATE_CHARS}").ravel()
    firsts = np.r_[0, np.flatnonzero(text[1:] != text[:-1]) + 1]
    midnights = _parse(dates[firsts], rows.line_no[firsts], name, "date")
    return np.repeat(midnights, np.diff(np.r_[firsts, len(text)]))


def _clock_us(clock: np.ndarray, rows: Rows, j: int, name: str) -> np.ndarray:
    digits = clock[:, CLOCK_DIGITS].astype(np.int64) - ord("0")
    hh = digits[:, 0] * 10 + digits[:, 1]
    mm = digits[:, 2] * 10 + digits[:, 3]
    ss = digits[:, 4] * 10 + digits[:, 5]
    ms = digits[:, 6] * 100 + digits[:, 7] * 10 + digits[:, 8]
    ok = (
        ((digits >= 0) & (digits <= 9)).all(axis=1)
        & (clock[:, CLOCK_SEPARATORS] == np.frombuffer(b"::.", np.uint8)).all(axis=1)
        & (hh < 24) & (mm < 60) & (ss < 60)
    )
    _refuse_where(rows, j, ~ok, name, "the time is not HH:MM:SS.sss")
    return (((hh * 60 + mm) * 60 + ss) * 1000 + ms) * 1000


# The one grammar accepted (after a zone suffix is removed): every accepted form is a prefix of this
# template, ending at one of ACCEPTED_LENGTHS. "D" is a digit; "T" is T, t or a blank.
ISO_TEMPLATE = b"DDDD-DD-DDTDD:DD:DD.DDDDDDDDD"
ISO_FORMS = "YYYY-MM-DD[T ]HH:MM[:SS[.fffffffff]]"
ACCEPTED_LENGTHS = (10, 16, 19, *range(21, len(ISO_TEMPLATE) + 1))
_FRACTION_AT = 20
_US_DIGITS = 6
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _parse(m: np.ndarray, line_no: np.ndarray, name: str, what: str) -> np.ndarray:
    """Parse rows of ISO text (left-aligned, zero-padded bytes) to microseconds since 1970 UTC.

    Validated and computed by byte arithmetic: no text reaches numpy's datetime parser, which accepts far
    more than ISO-8601 ("now", "20200101") and, in numpy 2.4, crashes the process when a cast of more than
    about 512 strings fails. Rows are handled a length at a time (a file has one or two), position by
    position.
    """
    n, w = m.shape
    nonzero = m != 0
    length = np.count_nonzero(nonzero, axis=1)
    ok = nonzero[np.arange(n), np.maximum(length - 1, 0)] | (length == 0)  # no zero byte inside the text
    ok &= np.isin(length, ACCEPTED_LENGTHS)
    us = np.zeros(n, dtype=np.int64)
    in_range = np.ones(n, dtype=bool)
    for size in np.unique(length[ok]):
        rows = np.flatnonzero(ok & (length == size))
        columns = np.ascontiguousarray(m[rows, :size].T)  # one row per character position
        ok[rows], in_range[rows], us[rows] = _parse_fixed(columns)
    bad = ~(ok & in_range)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        text = bytes(m[k][m[k] != 0][:MAX_TIME_CHARS]).decode("ascii", errors="replace")
        why = f"is not an ISO-8601 date and time ({ISO_FORMS})" if not ok[k] else \
            "is out of range (month 1-12, a day the month has, hour < 24, minute and second < 60)"
        raise CorruptFileError(f"{name}: line {line_no[k]}: {what} {text!r} {why}")
    return us


def _parse_fixed(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(well formed, in range, microseconds) of texts of one length, given as one row per position."""
    size, n = columns.shape
    digits = columns - np.uint8(ord("0"))  # wraps for bytes below "0": a digit is exactly <= 9
    ok = np.ones(n, dtype=bool)
    for p in range(size):
        expected = ISO_TEMPLATE[p]
        if expected == ord("D"):
            ok &= digits[p] <= 9
        elif expected == ord("T"):
            ok &= (columns[p] == ord("T")) | (columns[p] == ord("t")) | (columns[p] == ord(" "))
        else:
            ok &= columns[p] == expected

    def number(a: int, z: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        for p in range(a, min(z, size)):
            out = out * 10 + digits[p]
        return out * 10 ** max(0, z - max(a, size))  # a fraction given to fewer digits

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    hour, minute, second = number(11, 13), number(14, 16), number(17, 19)
    micro = number(_FRACTION_AT, _FRACTION_AT + _US_DIGITS)  # digits beyond microseconds are dropped
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + (leap & (month == 2))
    in_range = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    in_range &= (hour < 24) & (minute < 60) & (second < 60)
    days = _days_since_epoch(year, np.clip(month, 1, 12), day)
    return ok, in_range, ((days * 24 + hour) * 60 + minute) * 60 * US_PER_S + second * US_PER_S + micro


def _days_since_epoch(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days from 1970-01-01 of proleptic Gregorian dates (H. Hinnant's days_from_civil; year >= 1)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def _strip_zone(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove a trailing ``Z`` or ``±HH:MM`` (after the time of day); return the offsets in microseconds."""
    m = np.array(m)
    n, width = m.shape
    rows = np.arange(n)
    length = (m != 0).sum(axis=1)  # left-aligned, zero-padded
    last = m[rows, np.maximum(length - 1, 0)]
    zulu = (length > DATE_CHARS) & ((last == ord("Z")) | (last == ord("z")))
    m[rows[zulu], length[zulu] - 1] = 0
    offset_us = np.zeros(n, dtype=np.int64)
    if width >= 16:
        at = np.maximum(length - 6, 0)
        sign = m[rows, at]
        has = (length >= 16 + 6) & ((sign == ord("+")) | (sign == ord("-"))) & (m[rows, np.maximum(length - 3, 0)] == ord(":"))
        if has.any():
            digits = m[rows[:, None], at[:, None] + np.array([1, 2, 4, 5])].astype(np.int64) - ord("0")
            has &= ((digits >= 0) & (digits <= 9)).all(axis=1)  # anything else is left to the parser to refuse
            digits = digits[has]
            minutes = (digits[:, 0] * 10 + digits[:, 1]) * 60 + digits[:, 2] * 10 + digits[:, 3]
            offset_us[has] = np.where(sign[has] == ord("-"), -minutes, minutes) * 60 * US_PER_S
            m[rows[has, None], at[has, None] + np.arange(6)] = 0
    return m, offset_us


def _refuse_where(rows: Rows, j: int, bad: np.ndarray, name: str, message: str) -> None:
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise CorruptFileError(f"{name}: line {rows.line_no[k]}: {message}: {rows.cell(k, j)[:60]!r}")
