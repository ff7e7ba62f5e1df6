"""Strict reading of what arrives as text: numbers (form fields, path parameters) and format names.

Python's ``int()`` and ``float()``, which pydantic uses for text, accept more than a client means: ``1_0`` is
10, `` 1`` and ``+1`` are 1, ``00`` is 0. A number here is written plainly or it is refused with a 400 that
says what was sent.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BeforeValidator

from model_store.formats import supported_formats

from .errors import ServiceError

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


def format_field(name: str | None) -> str | None:
    """A ``format`` form field, any case; None to detect the format from the content; a 400 naming the
    supported formats otherwise."""
    fmt = (name or "").strip().lower() or None
    if fmt is not None and fmt not in supported_formats():
        raise ServiceError(
            400, f"unknown format {fmt!r}: use one of {', '.join(supported_formats())}, or omit it to detect the format"
        )
    return fmt
