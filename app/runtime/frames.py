"""The decode workers' wire format: length-prefixed frames of a JSON header and raw bytes (never pickle).

A frame is ``<u32 header length><u32 body length>``, the header as UTF-8 JSON, then the body. A station
series travels as its metadata in the header and its H, D, Z arrays back to back in the body, each described by
``[name, dtype, shape]``; the receiving side makes arrays that are views of the one body buffer. A record's
auxiliary channels (an FRG-604RC day's tilts, temperatures and supply voltage) stay in the worker: the service
reads none of them, and they would more than double what crosses the pipe.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from typing import Any, BinaryIO

import numpy as np

from model_store.series import StationSeries

PREFIX = struct.Struct("<II")
MAX_HEADER_BYTES = 1 << 20


class ChannelClosed(EOFError):
    """The other end closed the pipe (for a worker: the process has exited)."""


def write_frame(stream: BinaryIO, header: dict[str, Any], body: bytes | memoryview | list[np.ndarray] = b"") -> None:
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = body if isinstance(body, list) else [body]
    views = [memoryview(np.ascontiguousarray(p)).cast("B") if isinstance(p, np.ndarray) else memoryview(p) for p in parts]
    stream.write(PREFIX.pack(len(head), sum(v.nbytes for v in views)))
    stream.write(head)
    for v in views:
        stream.write(v)
    stream.flush()


def read_exactly(stream: BinaryIO, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            raise ChannelClosed(f"pipe closed after {got} of {n} bytes")
        got += k
    return buf


def read_frame(stream: BinaryIO) -> tuple[dict[str, Any], bytearray]:
    head_len, body_len = PREFIX.unpack(read_exactly(stream, PREFIX.size))
    if head_len > MAX_HEADER_BYTES:
        raise ValueError(f"frame header of {head_len} bytes")
    header = json.loads(read_exactly(stream, head_len))
    return header, read_exactly(stream, body_len)


def describe(arrays: dict[str, np.ndarray]) -> list[list[Any]]:
    return [[name, a.dtype.str, list(a.shape)] for name, a in arrays.items()]


def unpack(described: list[list[Any]], body: bytearray) -> dict[str, np.ndarray]:
    """Arrays described by :func:`describe`, as views of ``body`` in order."""
    out, offset = {}, 0
    for name, dtype, shape in described:
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        out[name] = np.frombuffer(body, dt, count, offset).reshape(shape)
        offset += count * dt.itemsize
    if offset != len(body):
        raise ValueError(f"frame body is {len(body)} bytes; its arrays take {offset}")
    return out


def series_parts(series: StationSeries) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    arrays = {"h": series.h, "d": series.d, "z": series.z}  # not series.aux: see the module docstring
    meta = {"station": series.station, "start": series.start.isoformat(), "sampling_interval_s": series.sampling_interval_s,
            "source_format": series.source_format, "latitude": series.latitude, "longitude": series.longitude,
            "masked_samples": series.masked_samples, "arrays": describe(arrays)}
    return meta, arrays


def series_from_parts(meta: dict[str, Any], body: bytearray) -> StationSeries:
    arrays = unpack(meta["arrays"], body)
    return StationSeries(
        meta["station"], datetime.fromisoformat(meta["start"]), meta["sampling_interval_s"],
        arrays.pop("h"), arrays.pop("d"), arrays.pop("z"), meta["source_format"], meta["latitude"], meta["longitude"],
        {k.removeprefix("aux:"): v for k, v in arrays.items()}, dict(meta["masked_samples"]),
    )
