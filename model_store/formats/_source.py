"""Turn the many kinds of input a reader accepts into bytes, undoing gzip on the way."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import BinaryIO, Union

from ..errors import CorruptFileError, ReadError

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

GZIP_MAGIC = b"\x1f\x8b"
# Largest decompressed input we accept: a 1-Hz IAGA-2002 day is about 6 MB, an FRG-604RC day 1.5 MB.
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024


def source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or "<bytes>"


def load_bytes(source: Source, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Return the (decompressed) content of ``source``."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise ReadError(f"cannot open {os.fspath(source)!r}: {exc.strerror}") from exc
    elif isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif hasattr(source, "read"):
        raw = source.read()
        if not isinstance(raw, (bytes, bytearray)):
            raise ReadError("file object must be opened in binary mode")
        raw = bytes(raw)
    else:
        raise ReadError(f"unsupported source type {type(source).__name__}")
    if raw[:2] == GZIP_MAGIC:
        raw = _gunzip(raw, max_bytes)
    return raw


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            while chunk := gz.read(1 << 20):
                out += chunk
                if len(out) > max_bytes:
                    raise CorruptFileError(
                        f"gzip input expands beyond {max_bytes // (1024 * 1024)} MB; refusing it"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(f"damaged gzip stream after {len(out)} decompressed bytes: {exc}") from exc
    return bytes(out)


def decode_text(data: bytes) -> str | None:
    """ASCII/UTF-8 text, or None if the bytes are not text."""
    if b"\x00" in data[:4096]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
