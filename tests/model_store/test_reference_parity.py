"""The numpy readers give exactly the arrays of a line-by-line parse, on every text file in tests/data."""

import numpy as np
import pytest

from model_store import read_series

from .reference_readers import csv_file, iaga2002

IAGA_FILES = ["bou20141101vmin.min", "BOU20200101vsec.sec", "wic20230712vsec_00-12h.sec.gz", "wic20220810vsec_00-01h.sec.gz"]
CSV_FILES = ["bou_20200101_10min.csv"]


@pytest.mark.parametrize(("name", "reference"), [(n, iaga2002) for n in IAGA_FILES] + [(n, csv_file) for n in CSV_FILES])
def test_identical_arrays(data_dir, name, reference):
    s = read_series(data_dir / name)
    ref = reference(data_dir / name)
    assert s.start == ref["start"] and s.sampling_interval_s == ref["interval"]
    for c in "hdz":
        np.testing.assert_array_equal(getattr(s, c), ref[c], err_msg=f"{name} {c}")


def test_every_text_file_in_tests_data_is_covered(data_dir):
    text = {p.name for p in data_dir.iterdir() if p.suffix in (".sec", ".min") or p.name.endswith(".sec.gz")}
    series_csv = {p.name for p in data_dir.glob("*.csv") if p.read_text().lstrip().startswith("#")}
    assert text == set(IAGA_FILES) and series_csv == set(CSV_FILES)
