"""CSV rules: BOM, non-finite and unphysical values, quoting, and errors that name the line."""

import numpy as np
import pytest

from model_store import CorruptFileError, read_series

HEADER = "time,H,D,Z\n"


def _rows(*values):
    return "".join(f"2020-01-01T00:00:{i:02d}Z,{v}\n" for i, v in enumerate(values))


def test_utf8_bom_as_spreadsheets_write_it(data_dir):
    raw = (data_dir / "bou_20200101_10min.csv").read_bytes()
    with_bom = read_series(b"\xef\xbb\xbf" + raw)
    np.testing.assert_array_equal(with_bom.h, read_series(raw).h)
    assert with_bom.station == "BOU"


def test_non_finite_and_unphysical_values_are_missing_and_counted():
    text = HEADER + _rows("1,2,3", "inf,2,3", "1,-inf,1e300", "1e5,nan,-100001", "1,2,3")
    s = read_series(text.encode())
    assert np.isnan(s.h[1]) and np.isnan(s.d[2]) and np.isnan(s.z[2]) and np.isnan(s.z[3]) and np.isnan(s.d[3])
    assert s.h[3] == 100_000.0  # the limit itself is a value
    assert s.masked_samples == {"non_finite": 2, "out_of_range": 2}  # nan is a missing marker, not counted


def test_quoted_cells_are_read_and_an_unclosed_quote_is_refused():
    quoted = HEADER + '"2020-01-01T00:00:00Z","1.5",2,3\n2020-01-01T00:00:01Z,"2.5",2,3\n'
    assert read_series(quoted.encode()).h.tolist() == [1.5, 2.5]
    unclosed = HEADER + '2020-01-01T00:00:00Z,1,2,3\n"2020-01-01T00:00:01Z,1,2,3\n'
    with pytest.raises(CorruptFileError, match="line 3 is not valid CSV"):
        read_series(unclosed.encode())


def test_huge_cell_is_refused_as_an_over_long_line():
    text = HEADER + "2020-01-01T00:00:00Z,1,2,3\n" + "2020-01-01T00:00:01Z," + "9" * 140_000 + ",2,3\n"
    with pytest.raises(CorruptFileError, match="line 3 .*8192"):
        read_series(text.encode())


def test_rows_with_the_wrong_number_of_cells_name_the_line():
    text = HEADER + _rows("1,2,3", "1,2", "1,2,3")
    with pytest.raises(CorruptFileError, match="line 3 has 3 cells, the header names 4"):
        read_series(text.encode())


def test_time_offsets_blank_and_comment_lines():
    text = "# station: lut\n" + HEADER + "2020-01-01T07:00:00+07:00,1,2,3\n\n# a note\n2020-01-01 00:00:01,4,,6\n"
    s = read_series(text.encode())
    assert s.station == "LUT" and s.start.isoformat() == "2020-01-01T00:00:00+00:00"
    assert s.h.tolist() == [1.0, 4.0] and np.isnan(s.d[1])


def test_bad_time_names_the_line():
    text = HEADER + "2020-01-01T00:00:00Z,1,2,3\n2020-13-01T00:00:01Z,1,2,3\n"
    with pytest.raises(CorruptFileError, match=r"line 3: time .2020-13-01T00:00:01. is out of range \(month 1-12"):
        read_series(text.encode())
