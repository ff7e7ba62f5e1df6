"""Every reader turns bad input into a ReadError subclass, never another exception."""

import gzip
import random

import pytest

from model_store import CorruptFileError, ReadError, UnknownFormatError, read_series
from model_store.formats import FORMATS, detect_format


def _samples(data_dir):
    raw_lut = gzip.decompress((data_dir / "S230101.LUT.gz").read_bytes())[:40_000]
    return {
        "frg604rc": raw_lut,
        "iaga2002": (data_dir / "BOU20200101vsec.sec").read_bytes()[:20_000],
        "csv": (data_dir / "bou_20200101_10min.csv").read_bytes()[:5_000],
    }


def test_sniffers_pick_the_right_format(data_dir):
    for name, data in _samples(data_dir).items():
        assert detect_format(data) == name


def test_unknown_format_names_supported_ones():
    with pytest.raises(UnknownFormatError) as exc:
        read_series(b"hello world, this is not magnetometer data\n")
    for name in FORMATS:
        assert name in str(exc.value)


def test_empty_input():
    with pytest.raises(CorruptFileError, match="empty"):
        read_series(b"")


def test_damaged_gzip_is_corrupt(data_dir):
    gz = (data_dir / "S230101.LUT.gz").read_bytes()
    with pytest.raises(CorruptFileError, match="gzip"):
        read_series(gz[: len(gz) // 2])


def test_fuzz_truncated_random_and_mutated_bytes_only_raise_read_errors(data_dir):
    rng = random.Random(1234)
    cases = [b"", b"\x00", b"\x1f\x8b", b"\x11\x30LUT", b" Format IAGA-2002 |\n"]
    for name, data in _samples(data_dir).items():
        for _ in range(25):
            cases.append(data[: rng.randrange(len(data))])
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 50)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            cases.append(bytes(mutated))
        cases.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
    for fmt in [None, *FORMATS]:
        for data in cases:
            try:
                read_series(data, format=fmt)
            except ReadError:
                pass
            for module in FORMATS.values():
                assert module.sniff(data) in (True, False)
