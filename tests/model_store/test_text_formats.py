"""IAGA-2002 and CSV readers against the rows of the real USGS files."""

import math
from datetime import datetime, timezone

import numpy as np
import pytest

from model_store import CorruptFileError, read_series


def test_iaga_minute_hdzf_converts_d_to_east_nt(data_dir):
    s = read_series(data_dir / "bou20141101vmin.min")
    assert (s.station, s.source_format, s.sampling_interval_s, s.n_samples) == ("BOU", "iaga2002", 60.0, 1440)
    assert s.start == datetime(2014, 11, 1, tzinfo=timezone.utc)
    assert s.latitude == pytest.approx(40.137)
    assert s.longitude == pytest.approx(254.764 - 360)
    # first row: 20873.75 -9.99 47477.30 (D in minutes of arc)
    assert s.h[0] == pytest.approx(20873.75)
    assert s.d[0] == pytest.approx(20873.75 * math.sin(math.radians(-9.99 / 60)))
    assert s.z[0] == pytest.approx(47477.30)
    assert s.z[4] == pytest.approx(47477.14)


def test_iaga_second_hezf_keeps_east_in_nt(data_dir):
    s = read_series(data_dir / "BOU20200101vsec.sec")
    assert s.sampling_interval_s == 1.0
    assert s.n_samples == 901
    assert (s.h[0], s.d[0], s.z[0]) == pytest.approx((20826.85, -86.75, 46874.62))
    assert (s.h[-1], s.d[-1], s.z[-1]) == pytest.approx((20826.46, -86.10, 46874.36))


def test_iaga_missing_codes_and_skipped_rows_become_nan(data_dir):
    lines = (data_dir / "BOU20200101vsec.sec").read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("DATE"))
    z_value = lines[i + 3].split()[5]  # the 00:00:02 row
    lines[i + 3] = lines[i + 3].replace(z_value, "99999.00")
    del lines[i + 6]  # 00:00:05 absent
    s = read_series("\n".join(lines).encode())
    assert np.isnan(s.z[2]) and not np.isnan(s.h[2])
    assert np.isnan(s.h[5]) and s.n_samples == 901


def test_csv_matches_the_iaga_rows_it_came_from(data_dir):
    s = read_series(data_dir / "bou_20200101_10min.csv")
    ref = read_series(data_dir / "BOU20200101vsec.sec")
    assert (s.station, s.source_format, s.sampling_interval_s, s.n_samples) == ("BOU", "csv", 1.0, 600)
    assert s.start == ref.start
    np.testing.assert_allclose(s.h, ref.h[:600])
    np.testing.assert_allclose(s.d, ref.d[:600])
    assert s.latitude == pytest.approx(40.137)


def test_csv_bad_value_names_the_line():
    text = "time,H,D,Z\n2020-01-01T00:00:00Z,1,2,3\n2020-01-01T00:00:01Z,1,x,3\n"
    with pytest.raises(CorruptFileError, match="line 3: .d. value .x. is not a number"):
        read_series(text.encode())


def test_csv_irregular_time_is_refused():
    text = "time,H,D,Z\n2020-01-01T00:00:00Z,1,2,3\n2020-01-01T00:00:01Z,1,2,3\n2020-01-01T00:00:02.5Z,1,2,3\n"
    with pytest.raises(CorruptFileError, match="regular"):
        read_series(text.encode())


def test_iaga_xyz_gives_horizontal_intensity_and_east(data_dir):
    lines = (data_dir / "BOU20200101vsec.sec").read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("DATE"))
    header = [line.replace("HEZF", "XYZF") for line in lines[:i]]
    columns = lines[i].replace("BOUH", "BOUX").replace("BOUE", "BOUY")
    lines = header + [columns] + [
        "2020-01-01 00:00:00.000 001     20000.00   3000.00  46874.62  51815.05",
        "2020-01-01 00:00:01.000 001     20000.00  -4000.00  46874.62  51815.05",
    ]
    s = read_series("\n".join(lines).encode())
    assert s.h == pytest.approx([math.hypot(20000, 3000), math.hypot(20000, 4000)])
    assert s.d == pytest.approx([3000.0, -4000.0])
