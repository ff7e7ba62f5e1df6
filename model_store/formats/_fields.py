"""Split a block of text lines into fields with numpy: whitespace-separated or delimited (CSV).

The result is a :class:`Rows` table, one row per data line, from which numbers and times are parsed
column by column without a Python loop over lines. Blank lines (and, for delimited text, comment lines)
are skipped; every other line must have exactly the expected number of fields. When every line of a
block has the same length and its fields sit in the same columns (the fixed-width layout IAGA-2002
writers use), the block is viewed as a 2-D byte array and fields are column slices of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import CorruptFileError
from ._lines import NEWLINE, LineBlock

WHITESPACE = b" \t\r\n\v\f"
IS_SPACE = np.zeros(256, dtype=bool)
IS_SPACE[list(WHITESPACE)] = True
SPACE = ord(" ")
MAX_FIELD_BYTES = 64  # wider fields are cut by the matrix views; callers check widths() first
SLOT_SAMPLE_ROWS = 256


@dataclass(frozen=True)
class Rows:
    """Field ``j`` of row ``i`` is ``buf[starts[i, j]:ends[i, j]]``; ``line_no[i]`` is its line in the file.

    ``slots``, when set, says the fields of every row sit in the same column ranges of ``table``
    (the rows as a 2-D byte array), padded with blanks.
    """

    buf: np.ndarray
    line_no: np.ndarray
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None
    table: np.ndarray | None = None
    slots: tuple[tuple[int, int], ...] | None = None
    _padded: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.line_no)

    def widths(self, j: int) -> np.ndarray:
        """Each row's field ``j`` length in bytes (for fixed slots: its non-blank bytes)."""
        if self.slots is not None:
            a, b = self.slots[j]
            return np.count_nonzero(~IS_SPACE[self.table[:, a:b]], axis=1)
        return self.ends[:, j] - self.starts[:, j]

    def blank_padded(self, j: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Field ``j`` as a byte matrix, each cell somewhere in its row and padded with blanks, and which
        cells were too wide to fit (None if none were cut)."""
        if self.slots is not None:
            a, b = self.slots[j]
            return self.table[:, a:b], None
        widths = self.widths(j)
        width = int(min(widths.max(initial=1), MAX_FIELD_BYTES))
        return self._aligned(j, width, right=True, pad=SPACE), widths > width

    def left_aligned(self, j: int, width: int) -> np.ndarray:
        """Field ``j`` as an ``(n, width)`` byte matrix, left-aligned and padded with zero bytes."""
        if self.slots is not None:
            a, b = self.slots[j]
            cells = self.table[:, a:b]
            solid = ~IS_SPACE[cells]
            if b - a == width and solid.all():
                return cells
            first = np.argmax(solid, axis=1)
            idx = first[:, None] + np.arange(width)
            ok = (idx < cells.shape[1]) & np.take_along_axis(solid, np.minimum(idx, cells.shape[1] - 1), axis=1)
            return np.where(ok, np.take_along_axis(cells, np.minimum(idx, cells.shape[1] - 1), axis=1), 0).astype(np.uint8)
        return self._aligned(j, width, right=False, pad=0)

    def _aligned(self, j: int, width: int, right: bool, pad: int) -> np.ndarray:
        windows = sliding_window_view(self._padded_buf(), width)
        s, e = self.starts[:, j] + MAX_FIELD_BYTES, self.ends[:, j] + MAX_FIELD_BYTES
        cells = windows[e - width] if right else windows[s]
        cols = np.arange(width)
        inside = cols >= (width - (e - s))[:, None] if right else cols < (e - s)[:, None]
        return np.where(inside, cells, np.uint8(pad))

    def _padded_buf(self) -> np.ndarray:
        if "buf" not in self._padded:
            blanks = np.full(MAX_FIELD_BYTES, SPACE, dtype=np.uint8)
            self._padded["buf"] = np.concatenate([blanks, self.buf, blanks])
        return self._padded["buf"]

    def cells(self, j: int, index: np.ndarray) -> np.ndarray:
        """Field ``j`` of the rows in ``index`` as stripped byte strings (cut at MAX_FIELD_BYTES + 1)."""
        if self.slots is not None:
            a, b = self.slots[j]
            text = np.ascontiguousarray(self.table[index, a:b]).view(f"S{b - a}").ravel()
        else:
            width = MAX_FIELD_BYTES + 1
            sub = Rows(self.buf, self.line_no[index], self.starts[index], self.ends[index], _padded=self._padded)
            text = np.ascontiguousarray(sub._aligned(j, width, right=False, pad=0)).view(f"S{width}").ravel()
        return np.strings.strip(text)

    def cell(self, i: int, j: int) -> bytes:
        if self.slots is not None:
            a, b = self.slots[j]
            return self.table[i, a:b].tobytes().strip()
        return self.buf[self.starts[i, j] : self.ends[i, j]].tobytes()


def empty_rows() -> Rows:
    return Rows(np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64))


def whitespace_rows(block: LineBlock, n_fields: int, name: str) -> Rows:
    """Rows of whitespace-separated tokens (IAGA-2002 data lines)."""
    buf = np.frombuffer(block.data, dtype=np.uint8)
    newlines = block.newlines()
    fixed = _fixed_slots(buf, newlines, n_fields)
    if fixed is not None:
        table, slots = fixed
        return Rows(buf, block.first_line + np.arange(len(newlines)), table=table, slots=slots)
    solid = ~IS_SPACE[buf]
    before = np.empty_like(solid)
    before[0], before[1:] = False, solid[:-1]
    after = np.empty_like(solid)
    after[-1], after[:-1] = False, solid[1:]
    starts = np.flatnonzero(solid & ~before)
    ends = np.flatnonzero(solid & ~after) + 1
    token_line = np.searchsorted(newlines, starts)
    counts = np.bincount(token_line, minlength=len(newlines))
    used = counts > 0
    _refuse_counts(block, newlines, used & (counts != n_fields), counts, f"fields, expected {n_fields}", name)
    lines = np.flatnonzero(used)
    return Rows(buf, block.first_line + lines, starts.reshape(-1, n_fields), ends.reshape(-1, n_fields))


def _fixed_slots(buf: np.ndarray, newlines: np.ndarray, n_fields: int):
    """(rows as a 2-D array, field column ranges) if every line has one layout, else None.

    The slots (column ranges holding a field) are found on a sample of lines; then every line must be
    blank between them. What is inside a slot (a field split in two, an empty one) is for the field
    parsers to refuse, as they refuse any cell that is not what they expect.
    """
    if not len(newlines):
        return None
    width = int(newlines[0]) + 1
    if len(buf) != width * len(newlines) or np.any(np.diff(newlines) != width):
        return None
    table = buf.reshape(len(newlines), width)
    sample = table[:: max(1, len(table) // SLOT_SAMPLE_ROWS)]
    used = np.flatnonzero((~IS_SPACE[sample]).any(axis=0))
    if not used.size:
        return None
    breaks = np.flatnonzero(np.diff(used) > 1)
    slots = tuple(zip(np.r_[used[0], used[breaks + 1]].tolist(), (np.r_[used[breaks], used[-1]] + 1).tolist()))
    gaps = np.setdiff1d(np.arange(width), used)
    if len(slots) != n_fields or not IS_SPACE[table[:, gaps]].all():
        return None
    return table, slots


def delimited_rows(block: LineBlock, n_fields: int, name: str, delimiter: int, comment: int) -> tuple[Rows, list[int]]:
    """Rows of ``delimiter``-separated cells (CSV without quotes) and the indices of comment lines.

    A line whose first non-blank character is ``comment`` is a comment; blank lines are skipped.
    """
    buf = np.frombuffer(block.data, dtype=np.uint8)
    newlines = block.newlines()
    line_start = np.r_[0, newlines[:-1] + 1]
    solid = ~IS_SPACE[buf]
    blank = ~np.logical_or.reduceat(solid, line_start)
    is_comment = np.zeros(len(newlines), dtype=bool)
    hashes = np.flatnonzero(buf == comment)
    if hashes.size:
        hash_line = np.searchsorted(newlines, hashes)
        first = np.r_[True, hash_line[1:] != hash_line[:-1]]  # the first comment character of each line
        lines, at = hash_line[first], hashes[first]
        starts = line_start[lines]
        spans = np.empty(2 * len(lines), dtype=np.int64)
        spans[0::2], spans[1::2] = starts, at
        solid_before = np.logical_or.reduceat(solid, spans)[0::2]  # over [line start, '#') when non-empty
        is_comment[lines[(at == starts) | ~solid_before]] = True

    bounds = np.flatnonzero((buf == delimiter) | (buf == NEWLINE))
    is_newline = buf[bounds] == NEWLINE
    field_line = np.cumsum(is_newline) - is_newline
    counts = np.bincount(field_line, minlength=len(newlines))
    first_field = np.r_[0, np.cumsum(counts)[:-1]]
    used = ~blank & ~is_comment
    _refuse_counts(block, newlines, used & (counts != n_fields), counts, f"cells, the header names {n_fields}", name)
    lines = np.flatnonzero(used)
    field_starts = np.r_[0, bounds[:-1] + 1]
    idx = first_field[lines, None] + np.arange(n_fields)
    rows = Rows(buf, block.first_line + lines, field_starts[idx], bounds[idx])
    return rows, np.flatnonzero(is_comment).tolist()


def _refuse_counts(block: LineBlock, newlines: np.ndarray, bad: np.ndarray, counts: np.ndarray, what: str, name: str) -> None:
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise CorruptFileError(
            f"{name}: line {block.first_line + k} has {int(counts[k])} {what}: {_line_text(block, newlines, k)!r}"
        )


def line_text(block: LineBlock, k: int) -> str:
    """Line ``k`` of the block (0-based), decoded leniently, for messages and comment lines."""
    return _line_text(block, block.newlines(), k, limit=None)


def _line_text(block: LineBlock, newlines: np.ndarray, k: int, limit: int | None = 200) -> str:
    start = 0 if k == 0 else int(newlines[k - 1]) + 1
    end = int(newlines[k])
    return block.data[start:end].decode("utf-8", errors="replace").strip()[:limit]
