"""Seeded mutants of the project's real sample files, for fuzzing the readers (tests and tests/data/crashes).

A mutant is its sample with one to three edits: a byte changed, a span deleted, a span duplicated or a few
random bytes inserted. A gzipped sample is mutated inside (its decompressed bytes) and compressed again, so
the readers see damaged content rather than a gzip stream whose checksum fails.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"

# every reader, on real files (format name -> sample files)
SAMPLES: dict[str, tuple[str, ...]] = {
    "frg604rc": ("S230101.LUT.gz",),
    "iaga2002": ("BOU20200101vsec.sec", "bou20141101vmin.min", "wic20220810vsec_00-01h.sec.gz"),
    "csv": ("bou_20200101_10min.csv",),
    "imagcdf": ("bou20200827_4days_vmin.cdf",),
    "miniseed": ("bou20200827_min.mseed",),
}


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(len(b)))
        op = int(rng.integers(4))
        if op == 0:
            b[i] = int(rng.integers(256))
        elif op == 1:
            del b[i : i + int(rng.integers(1, 64))]
        elif op == 2:
            b[i:i] = b[i : i + int(rng.integers(1, 256))]
        else:
            b[i:i] = rng.integers(0, 256, int(rng.integers(1, 8))).astype(np.uint8).tobytes()
    return bytes(b)


def mutants(name: str, seed: int, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` mutants of sample ``name`` as (label, bytes); the same seed gives the same mutants."""
    raw = (DATA / name).read_bytes()
    packed = name.endswith(".gz")
    inner = gzip.decompress(raw) if packed else raw
    rng = np.random.default_rng([seed, *name.encode()])
    for k in range(count):
        data = mutate(inner, rng)
        yield f"{name}#{seed}.{k}", gzip.compress(data, mtime=0) if packed else data
