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


def _record_by_hand(raw: bytes, block: int, record: int) -> list[float]:
    """One record decoded field by field with int.from_bytes, independently of the reader's array arithmetic
    (values beyond a field's range are missing)."""
    start = block * frg604rc.BLOCK_BYTES + frg604rc.HEADER_BYTES + record * frg604rc.RECORD_BYTES
    rec = raw[start:start + frg604rc.RECORD_BYTES]
    field, tilt, temp = (0.01, frg604rc.FIELD_MISSING_ABOVE), (0.1, frg604rc.TILT_MISSING_ABOVE), (0.01, frg604rc.TEMP_MISSING_ABOVE)
    layout = [(0, 3, field), (3, 3, field), (6, 3, field), (9, 2, tilt), (11, 2, tilt), (13, 2, temp), (15, 2, temp)]
    out = []
    for offset, size, (scale, limit) in layout:
        value = int.from_bytes(rec[offset:offset + size], "little", signed=True) * scale
        out.append(value if abs(value) <= limit else float("nan"))
    return out


def _channels(s) -> list[np.ndarray]:
    return [s.h, s.d, s.z, s.aux["IX"], s.aux["IY"], s.aux["TempS"], s.aux["TempP"]]


def test_signed_values_and_block_order_decode_as_the_layout_says(lut_day_path):
    raw = bytearray(gzip.decompress(lut_day_path.read_bytes()))
    at = 7 * frg604rc.BLOCK_BYTES + frg604rc.HEADER_BYTES + 5 * frg604rc.RECORD_BYTES
    raw[at:at + 17] = bytes.fromhex("ffffff" "000080" "fe7f00" "ffff" "0080" "3412" "ffff")
    s = read_series(bytes(raw))
    second = 7 * 600 + 5
    got = [a[second] for a in _channels(s)]
    assert got[0] == -0.01 and got[2] == 32766 * 0.01 and got[3] == -0.1
    assert np.isnan(got[1]) and np.isnan(got[4])  # -83886.08 nT and -3276.8: beyond their fields' ranges
    assert got[5:] == [0x1234 * 0.01, -0.01]
    assert got == pytest.approx(_record_by_hand(bytes(raw), 7, 5), rel=0, abs=0, nan_ok=True)
    for block, record in [(0, 0), (0, 599), (143, 599), (60, 300), (100, 17)]:  # untouched records, first to last
        expected = _record_by_hand(bytes(raw), block, record)
        assert [a[block * 600 + record] for a in _channels(s)] == pytest.approx(expected, rel=0, abs=0, nan_ok=True)

    # blocks in any order land at their header times
    blocks = [bytes(raw[i * frg604rc.BLOCK_BYTES:(i + 1) * frg604rc.BLOCK_BYTES]) for i in range(144)]
    shuffled = read_series(b"".join(blocks[i] for i in np.random.default_rng(0).permutation(144)))
    for a, b in zip(_channels(shuffled), _channels(s)):
        np.testing.assert_array_equal(a, b)
