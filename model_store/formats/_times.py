"""Parse columns of ISO-8601 times with numpy's datetime parser, as microseconds since 1970 UTC."""

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


def _parse(m: np.ndarray, line_no: np.ndarray, name: str, what: str) -> np.ndarray:
    """Parse rows of ISO text (zero-padded bytes) to microseconds since 1970 UTC."""
    text = np.ascontiguousarray(m).view(f"S{m.shape[1]}").ravel()
    try:
        us = text.astype("datetime64[us]")
    except ValueError:
        us = None
    if us is None or (bad := np.isnat(us)).any():
        k = _first_bad(text) if us is None else int(np.flatnonzero(bad)[0])
        raise CorruptFileError(
            f"{name}: line {line_no[k]}: {what} {text[k][:MAX_TIME_CHARS].decode('ascii', errors='replace')!r} "
            "is not an ISO-8601 date and time"
        )
    return us.astype(np.int64)


def _first_bad(text: np.ndarray) -> int:
    for k, value in enumerate(text):
        try:
            if np.isnat(np.datetime64(value.decode("ascii"), "us")):
                return k
        except ValueError:
            return k
    return 0


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
