"""The network stage's library on per-station outcomes: records placed, checked and aligned; a station's window as
the network takes it (alarm, bearing, kappa, the received amplitude from its own image); common windows with a
known source; two sources in one window; the fitted network model's round trip and sha256 check."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from model_store.geodesy import destination, distance_km, initial_bearing_deg
from model_store.input_spec import InputSpec
from model_store.network import (
    BearingCalibration,
    MagnitudeModel,
    NetworkConfig,
    StationObservation,
    locate_sources,
    network_window,
)
from model_store.network_pipeline import (
    NamedRecord,
    NetworkInputError,
    StationWindow,
    align_to_hop,
    check_same_days,
    hop_origin,
    network_timeline,
    received_amplitude_nt,
    station_positions,
)
from model_store.network_store import NetworkArtifact, NetworkModelError, NetworkStore, station_model_identity
from model_store.series import StationSeries
from model_store.spectrogram import quantize, window_to_image
from model_store.stations import Station

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
CROSS = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125, image_height=64,
                  image_width=64)


def _series(code="AAA", start=T0, n=86400, lat=None, lon=None, dt=1.0) -> StationSeries:
    z = np.zeros(n)
    return StationSeries(code, start, dt, z, z.copy(), z.copy(), "test", lat, lon)


# ---------------------------------------------------------------------------- records
def test_positions_come_from_the_uploaded_table_then_header_and_station_table():
    table = {"LUT": Station("LUT", "Lombok", -8.37, 116.2)}
    records = [NamedRecord("a.sec", _series("XAA", lat=-4.0, lon=103.0)), NamedRecord("lut.sec", _series("LUT")),
               NamedRecord("b.sec", _series("xbb", lat=-4.1, lon=463.2))]
    placed = station_positions(records, {"XBB": Station("XBB", "B", -4.2, 103.3)}, table)
    assert list(placed) == ["XAA", "LUT", "XBB"]
    assert (placed["XAA"].latitude, placed["XAA"].longitude) == (-4.0, 103.0)  # the file's header
    assert placed["LUT"] == table["LUT"] and placed["XBB"].latitude == -4.2  # the table; the uploaded table wins


def test_positions_refuse_what_cannot_be_placed_or_is_sent_twice():
    with pytest.raises(NetworkInputError, match=r"no coordinates for stations XAA \(a.sec\), XBB \(b.sec\)"):
        station_positions([NamedRecord("a.sec", _series("XAA")), NamedRecord("b.sec", _series("XBB"))], {}, {})
    with pytest.raises(NetworkInputError, match="a.sec and c.sec are both records of station XAA"):
        station_positions([NamedRecord("a.sec", _series("XAA", lat=1, lon=2)),
                           NamedRecord("c.sec", _series("xaa ", lat=1, lon=2))], {}, {})
    with pytest.raises(NetworkInputError, match="names no station"):
        station_positions([NamedRecord("x.csv", _series(""))], {}, {})
    table = {"LUT": Station("LUT", "Lombok", -8.37, 116.2)}
    with pytest.raises(NetworkInputError, match="places station LUT at -7.0000, 116.2000, the station table at"):
        station_positions([NamedRecord("lut.sec", _series("LUT", lat=-7.0, lon=116.2))], {}, table)


def test_records_of_different_days_are_refused_naming_each_file():
    same = [NamedRecord("a", _series(start=T0)), NamedRecord("b", _series(start=T0 + timedelta(hours=1), n=3600))]
    check_same_days(same)
    with pytest.raises(NetworkInputError, match=r"\(a: 2025-03-01; b: 2025-03-02 to 2025-03-03\)"):
        check_same_days([NamedRecord("a", _series()), NamedRecord("b", _series(start=T0 + timedelta(days=1),
                                                                                n=2 * 86400))])


def test_records_are_padded_to_the_hop_grid_from_utc_midnight():
    late = _series(start=T0 + timedelta(seconds=90), n=1000)
    origin = hop_origin([NamedRecord("a", late), NamedRecord("b", _series(start=T0 + timedelta(hours=7)))])
    assert origin == T0
    aligned = align_to_hop(late, 6 * 3600, origin)
    assert aligned.start == T0 and aligned.n_samples == 1090 and np.isnan(aligned.h[:90]).all()
    on_grid = _series(start=T0 + timedelta(hours=6))
    assert align_to_hop(on_grid, 6 * 3600, origin) is on_grid
    just_before = align_to_hop(_series(start=T0 + timedelta(hours=6, seconds=-0.3)), 6 * 3600, origin)
    assert just_before.start == T0 + timedelta(hours=6) and just_before.n_samples == 86400  # moved 0.3 s, no pad


# ---------------------------------------------------------------------------- one station's window
def test_the_received_amplitude_is_the_coherent_band_rms_of_a_polarised_emission():
    rng = np.random.default_rng(0)
    n = CROSS.samples_per_window
    f = np.fft.rfftfreq(n)
    spectrum = np.fft.rfft(rng.normal(size=n)) * ((f >= 0.02) & (f <= 0.06))
    p = np.fft.irfft(spectrum, n)
    p *= 0.3 / p.std()  # 0.3 nT RMS in the band
    bearing = 130.0
    t = math.radians(bearing)
    background = [rng.normal(0, 0.02, n) for _ in range(3)]  # a quiet, incoherent background
    data = np.stack([p * math.cos(t) + background[0], p * math.sin(t) + background[1], 1.5 * p + background[2]])
    image = quantize(window_to_image(data, CROSS))
    amp = received_amplitude_nt(image, CROSS, bearing)
    assert amp == pytest.approx(0.3, rel=0.2)
    assert received_amplitude_nt(image, CROSS, bearing + 180.0) < 0.05  # nothing coherent the other way
    quiet = quantize(window_to_image(np.stack(background), CROSS))
    assert received_amplitude_nt(quiet, CROSS, bearing) < 0.05
    assert received_amplitude_nt(image, InputSpec(), bearing) is None  # no cross-spectral panel
    assert received_amplitude_nt(image, CROSS, None) is None


def _station_windows(source, placements, start=T0, kappa=500.0, detected=True, offsets=None):
    out = {}
    for i, (b, r) in enumerate(placements):
        lat, lon = destination(*source, b, r)
        code = f"S{i:02d}"
        bearing = initial_bearing_deg(lat, lon, *source) + (offsets or {}).get(code, 0.0)
        out[code] = [StationWindow(code, lat, lon, start, start + timedelta(hours=6), None, 0.9, detected, None,
                                   bearing % 360, kappa, 0.2 * (20.0 / r) ** 3, {"Large": 0.5, "Medium": 0.5})]
    return out


def test_common_windows_with_known_bearings_give_the_source():
    source = (-4.3, 103.3)
    stations = _station_windows(source, [(0, 30), (120, 40), (240, 35)])
    stations["S00"].append(replace(stations["S00"][0], start=T0 + timedelta(hours=6), end=T0 + timedelta(hours=12),
                                   skipped_reason="only 50% of samples present", precursor_probability=None))
    model = MagnitudeModel(("Large", "Medium"), ((1.0, 0.0), (-1.0, 0.0)), (0.0, 0.0), (3.0, 3.0), (1.0, 1.0))
    timeline = network_timeline(stations, T0, 6 * 3600, NetworkConfig(), model)
    assert [w.index for w in timeline] == [0, 1]
    first, second = timeline
    assert first.result.alarm and first.absent == {}
    fix = first.result.fix
    assert distance_km(fix.latitude, fix.longitude, *source) < 0.5 and fix.contains(*source)
    assert first.result.magnitude.label in ("Large", "Medium")
    assert second.absent == {"S00": "only 50% of samples present", "S01": "its record does not cover this window",
                             "S02": "its record does not cover this window"}
    assert not second.result.alarm and second.result.no_fix.code == "too_few_detections"
    d = first.to_dict()
    assert d["start"] == "2025-03-01T00:00:00Z" and d["network"]["source"]["stations_used"] == ["S00", "S01", "S02"]
    assert d["stations"][0]["bearing_sd_deg"] == pytest.approx(math.degrees(math.sqrt(1 / 500)), rel=0.05)


def test_a_station_that_does_not_detect_gives_no_bearing_to_the_fix():
    source = (-4.3, 103.3)
    stations = _station_windows(source, [(0, 30), (120, 40)])
    stations.update({"S09": _station_windows(source, [(240, 35)], detected=False, offsets={"S00": 90.0})["S00"]})
    stations["S09"] = [replace(stations["S09"][0], code="S09")]
    (w,) = network_timeline(stations, T0, 6 * 3600)
    assert w.result.alarm and w.result.fix.stations_used == ("S00", "S01")
    assert {d.code for d in w.result.distances} == {"S00", "S01", "S09"}


def test_the_bearing_calibration_widens_what_the_network_weighs():
    w = _station_windows((-4.3, 103.3), [(0, 30)], kappa=8000.0)["S00"][0]
    calibration = BearingCalibration(scale=20.0, floor_deg=5.0)
    kappa = w.observation(calibration).kappa
    assert kappa == pytest.approx(1 / (20 / 8000 + math.radians(5) ** 2))
    assert w.observation().kappa == 8000.0 and w.observation().p_value is None  # the alarm decides, not a p-value


def test_two_sources_in_one_window_are_both_fixed():
    a, b = (-4.0, 103.0), (-4.6, 103.7)
    obs = []
    for i, (src, placements) in enumerate(((a, [(10, 25), (130, 30), (250, 28)]), (b, [(60, 30), (200, 26)]))):
        for j, (br, r) in enumerate(placements):
            lat, lon = destination(*src, br, r)
            obs.append(StationObservation(f"{'AB'[i]}{j}", lat, lon, bearing_deg=initial_bearing_deg(lat, lon, *src),
                                          kappa=400.0, detected=True))
    single = network_window(obs, NetworkConfig())  # one source sought: the bearings do not meet
    assert not single.alarm and single.no_fix.code in ("inconsistent", "diverging")
    fixes, refusal = locate_sources(obs, NetworkConfig(max_sources=3))
    assert refusal is None and len(fixes) == 2
    by_size = sorted(fixes, key=lambda f: -len(f.stations_used))
    assert set(by_size[0].stations_used) == {"A0", "A1", "A2"} and set(by_size[1].stations_used) == {"B0", "B1"}
    assert distance_km(by_size[0].latitude, by_size[0].longitude, *a) < 1
    assert distance_km(by_size[1].latitude, by_size[1].longitude, *b) < 1
    result = network_window(obs, NetworkConfig(max_sources=3))
    assert result.alarm and result.fix.stations_used == by_size[0].stations_used and len(result.other_fixes) == 1
    assert len(result.to_dict()["other_sources"]) == 1


def test_rays_that_do_not_cross_give_no_source_even_when_groups_are_sought():
    obs = [StationObservation("A", -4.0, 103.0, bearing_deg=270.0, kappa=400.0, detected=True),
           StationObservation("B", -4.0, 103.3, bearing_deg=90.0, kappa=400.0, detected=True),
           StationObservation("C", -4.3, 103.15, bearing_deg=180.0, kappa=400.0, detected=True)]
    fixes, refusal = locate_sources(obs, NetworkConfig(max_sources=3))
    assert fixes == [] and refusal.code in ("diverging", "inconsistent", "parallel")


# ---------------------------------------------------------------------------- the fitted network model
def _artifact(manifest) -> NetworkArtifact:
    model = MagnitudeModel(("Large", "Medium", "Moderate"), ((1.0, 0.0), (0.0, 0.0), (-1.0, 0.0)), (0.0, 0.0, 0.0),
                           (3.0, 3.0), (0.5, 1.0), temperature=1.3, balanced_accuracy=0.6, fitted_on="a test")
    return NetworkArtifact(magnitude=model, bearing_calibration=BearingCalibration(18.0, 6.0, 0.1, "a test"),
                           station_model=station_model_identity(manifest), amplitude_estimator="coherent_band_rms_v1",
                           network_config=NetworkConfig(max_sources=3), fit={"windows": 10})


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    import torch

    from model_store import ModelRegistry, create_model

    torch.manual_seed(0)
    registry = ModelRegistry(tmp_path_factory.mktemp("models"))
    return registry.save(create_model("convnext_atto", head_hidden=16), "tiny", input_spec=InputSpec(),
                         provenance={"trained_on": "untrained"})


def test_a_network_model_round_trips_and_is_tied_to_its_station_model(tmp_path, manifest):
    store = NetworkStore(tmp_path)
    saved = store.save(_artifact(manifest))
    again = store.save(_artifact(manifest))
    assert (saved.version, again.version) == ("1", "2") and store.versions() == ["1", "2"]
    loaded = store.load("1")
    assert loaded.sha256 == saved.sha256 and len(loaded.sha256) == 64
    assert loaded.magnitude == saved.magnitude and loaded.bearing_calibration == saved.bearing_calibration
    assert loaded.network_config.max_sources == 3 and loaded.station_model["ref"] == "tiny:1"
    assert loaded.fits(manifest)
    assert not loaded.fits(replace(manifest, weights_sha256="0" * 64))
    recalibrated = replace(manifest, calibration=replace(manifest.calibration, alarm_threshold=0.8))
    assert not loaded.fits(recalibrated)  # the calibration shapes kappa and alarms: another station model
    chosen, why = store.for_station_model(manifest)
    assert chosen.version == "2" and why == ""
    none, why = store.for_station_model(replace(manifest, weights_sha256="0" * 64))
    assert none is None and "none of the 2 stored network models was fitted on the features of tiny:1" in why
    assert "coef" not in json.dumps(loaded.summary()["magnitude_model"])


def test_a_damaged_network_model_is_refused_and_passed_over(tmp_path, manifest):
    store = NetworkStore(tmp_path)
    store.save(_artifact(manifest))
    store.save(_artifact(manifest))
    path = tmp_path / "2" / "network.json"
    path.write_text(path.read_text().replace('"temperature": 1.3', '"temperature": 9.9'))
    with pytest.raises(NetworkModelError, match="does not match its sha256"):
        store.load("2")
    chosen, _ = store.for_station_model(manifest)
    assert chosen.version == "1"  # the damaged newer version is passed over
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "network.json").write_text('{"kind": "something else"}')
    import hashlib

    (tmp_path / "3" / "network.sha256").write_text(hashlib.sha256(b'{"kind": "something else"}').hexdigest())
    with pytest.raises(NetworkModelError, match="not a network model"):
        store.load("3")
