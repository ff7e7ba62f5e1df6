"""Property-based: arbitrary bytes, truncations, bit flips and header edits of the real sample files
raise only ReadError subclasses, in bounded time and memory, with or without the format named."""

import gzip
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_store import ReadError, StationSeries, read_series
from model_store.formats import FORMATS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # ObsPy warns about damaged records

MAX_SECONDS = 10.0  # generous: a 2-core CI box shared with training
MAX_PEAK_MB = 64
EXAMPLES = settings(max_examples=int(os.environ.get("READER_PROPERTY_EXAMPLES", 30)), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _samples(data_dir):
    mseed = (data_dir / "bou20200827_min.mseed").read_bytes()
    return {
        "frg604rc": gzip.decompress((data_dir / "S230101.LUT.gz").read_bytes())[:30_000],
        "iaga2002": (data_dir / "BOU20200101vsec.sec").read_bytes()[:8_000],
        "iaga2002.gz": (data_dir / "wic20220810vsec_00-01h.sec.gz").read_bytes(),
        "csv": (data_dir / "bou_20200101_10min.csv").read_bytes()[:4_000],
        "imagcdf": (data_dir / "bou20200827_4days_vmin.cdf").read_bytes(),
        "miniseed": mseed[: 3 * 4096],
    }


SAMPLES = _samples(Path(__file__).resolve().parents[1] / "data")
NAMES = sorted(SAMPLES)
FORMAT_CHOICES = st.sampled_from([None, *FORMATS])


def _only_read_errors(data: bytes, fmt) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = read_series(data, format=fmt)
        assert isinstance(result, StationSeries)
    except ReadError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert time.perf_counter() - t0 < MAX_SECONDS
    assert peak < MAX_PEAK_MB + len(data) / 2**20


@EXAMPLES
@given(data=st.binary(max_size=4096), fmt=FORMAT_CHOICES)
def test_arbitrary_bytes(data, fmt):
    _only_read_errors(data, fmt)
    for module in FORMATS.values():
        assert module.sniff(data) in (True, False)


@EXAMPLES
@given(name=st.sampled_from(NAMES), cut=st.floats(0, 1), fmt=FORMAT_CHOICES)
def test_truncations(name, cut, fmt):
    data = SAMPLES[name]
    _only_read_errors(data[: int(len(data) * cut)], fmt)


@EXAMPLES
@given(name=st.sampled_from(NAMES), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
                                                    min_size=1, max_size=16))
def test_bit_flips(name, flips):
    data = bytearray(SAMPLES[name])
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _only_read_errors(bytes(data), None)


@EXAMPLES
@given(name=st.sampled_from(NAMES), where=st.integers(0, 1500), junk=st.binary(min_size=1, max_size=64),
       drop=st.integers(0, 80))
def test_header_edits(name, where, junk, drop):
    data = SAMPLES[name]
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    where = min(where, len(data))
    edited = data[:where] + junk + data[where + drop :]
    _only_read_errors(gzip.compress(edited) if name.endswith(".gz") else edited, None)
