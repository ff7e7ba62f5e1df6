"""One real day (the LUT FRG-604RC file) written in every format the project writes reads back the same."""

import dataclasses

import numpy as np
import pytest

from model_store import read_series
from model_store.stations import get_station
from training.writers import to_csv, to_frg604rc, to_iaga2002, to_imagcdf, to_miniseed

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WRITERS = {
    "frg604rc": (to_frg604rc, None),
    "iaga2002": (to_iaga2002, None),
    "csv": (to_csv, None),
    "imagcdf": (to_imagcdf, "cdflib"),
    "miniseed": (to_miniseed, "obspy"),
}
CARRIES_POSITION = {"iaga2002", "csv", "imagcdf"}
TEXT_RESOLUTION_NT = 0.005  # IAGA-2002 keeps two decimals


@pytest.fixture(scope="module")
def day(lut_day):
    station = get_station("LUT")
    return dataclasses.replace(lut_day, latitude=station.latitude, longitude=station.longitude, aux={})


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_same_series_in_every_format(day, fmt):
    writer, needs = WRITERS[fmt]
    if needs:
        pytest.importorskip(needs)
    s = read_series(writer(day))
    assert (s.source_format, s.station, s.start, s.sampling_interval_s, s.n_samples) == (
        fmt, "LUT", day.start, 1.0, 86_400)
    atol = TEXT_RESOLUTION_NT if fmt == "iaga2002" else 0.0
    for c in "hdz":
        np.testing.assert_allclose(getattr(s, c), getattr(day, c), rtol=0, atol=atol, err_msg=c)
    np.testing.assert_array_equal(s.missing_mask(), day.missing_mask())  # the documented 60-s gap
    if fmt in CARRIES_POSITION:
        assert (s.latitude, s.longitude) == (pytest.approx(day.latitude, abs=1e-3), pytest.approx(day.longitude, abs=1e-3))
    assert s.masked_samples == {}
