"""Readers of station data formats and the dispatcher that picks one.

Each format module has ``NAME``, ``DESCRIPTION``, ``EXTRA`` (the optional dependency group its reader
needs, or None), ``sniff(bytes) -> bool`` (never raises, needs no extra) and
``read(Payload | bytes, name) -> StationSeries``. ``read_series`` undoes gzip as far as the reader asks,
picks the reader (or uses the one named), and guarantees that only
:class:`~model_store.errors.ReadError` subclasses escape.
"""

from __future__ import annotations

from types import ModuleType

from ..errors import CorruptFileError, ReadError, UnknownFormatError
from ..series import StationSeries
from . import csv, frg604rc, iaga2002, imagcdf, miniseed
from ._extras import extra_installed, install_hint
from ._source import Payload, Source

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (frg604rc, iaga2002, imagcdf, miniseed, csv)}


def supported_formats() -> dict[str, str]:
    """Format name -> description, in sniffing order (formats whose extra is missing say how to add it)."""
    return {name: _describe(module) for name, module in FORMATS.items()}


def _describe(module: ModuleType) -> str:
    extra = getattr(module, "EXTRA", None)
    if extra and not extra_installed(extra):
        return f"{module.DESCRIPTION}; not installed: {install_hint(extra)}"
    return module.DESCRIPTION


def detect_format(data: bytes) -> str | None:
    return next((name for name, module in FORMATS.items() if module.sniff(data)), None)


def read_series(source: Source, format: str | None = None) -> StationSeries:  # noqa: A002 - public API name
    """Read station data from a path, bytes or binary file object (``.gz`` handled transparently)."""
    payload = Payload(source)
    name = payload.name
    head = payload.head()
    if not head:
        raise CorruptFileError(f"{name}: input is empty")
    if format is None:
        format = detect_format(head)
        if format is None:
            raise UnknownFormatError(
                f"{name}: not a recognised station data format; supported: "
                + "; ".join(f"{k} ({v})" for k, v in supported_formats().items())
            )
    elif format not in FORMATS:
        raise UnknownFormatError(f"unknown format {format!r}; supported: {', '.join(FORMATS)}")
    try:
        return FORMATS[format].read(payload, name)
    except ReadError:
        raise
    except (ValueError, IndexError, KeyError, OverflowError, UnicodeError) as exc:
        raise CorruptFileError(f"{name}: not valid {format} data ({exc})") from exc


__all__ = ["FORMATS", "Payload", "read_series", "supported_formats", "detect_format"]
