"""ImagCDF (cdflib) and miniSEED (ObsPy) readers on real USGS Boulder data, and the missing-extra error."""

import dataclasses
import sys

import numpy as np
import pytest

from model_store import CorruptFileError, MissingExtraError, UnsupportedComponentsError, read_series
from model_store.formats import detect_format, imagcdf, miniseed, supported_formats

pytest.importorskip("cdflib")
obspy = pytest.importorskip("obspy")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

from training.writers import to_imagcdf, to_miniseed  # noqa: E402


def test_miniseed_bou_four_days_of_minutes(bou_mseed_path):
    s = read_series(bou_mseed_path)
    assert (s.source_format, s.station, s.sampling_interval_s, s.n_samples) == ("miniseed", "BOU", 60.0, 5760)
    assert s.start.isoformat() == "2020-08-27T00:00:00+00:00"
    st = obspy.read(str(bou_mseed_path))
    np.testing.assert_array_equal(s.h, st.select(channel="H")[0].data)
    np.testing.assert_array_equal(s.d, st.select(channel="E")[0].data)  # E is already east, nT
    np.testing.assert_array_equal(s.z, st.select(channel="Z")[0].data)


def test_imagcdf_multi_day_file_is_one_series(bou_imagcdf_path, bou_mseed_path):
    s = read_series(bou_imagcdf_path)
    ref = read_series(bou_mseed_path)
    assert (s.source_format, s.station, s.start, s.sampling_interval_s) == ("imagcdf", "BOU", ref.start, 60.0)
    assert s.n_samples == 4 * 1440
    for c in "hdz":
        np.testing.assert_array_equal(getattr(s, c), getattr(ref, c))


def test_imagcdf_d_in_degrees_and_fill_values(data_dir):
    ref = read_series(data_dir / "bou20141101vmin.min")  # HDZF with D in minutes of arc
    h = ref.h.copy()
    h[100:110] = np.nan
    ref = dataclasses.replace(ref, h=h)
    data = to_imagcdf(ref, orientation="HDZ", scalar_f=np.full(ref.n_samples, 50_000.0))
    s = read_series(data)
    assert np.isnan(s.h[100:110]).all() and np.isnan(s.d[100:110]).all()  # 99999 fill -> missing
    kept = ~np.isnan(h)
    np.testing.assert_allclose(s.d[kept], ref.d[kept], rtol=0, atol=1e-9)  # read as minutes it would be 60x off
    assert (s.latitude, s.longitude) == (pytest.approx(40.137), pytest.approx(-105.236))


def test_miniseed_seed_channel_codes_and_gaps(wic_xyzf_path):
    src = read_series(wic_xyzf_path)
    h = src.h.copy()
    h[600:660] = np.nan
    src = dataclasses.replace(src, h=h)
    data = to_miniseed(src)
    st = obspy.read(__import__("io").BytesIO(data))
    assert sorted({tr.stats.channel for tr in st}) == ["LFE", "LFH", "LFZ"] and len(st.select(channel="LFH")) == 2
    s = read_series(data)
    assert s.n_samples == 3600 and np.isnan(s.h[600:660]).all() and not np.isnan(s.h[:600]).any()
    np.testing.assert_array_equal(s.d, src.d)


def test_seismic_channels_are_not_magnetic_field(bou_mseed_path):
    st = obspy.read(str(bou_mseed_path))
    for tr, code in zip(st, ("LHN", "LHE", "LHZ", "LHF")):
        tr.stats.channel = code
    buf = __import__("io").BytesIO()
    st.write(buf, format="MSEED")
    with pytest.raises(UnsupportedComponentsError, match="no geomagnetic channels .*LHE"):
        read_series(buf.getvalue())


def test_miniseed_channel_codes():
    assert [miniseed.element_of(c) for c in ("LFH", "UFE", "BFZ", "H", "LHZ", "LFI")] == ["H", "E", "Z", "H", None, "I"]


def test_cdf_that_is_not_imagcdf(bou_imagcdf_path, tmp_path):
    from cdflib.cdfwrite import CDF as CDFWriter

    w = CDFWriter(tmp_path / "other.cdf")
    w.write_var({"Variable": "Epoch", "Data_Type": 33, "Num_Elements": 1, "Rec_Vary": True, "Dim_Sizes": []},
                var_data=np.arange(3, dtype=np.int64))
    w.close()
    with pytest.raises(CorruptFileError, match="not ImagCDF"):
        read_series(tmp_path / "other.cdf")


def test_missing_extras_give_a_415_error_naming_the_extra(bou_imagcdf_path, bou_mseed_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cdflib", None)
    monkeypatch.setitem(sys.modules, "obspy", None)
    assert detect_format(bou_imagcdf_path.read_bytes()[:64]) == "imagcdf"  # sniffing needs no extra
    with pytest.raises(MissingExtraError, match=r"pip install '\.\[cdf\]'"):
        read_series(bou_imagcdf_path)
    with pytest.raises(MissingExtraError, match=r"pip install '\.\[mseed\]'"):
        read_series(bou_mseed_path)
    assert "pip install '.[cdf]'" in supported_formats()["imagcdf"]


def test_compressed_cdf_inflation_is_bounded(bou_imagcdf_path, monkeypatch):
    monkeypatch.setattr(imagcdf, "MAX_DECOMPRESSED_BYTES", 10_000)
    with pytest.raises(CorruptFileError, match="expands beyond"):
        read_series(bou_imagcdf_path)
    import cdflib.cdfread

    assert cdflib.cdfread.gzip_inflate.__module__ != imagcdf.__name__  # restored after the read
