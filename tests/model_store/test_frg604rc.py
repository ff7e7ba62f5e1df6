"""The FRG-604RC reader against the figures in docs/frg604rc-format.md (real LUT day)."""

import gzip
from datetime import datetime, timezone

import numpy as np
import pytest

from model_store import CorruptFileError, read_series
from model_store.formats import frg604rc


def test_real_day_matches_documented_figures(lut_day):
    s = lut_day
    assert s.station == "LUT"
    assert s.source_format == "frg604rc"
    assert s.start == datetime(2023, 1, 1, tzinfo=timezone.utc)
    assert s.sampling_interval_s == 1.0
    assert s.n_samples == 86_400
    for name, (lo, med, hi) in {
        "H": (38_364.82, 38_382.92, 38_411.51),
        "D": (-79.24, -52.28, -17.80),
        "Z": (-23_490.80, -23_468.91, -23_438.88),
    }.items():
        x = s.channel(name)
        assert np.nanmin(x) == pytest.approx(lo, abs=0.01)
        assert np.nanmedian(x) == pytest.approx(med, abs=0.01)
        assert np.nanmax(x) == pytest.approx(hi, abs=0.01)
    assert np.nanmedian(s.aux["TempS"]) == pytest.approx(30.7, abs=0.2)
    assert np.nanmedian(np.abs(np.diff(s.h))) == pytest.approx(0.01, abs=1e-6)
    assert s.h[-1] == pytest.approx(38_392.76, abs=1e-6)


def test_real_day_gap_is_exactly_the_documented_minute(lut_day):
    missing = np.flatnonzero(lut_day.missing_mask())
    assert len(missing) == 60
    first = 21 * 3600 + 58 * 60
    np.testing.assert_array_equal(missing, np.arange(first, first + 60))


def test_hour_std_is_field_not_byte_noise(lut_day):
    # The known wrong decoder gives a 1-hour std of ~1,300 nT; the true field varies by a few nT.
    assert np.nanstd(lut_day.h[:3600]) < 20


def test_plain_and_gzipped_bytes_decode_identically(lut_day_path, lut_day):
    raw = gzip.decompress(lut_day_path.read_bytes())
    assert len(raw) == 1_473_123
    again = read_series(raw)
    np.testing.assert_array_equal(again.h, lut_day.h)
    with open(lut_day_path, "rb") as fh:
        np.testing.assert_array_equal(read_series(fh).z, lut_day.z)


def test_truncated_block_is_reported_with_position(lut_day_path):
    raw = gzip.decompress(lut_day_path.read_bytes())
    cut = raw[: 10 * frg604rc.BLOCK_BYTES + 500]
    with pytest.raises(CorruptFileError, match=r"truncated: block 11 at byte 102300"):
        read_series(cut)


def test_missing_blocks_become_missing_samples(lut_day_path):
    raw = gzip.decompress(lut_day_path.read_bytes())
    first_hour = raw[: 6 * frg604rc.BLOCK_BYTES]
    s = read_series(first_hour)
    assert s.n_samples == 86_400
    assert not np.isnan(s.h[:3600]).any()
    assert np.isnan(s.h[3600:]).all()


def test_damaged_block_marker_is_reported(lut_day_path):
    raw = bytearray(gzip.decompress(lut_day_path.read_bytes()))
    raw[3 * frg604rc.BLOCK_BYTES] = 0x00
    with pytest.raises(CorruptFileError, match="block 4 at byte 30690"):
        read_series(bytes(raw))
