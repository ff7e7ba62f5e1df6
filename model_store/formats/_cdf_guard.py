"""Guard cdflib against hostile CDF files: whole-file compression is undone here (bounded), and every
read cdflib makes is clamped to the bytes the file has, so a forged length cannot allocate gigabytes.
"""

from __future__ import annotations

import io
import zlib
from types import ModuleType

from ..errors import CorruptFileError

UNCOMPRESSED_FLAG = bytes.fromhex("0000ffff")
COMPRESSED_FLAG = bytes.fromhex("cccc0001")
CCR_TYPE, CPR_TYPE = 10, 11
GZIP_COMPRESSION = 5
V3_MAGIC = bytes.fromhex("cdf30001")


def uncompressed_cdf(raw: bytes, limit: int, name: str) -> bytes:
    """The file with whole-file GZIP compression undone (at most ``limit`` bytes), or as it is."""
    flag = raw[4:8]
    if flag == UNCOMPRESSED_FLAG:
        return raw
    if flag != COMPRESSED_FLAG:
        raise CorruptFileError(f"{name}: CDF compression flag {flag.hex()} is neither compressed nor uncompressed")
    size = 8 if raw[:4] == V3_MAGIC else 4  # CDF 3 uses 8-byte offsets, CDF 2.x 4-byte ones
    ccr = 8
    ccr_type = _int(raw, ccr + size, 4, name)
    cpr = _int(raw, ccr + size + 4, size, name)
    if ccr_type != CCR_TYPE or _int(raw, cpr + size, 4, name) != CPR_TYPE:
        raise CorruptFileError(f"{name}: compressed CDF without valid CCR/CPR records")
    ctype = _int(raw, cpr + size + 4, 4, name)
    if ctype != GZIP_COMPRESSION:
        raise CorruptFileError(f"{name}: CDF compression type {ctype} is not supported (only GZIP)")
    record_size = _int(raw, ccr, size, name)
    data_start = ccr + 2 * size + 4 + size + 4  # RecordSize, RecordType, CPRoffset, uSize, rfuA
    stream = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)
    try:
        body = stream.decompress(raw[data_start : ccr + record_size], limit + 1)
    except zlib.error as exc:
        raise CorruptFileError(f"{name}: damaged compressed CDF: {exc}") from exc
    if len(body) > limit or stream.unconsumed_tail:
        raise CorruptFileError(f"{name}: compressed CDF expands beyond {limit // (1024 * 1024)} MB; refusing it")
    return raw[:4] + UNCOMPRESSED_FLAG + body


def _int(raw: bytes, at: int, size: int, name: str) -> int:
    if at < 0 or at + size > len(raw):
        raise CorruptFileError(f"{name}: CDF record at byte {at} lies beyond the end of the file")
    return int.from_bytes(raw[at : at + size], "big")


class _ClampedReader(io.RawIOBase):
    """A binary file whose read(n) never asks for more than what is left."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)
        self._size = len(data)

    def read(self, n: int = -1) -> bytes:
        left = self._size - self._buf.tell()
        return self._buf.read(left if n is None or n < 0 else min(n, max(left, 0)))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buf.seek(offset, whence)

    def tell(self) -> int:
        return self._buf.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


def clamped_cdf_class(cdflib: ModuleType) -> type:
    """A cdflib.CDF whose file handle clamps every read to the file's size."""

    class ClampedCDF(cdflib.CDF):
        def _file_or_url_or_s3_handler(self, filename: str, filetype: str, s3_read_method: int):
            with open(filename, "rb") as fh:
                return _ClampedReader(fh.read())

    return ClampedCDF
