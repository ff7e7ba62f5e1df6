"""A decode worker: reads uploads (station files, PNGs) for the service, in a process of its own.

Run by :class:`app.runtime.decoding.DecodePool` as ``python -m app.runtime.decode_worker``; it speaks
:mod:`app.runtime.frames` on its stdin and stdout, one request at a time, until stdin closes. It imports the
readers and nothing of the service or of torch, so a crash inside a C library that parses untrusted bytes
(numpy's casts, Pillow, cdflib, ObsPy's libmseed) ends this process and fails one request, not the service.

Requests: ``{"op": "series", "name", "format"}`` with the file's bytes -> the station series;
``{"op": "png", "candidates": [[name, InputSpec dict], ...], "named"}`` with the PNG's bytes -> the chosen
candidate and the image decoded for it. Answers carry ``ok``; a refusal carries the model_store error's class
name and message, which the service raises again as that class. The first frame a worker writes is a hello.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys
import traceback
from typing import Any, BinaryIO

import numpy as np

from model_store.errors import ModelStoreError
from model_store.formats import read_series
from model_store.input_spec import InputSpec
from model_store.png import decode_png_for

from .frames import ChannelClosed, describe, read_frame, series_parts, write_frame

logger = logging.getLogger("app.runtime.decode_worker")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE_MB


def _spec(cache: dict[str, InputSpec], value: dict[str, Any]) -> InputSpec:
    key = json.dumps(value, sort_keys=True)
    if key not in cache:
        cache[key] = InputSpec.from_dict(value)
    return cache[key]


def handle(header: dict[str, Any], body: bytearray, specs: dict[str, InputSpec]) -> tuple[dict[str, Any], list[np.ndarray]]:
    op = header.get("op")
    if op == "series":
        source = io.BytesIO(body)
        source.name = header["name"]
        meta, arrays = series_parts(read_series(source, format=header.get("format")))
        return {"ok": True, **meta}, list(arrays.values())
    if op == "png":
        candidates = [(name, _spec(specs, spec)) for name, spec in header["candidates"]]
        chosen = decode_png_for(bytes(body), candidates, named=bool(header.get("named")))
        d = chosen.decoded
        # a PNG of the model's own size is its 8-bit levels: sent as bytes (a quarter of the floats), divided
        # by 255 on the other side exactly as png_to_image divides them
        image = d.image if d.resized else np.rint(d.image * np.float32(255.0)).astype(np.uint8)
        return ({"ok": True, "index": chosen.index, "why": chosen.why, "original_size": list(d.original_size),
                 "resized": d.resized, "arrays": describe({"image": image})}, [image])
    raise ValueError(f"unknown op {op!r}")


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    from app.runtime.memory import trim_heap

    specs: dict[str, InputSpec] = {}
    write_frame(answers, {"ok": True, "hello": os.getpid()})
    settled = rss_mb()
    while True:
        try:
            header, body = read_frame(requests)
        except ChannelClosed:
            return
        try:
            answer, arrays = handle(header, body, specs)
        except ModelStoreError as exc:
            answer, arrays = {"ok": False, "error": type(exc).__name__, "message": str(exc)}, []
        except Exception as exc:  # noqa: BLE001 - a bug, not the client's: reported to the service, which logs it
            answer, arrays = {"ok": False, "error": "internal", "message": f"{type(exc).__name__}: {exc}",
                              "traceback": traceback.format_exc()}, []
        del body
        answer["rss_mb"] = rss_mb()
        write_frame(answers, answer, arrays)
        del arrays
        if answer["rss_mb"] > 2 * settled:  # a large upload left free pages behind
            trim_heap()


def main() -> None:
    # The service stops a worker by closing its stdin; a Ctrl-C or SIGTERM sent to the whole process group
    # must not end a decode the service is still waiting for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever a library prints goes to stderr, not the channel
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s %(levelname)s decode-worker[{os.getpid()}] %(message)s")
    serve(sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
