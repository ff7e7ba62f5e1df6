"""POST /analyze/network and GET /v2/network: a small simulated dense-array day through a real (tiny, untrained)
direction-aware model; the refusals (a station without coordinates, files of different days, the same station
twice, one file); the network model in use, or why there is none; stage timings in /metrics."""

from __future__ import annotations

from dataclasses import replace

import pytest

from model_store.network import BearingCalibration, MagnitudeModel, NetworkConfig
from model_store.network_store import NetworkArtifact, NetworkStore, network_store_of, station_model_identity
from model_store.registry import ModelRegistry
from training.config import load_yaml
from training.simulate import SimConfig, World
from training.writers import to_frg604rc, to_iaga2002

from .conftest import CROSS_MODEL, build_store, make_client, save_station_relative_model, wait_ready

QUICK = {"inference_path": "eager", "batch_size_autotune": False}
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
CODES = ("XSA", "XSB", "XSC", "XSD")


@pytest.fixture(scope="module")
def world() -> World:
    sim = SimConfig.from_dict(load_yaml(ROOT / "configs" / "sim_dense_array.yaml")["simulator"])
    return World(replace(sim, days=2, stations=CODES))


@pytest.fixture(scope="module")
def day0(world):
    return world.simulate_day(0)


def _iaga(world, day) -> list[tuple]:
    return [("files", (f"{c.lower()}{s.start:%Y%m%d}vsec.sec", to_iaga2002(s, world.stations[c].name), "text/plain"))
            for c, s in day.items()]


def _magnitude_model() -> MagnitudeModel:
    return MagnitudeModel(classes=("Large", "Medium", "Moderate"), coef=((1.0, 0.1), (0.0, 0.0), (-1.0, -0.1)),
                          intercept=(0.0, 0.0, 0.0), mean=(3.5, 3.0), scale=(0.4, 1.0), fitted_on="a test")


@pytest.fixture(scope="module")
def network_store(tmp_path_factory):
    """The tiny models, with a network model fitted (by hand) on the direction-aware one's features, kept in the
    model store's _network directory."""
    root = tmp_path_factory.mktemp("network-store")
    build_store(root)
    manifest = ModelRegistry(root).manifest(CROSS_MODEL)
    NetworkStore(network_store_of(root)).save(NetworkArtifact(
        magnitude=_magnitude_model(), bearing_calibration=BearingCalibration(4.0, 2.0),
        station_model=station_model_identity(manifest), amplitude_estimator="coherent_band_rms_v1",
        network_config=NetworkConfig(max_sources=3), fit={"world": "a test"}))
    return root


