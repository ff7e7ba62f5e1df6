"""Strict reading of numbers that arrive as text (form fields, path parameters).

Python's ``int()`` and ``float()``, which pydantic uses for text, accept more than a client means: ``1_0`` is
10, `` 1`` and ``+1`` are 1, ``00`` is 0. A number here is written plainly or it is refused with a 400 that
says what was sent.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INDEX = re.compile(r"0|[1-9][0-9]*")


def _plain(pattern: re.Pattern[str], what: str):
    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"must be {what}; got {value[:40]!r}")
        return value

    return BeforeValidator(check)


#: a decimal number as JSON writes one: 6, 0.5, 1e-3 (no blanks, signs other than -, underscores, leading zeros)
PlainDecimal = _plain(_DECIMAL, "a number written plainly, such as 6 or 0.5")
#: a whole number written plainly: 0, 7, 12 (no blanks, signs, underscores or leading zeros)
PlainIndex = _plain(_INDEX, "a whole number written plainly, such as 0 or 7")
