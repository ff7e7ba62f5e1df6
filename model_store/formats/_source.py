"""Give readers bounded access to an input, undoing gzip on the way.

A :class:`Payload` keeps the input as it came (a path, or the bytes of an upload) and inflates gzip only
as far as a reader asks: the first bytes for sniffing, the whole content up to a limit the reader
names (binary formats, whose size is known), or a stream of chunks (text formats, which are parsed
while they are read, so the decompressed text is never held whole).
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Union

from ..errors import CorruptFileError, ReadError

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

GZIP_MAGIC = b"\x1f\x8b"
# Largest decompressed input any reader may stream: 31 days of 1-s IAGA-2002 text is about 190 MB.
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 1 << 20
SNIFF_BYTES = 8192


def source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or "<bytes>"


class Payload:
    """One input, read from its start each time a reader asks (gzip undone, never beyond a limit)."""

    def __init__(self, source: Source, name: str | None = None) -> None:
        self.name = name or source_name(source)
        self._path: str | None = None
        self._raw: bytes | None = None
        if isinstance(source, (str, os.PathLike)):
            self._path = os.fspath(source)
            try:
                with open(self._path, "rb") as fh:
                    magic = fh.read(len(GZIP_MAGIC))
            except OSError as exc:
                raise ReadError(f"cannot open {self._path!r}: {exc.strerror}") from exc
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self._raw = bytes(source)
        elif hasattr(source, "read"):
            raw = source.read()
            if not isinstance(raw, (bytes, bytearray)):
                raise ReadError("file object must be opened in binary mode")
            self._raw = bytes(raw)
        else:
            raise ReadError(f"unsupported source type {type(source).__name__}")
        if self._raw is not None:
            magic = self._raw[: len(GZIP_MAGIC)]
        self.compressed = magic == GZIP_MAGIC

    def _open_raw(self) -> BinaryIO:
        if self._path is not None:
            return open(self._path, "rb")
        return io.BytesIO(self._raw)

    def chunks(self, chunk_bytes: int = CHUNK_BYTES, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> Iterator[bytes]:
        """The (decompressed) content in chunks; more than ``max_bytes`` in all is refused when reached."""
        total = 0
        with self._open_raw() as raw:
            stream: BinaryIO = gzip.GzipFile(fileobj=raw) if self.compressed else raw
            try:
                while chunk := stream.read(chunk_bytes):
                    total += len(chunk)
                    if total > max_bytes:
                        raise CorruptFileError(f"{self.name}: {_expands(self.compressed)} beyond {_mb(max_bytes)}; refusing it")
                    yield chunk
            except (OSError, EOFError, zlib.error) as exc:
                raise CorruptFileError(
                    f"{self.name}: damaged gzip stream after {total} decompressed bytes: {exc}"
                ) from exc

    def read_all(self, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
        """The whole (decompressed) content, refused once it grows beyond ``max_bytes``."""
        if self._raw is not None and not self.compressed:
            if len(self._raw) > max_bytes:
                raise CorruptFileError(f"{self.name}: {len(self._raw)} bytes is more than the {max_bytes} accepted")
            return self._raw
        out = bytearray()
        for chunk in self.chunks(max_bytes=max_bytes):
            out += chunk
        return bytes(out)

    def head(self, n: int = SNIFF_BYTES) -> bytes:
        """The first ``n`` (decompressed) bytes, for sniffing."""
        out = bytearray()
        for chunk in self.chunks(chunk_bytes=n):
            out += chunk
            if len(out) >= n:
                break
        return bytes(out[:n])


def as_payload(data: Payload | Source, name: str | None = None) -> Payload:
    return data if isinstance(data, Payload) else Payload(data, name)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _expands(compressed: bool) -> str:
    return "gzip input expands" if compressed else "input is"