@pytest.fixture(scope="module")
def network_client(network_store):
    with make_client(model_store=network_store, **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        yield c


def test_a_dense_array_day_gives_each_timeline_and_a_network_answer_per_window(network_client, world, day0):
    r = network_client.post("/analyze/network", files=_iaga(world, day0), data={"model": CROSS_MODEL})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["name"] == CROSS_MODEL and body["hop_origin"] == "2025-01-01T00:00:00Z"
    assert body["network_model"]["version"] == "1" and body["network_model_reason"] is None
    assert body["network_settings"]["max_sources"] == 3
    assert [s["station"]["code"] for s in body["stations"]] == list(CODES)
    for s in body["stations"]:  # each station's timeline as /analyze gives it
        assert s["position_from"] == "file_header" and s["padded_s"] == 0
        assert s["station"]["latitude"] == pytest.approx(world.stations[s["station"]["code"]].latitude, abs=1e-4)
        assert len(s["windows"]) == 4 and s["summary"]["windows_total"] == 4
        assert all("background_p_value" in w and w["outputs"]["azimuth"]["bearing_deg"] is not None
                   for w in s["windows"])
    assert len(body["windows"]) == 4 and body["summary"]["windows_total"] == 4
    for k, w in enumerate(body["windows"]):
        assert w["index"] == k and w["start"] == f"2025-01-01T{6 * k:02d}:00:00Z"
        assert {s["code"] for s in w["stations"]} == set(CODES) and w["absent"] == []
        net = w["network"]
        assert {"alarm", "reason", "stations_detecting", "source", "source_reason", "magnitude",
                "magnitude_reason", "other_sources"} <= set(net)
        timeline = {s["station"]["code"]: s["windows"][k] for s in body["stations"]}
        for s in w["stations"]:  # a station detects exactly when its timeline shows an alarm
            assert s["detected"] == timeline[s["code"]]["alarm"]
            assert s["amplitude_nt"] > 0 and 0 <= s["bearing_deg"] < 360 and s["bearing_kappa"] > 0
        assert net["stations_detecting"] == [s["code"] for s in w["stations"] if s["detected"]]
        if net["source"] is None:
            assert not net["alarm"] and net["source_reason"] and net["magnitude"] is None
        else:
            src = net["source"]
            assert net["alarm"] and set(src["ellipse_km"]) == {"semi_major", "semi_minor", "azimuth_deg"}
            assert set(src["stations_used"]) <= set(net["stations_detecting"]) and src["residual_deg"]
            assert net["magnitude"]["label"] in ("Large", "Medium", "Moderate")


def test_stage_timings_are_in_metrics(network_client):
    text = network_client.get("/metrics").text
    assert 'precursor_stage_duration_seconds_count{stage="network"}' in text


def test_frg_files_need_a_stations_table_and_one_places_them(network_client, world, day0):
    files = [("files", (f"S{s.start:%y%m%d}.{c}", to_frg604rc(s), "application/octet-stream")) for c, s in day0.items()]
    r = network_client.post("/analyze/network", files=files, data={"model": CROSS_MODEL})
    assert r.status_code == 422
    assert "no coordinates for stations XSA (S250101.XSA), XSB" in r.json()["error"] and "stations table" in r.json()["error"]
    table = "code,name,latitude,longitude\n" + "".join(
        f"{c},{st.name},{st.latitude},{st.longitude}\n" for c, st in world.stations.items())
    r = network_client.post("/analyze/network", files=[*files, ("stations", ("layout.csv", table, "text/csv"))],
                            data={"model": CROSS_MODEL})
    assert r.status_code == 200, r.text
    assert {s["position_from"] for s in r.json()["stations"]} == {"stations_table"}


def test_refusals_name_the_problem(network_client, world, day0):
    c = network_client
    files = _iaga(world, day0)
    one = c.post("/analyze/network", files=files[:1], data={"model": CROSS_MODEL})
    assert one.status_code == 400 and "at least two stations" in one.json()["error"]
    twice = c.post("/analyze/network", files=[files[0], ("files", ("again.sec", files[0][1][1], "text/plain"))],
                   data={"model": CROSS_MODEL})
    assert twice.status_code == 422
    assert twice.json()["error"].startswith("xsa20250101vsec.sec and again.sec are both records of station XSA")
    day1 = world.simulate_day(1)
    mixed = [files[0], _iaga(world, {"XSB": day1["XSB"]})[0]]
    r = c.post("/analyze/network", files=mixed, data={"model": CROSS_MODEL})
    assert r.status_code == 422
    assert ("different UTC days (xsa20250101vsec.sec: 2025-01-01; xsb20250102vsec.sec: 2025-01-02)"
            in r.json()["error"])
    bad_table = c.post("/analyze/network", files=[*files, ("stations", ("t.csv", "code,lat\nXSA,1\n", "text/csv"))],
                       data={"model": CROSS_MODEL})
    assert bad_table.status_code == 422 and "t.csv" in bad_table.json()["error"]
    moved = "code,name,latitude,longitude\nLUT,Lombok,-3.0,102.0\n"
    lut = replace(day0["XSA"], station="LUT")  # a file of LUT whose header places it far from the table's LUT
    r = c.post("/analyze/network", files=[*_iaga(world, {"XSB": day0["XSB"]}),
                                          ("files", ("lut.sec", to_iaga2002(lut), "text/plain"))],
               data={"model": CROSS_MODEL})
    assert r.status_code == 422 and "places station LUT at -3.7669, 102.8707, the station table at" in r.json()["error"]
    ok = c.post("/analyze/network", files=[*_iaga(world, {"XSB": day0["XSB"]}),
                                           ("files", ("lut.sec", to_iaga2002(lut), "text/plain")),
                                           ("stations", ("t.csv", moved, "text/csv"))], data={"model": CROSS_MODEL})
    assert ok.status_code == 200, ok.text


def test_limits_count_every_stations_windows(store, world, day0):
    with make_client(model_store=store, max_analyze_windows=10, **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        r = c.post("/analyze/network", files=_iaga(world, day0), data={"model": CROSS_MODEL})
    assert r.status_code == 422 and "16 windows over 4 stations" in r.json()["error"]


def test_without_a_network_model_magnitude_is_null_with_the_reason(store, world, day0):
    with make_client(model_store=store, **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        doc = c.get("/v2/network").json()
        assert doc["network_model"] is None and "holds no network model" in doc["network_model_reason"]
        assert doc["station_model"] == "tiny:1" and set(doc["what_it_can_know"]) >= {"source", "magnitude"}
        body = c.post("/analyze/network", files=_iaga(world, day0), data={"model": CROSS_MODEL}).json()
    assert body["network_model"] is None and "no network model for tinycross:1" in body["network_model_reason"]
    for w in body["windows"]:
        if w["network"]["source"] is not None:
            assert w["network"]["magnitude"] is None and w["network"]["magnitude_reason"]


def test_a_station_relative_model_reads_each_station_against_a_background(tmp_path, world, day0):
    """A model whose input is relative to the station's background (here the reference its checkpoint carries:
    no station has a baseline) gets each station's windows; its power panel is not in nT, so no received
    amplitude and no magnitude, but bearings still cross."""
    save_station_relative_model(build_store(tmp_path / "models"))
    with make_client(model_store=tmp_path / "models", station_store=tmp_path / "stations", **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        r = c.post("/analyze/network", files=_iaga(world, day0), data={"model": "station"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["name"] == "station"
    assert all(s["summary"]["windows_analyzed"] == 4 for s in body["stations"])
    for w in body["windows"]:
        assert all(s["amplitude_nt"] is None and s["bearing_deg"] is not None for s in w["stations"])
        assert w["network"]["magnitude"] is None


def test_the_network_document_describes_the_model_in_use(network_store):
    manifest = ModelRegistry(network_store).manifest()  # the default station model
    NetworkStore(network_store_of(network_store)).save(NetworkArtifact(
        magnitude=_magnitude_model(), bearing_calibration=BearingCalibration(), station_model=station_model_identity(manifest),
        amplitude_estimator="coherent_band_rms_v1", network_config=NetworkConfig(), evaluation={"world": "w"}))
    with make_client(model_store=network_store, **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        doc = c.get("/v2/network").json()
        names = [m["name"] for m in c.get("/v2/models").json()]
    assert "_network" not in names  # the registry does not take the network models for a model
    model = doc["network_model"]
    assert model["version"] == "2" and len(model["sha256"]) == 64 and model["station_model"]["ref"] == "tiny:1"
    assert model["magnitude_model"]["classes"] == ["Large", "Medium", "Moderate"] and model["evaluation"] == {"world": "w"}
    assert "simulator" in model["magnitude_model"]["statement"]
