"""Cut a stream of text chunks into blocks of whole lines, refusing an over-long line as soon as it shows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFileError

NEWLINE = 0x0A


@dataclass(frozen=True)
class LineBlock:
    """Whole lines, each ending in ``\\n``; ``first_line`` is the file's 1-based number of the first one."""

    data: bytes
    first_line: int

    def newlines(self) -> np.ndarray:
        return np.flatnonzero(np.frombuffer(self.data, dtype=np.uint8) == NEWLINE)


def line_blocks(chunks: Iterable[bytes], name: str, max_line_bytes: int) -> Iterator[LineBlock]:
    """Yield blocks of complete lines; a line longer than ``max_line_bytes`` raises CorruptFileError.

    At most one chunk plus one line is held at a time, so an input that is one endless line costs no
    more memory than a short one.
    """
    carry = b""
    line_no = 1
    for chunk in chunks:
        buf = carry + chunk if carry else bytes(chunk)
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            carry = buf
            _check_tail(carry, line_no, name, max_line_bytes)
            continue
        block = LineBlock(buf[:cut], line_no)
        n_lines = _check_lines(block, name, max_line_bytes)
        carry = buf[cut:]
        line_no += n_lines
        _check_tail(carry, line_no, name, max_line_bytes)
        yield block
    if carry:
        yield LineBlock(carry + b"\n", line_no)


def _check_lines(block: LineBlock, name: str, max_line_bytes: int) -> int:
    ends = block.newlines()
    lengths = np.diff(ends, prepend=-1)  # including the newline
    too_long = np.flatnonzero(lengths > max_line_bytes + 1)
    if too_long.size:
        k = int(too_long[0])
        raise CorruptFileError(
            f"{name}: line {block.first_line + k} has {int(lengths[k]) - 1} bytes; at most {max_line_bytes} are accepted"
        )
    return len(ends)


def _check_tail(tail: bytes, line_no: int, name: str, max_line_bytes: int) -> None:
    if len(tail) > max_line_bytes:
        raise CorruptFileError(
            f"{name}: line {line_no} runs past {max_line_bytes} bytes without ending; refusing it"
        )
