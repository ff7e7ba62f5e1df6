"""Earthquake catalogue reading: the real BMKG file, a hand-made ComCat sample, and bad rows named by line."""

from datetime import datetime, timezone

import pytest

from model_store.catalog import CatalogError, Event, catalog_layout, read_catalog, write_catalog
from model_store.errors import ModelStoreError

COMCAT_HEADER = ("time,latitude,longitude,depth,mag,magType,nst,gap,dmin,rms,net,id,updated,place,type,"
                 "horizontalError,depthError,magError,magNst,status,locationSource,magSource")


def test_real_bmkg_file_reads_every_row_in_time_order(data_dir):
    events = read_catalog(data_dir / "bmkg_catalog_2022-12-15_2023-01-26.csv")
    assert len(events) == 1613 and all(isinstance(e, Event) for e in events)
    assert [e.time for e in events] == sorted(e.time for e in events)
    first = events[0]
    assert first.time == datetime(2022, 12, 15, 1, 56, 56, 515000, tzinfo=timezone.utc)
    assert (first.latitude, first.longitude, first.depth_km, first.magnitude) == (-6.85, 107.07, 10.0, 1.6)
    assert first.region == "Java, Indonesia" and first.event_id == "20221215T015656_-6.85_+107.07"
    tanimbar = max(events, key=lambda e: e.magnitude)  # the M7.5 Tanimbar earthquake of 9 January 2023
    assert tanimbar.magnitude == 7.5 and tanimbar.time.date().isoformat() == "2023-01-09"


def test_minimum_magnitude_is_inclusive(data_dir):
    path = data_dir / "bmkg_catalog_2022-12-15_2023-01-26.csv"
    strong = read_catalog(path, min_magnitude=5.0)
    assert len(strong) == 35 and min(e.magnitude for e in strong) == 5.0
    assert len(read_catalog(path, min_magnitude=4.0)) == 377


def test_comcat_layout_gives_the_same_records(data_dir):
    events = read_catalog(data_dir / "comcat_sample.csv")
    # six rows, newest first in the file; the quarry blast is skipped
    assert [e.event_id for e in events] == [f"xx0000000{i}" for i in (1, 2, 3, 5, 6)]
    molucca = events[3]
    assert molucca == Event("xx00000005", datetime(2023, 1, 18, 6, 6, 10, 384000, tzinfo=timezone.utc),
                            2.705, 127.0531, 30.2, 7.0, "Molucca Sea")
    assert events[4].region == "118 km NE of Bima, Indonesia"  # quoted, with a comma
    assert len(read_catalog(data_dir / "comcat_sample.csv", earthquakes_only=False)) == 6
    assert [e.event_id for e in read_catalog(data_dir / "comcat_sample.csv", min_magnitude=4.6)] == [
        "xx00000002", "xx00000005", "xx00000006"]


def test_layout_is_told_from_the_header():
    assert catalog_layout(COMCAT_HEADER.split(",")) == "comcat"
    assert catalog_layout(["time_utc", "latitude", "longitude", "depth_km", "magnitude", "region"]) == "bmkg"
    assert catalog_layout(["time", "latitude", "longitude", "depth", "mag"]) == "comcat"  # old 15-column feeds too
    with pytest.raises(ValueError, match="neither the BMKG layout"):
        catalog_layout(["date", "lat", "lon", "M"])


def test_written_catalogue_reads_back(tmp_path, data_dir):
    events = read_catalog(data_dir / "comcat_sample.csv")
    write_catalog(events, tmp_path / "c.csv")
    assert read_catalog(tmp_path / "c.csv") == events


@pytest.mark.parametrize(("text", "line", "why"), [
    ("time_utc,latitude,longitude,depth_km,magnitude\n2023-01-01T00:00:00Z,1,2,3,4.5\n2023-01-02T00:00:00Z,1,2,3,big\n",
     3, "could not convert"),
    ("time_utc,latitude,longitude,depth_km,magnitude\n2023-01-01 noon,1,2,3,4.5\n", 2, "Invalid isoformat"),
    ("time_utc,latitude,longitude,depth_km,magnitude\n2023-01-01T00:00:00Z,1,2,3,4.5,extra\n", 2, "6 fields"),
    ("time_utc,latitude,longitude,depth_km,magnitude\n2023-01-01T00:00:00Z,1,2\n", 2, "fewer fields"),
    ("time_utc,latitude,longitude,depth_km,magnitude\n2023-01-01T00:00:00Z,95,2,3,4.5\n", 2, "off the globe"),
    ("time_utc,latitude,longitude,depth_km,magnitude\n2023-01-01T00:00:00Z,1,2,3,nan\n", 2, "not a finite"),
    (COMCAT_HEADER + "\n2023-01-01T00:00:00.000Z,1,2,3,,mb,,,,,xx,xx1,,\"a, b\",earthquake,,,,,reviewed,xx,xx\n",
     2, "could not convert"),
])
def test_a_bad_row_is_named_by_file_and_line(tmp_path, text, line, why):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CatalogError, match=why) as exc:
        read_catalog(path)
    assert str(exc.value).startswith(f"{path}: line {line} is not a catalogue row")
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, ModelStoreError)


def test_an_unknown_header_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("date,lat,lon,M\n2023-01-01,1,2,5\n")
    with pytest.raises(CatalogError, match=f"{path}: line 1 is not a catalogue header"):
        read_catalog(path)
