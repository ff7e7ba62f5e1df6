"""Readers of station data formats and the dispatcher that picks one.

Each format module has ``NAME``, ``DESCRIPTION``, ``sniff(bytes) -> bool`` (never raises) and
``read(bytes, name) -> StationSeries``. ``read_series`` undoes gzip, picks the reader (or uses the
one named), and guarantees that only :class:`~model_store.errors.ReadError` subclasses escape.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import CorruptFileError, ReadError, UnknownFormatError
from ..series import StationSeries
from . import csv, frg604rc, iaga2002
from ._source import Source, load_bytes, source_name

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (frg604rc, iaga2002, csv)}


def supported_formats() -> dict[str, str]:
    """Format name -> description, in sniffing order."""
    return {name: module.DESCRIPTION for name, module in FORMATS.items()}


def detect_format(data: bytes) -> str | None:
    return next((name for name, module in FORMATS.items() if module.sniff(data)), None)


def read_series(source: Source, format: str | None = None) -> StationSeries:  # noqa: A002 - public API name
    """Read station data from a path, bytes or binary file object (``.gz`` handled transparently)."""
    name = source_name(source)
    data = load_bytes(source)
    if not data:
        raise CorruptFileError(f"{name}: input is empty")
    if format is None:
        format = detect_format(data)
        if format is None:
            raise UnknownFormatError(
                f"{name}: not a recognised station data format; supported: "
                + "; ".join(f"{k} ({v})" for k, v in supported_formats().items())
            )
    elif format not in FORMATS:
        raise UnknownFormatError(f"unknown format {format!r}; supported: {', '.join(FORMATS)}")
    try:
        return FORMATS[format].read(data, name)
    except ReadError:
        raise
    except (ValueError, IndexError, KeyError, OverflowError, UnicodeError) as exc:
        raise CorruptFileError(f"{name}: not valid {format} data ({exc})") from exc


__all__ = ["FORMATS", "read_series", "supported_formats", "detect_format"]
