"""One emission source per event: coherence across stations, the distance law, the strength scatter,
station layouts from a CSV, the dense-array config, ground truth and simulated file headers."""

import json
import math
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from model_store import read_series
from model_store.geodesy import distance_km
from model_store.stations import read_stations
from training.__main__ import main as cli
from training.config import load_yaml
from training.dataset import BuildConfig, build_sim, read_samples
from training.labels import LabelRule, consistency_problems
from training.simulate import SimConfig, World, _night, local_hours, source_waveform
from training.writers import to_frg604rc, to_iaga2002

ROOT = Path(__file__).resolve().parents[2]
DENSE_CSV = ROOT / "configs" / "stations_dense_array.csv"
TRACE = [[-3.55, 102.45], [-4.05, 102.95], [-4.55, 103.55], [-5.05, 104.10], [-5.45, 104.55]]
# a few busy days on the dense array: one event's emission reaches several stations
BUSY_DENSE = SimConfig(seed=11, days=4, stations_file=str(DENSE_CSV), events_per_day=4, b_value=0.6,
                       magnitude_min=4.5, epicentres={"fault": TRACE, "spread_km": 10.0})


@pytest.fixture(scope="module")
def dense():
    return World(BUSY_DENSE)


def _shared_station_day(world):
    """(day, event id, [injections]) where two or more stations receive one event's emission and nothing else."""
    for day in range(world.config.days):
        t0 = world.days[day]
        alone = {}
        for code in world.stations:
            active = world.injections_at(code, t0, t0 + timedelta(days=1))
            if len(active) == 1:
                alone.setdefault(active[0].event_id, []).append(active[0])
        for event_id, injections in alone.items():
            if len(injections) >= 2:
                return day, event_id, injections
    raise AssertionError("no station-day pair shares a single emission")


def _along_across(h, d, bearing):
    t = math.radians(bearing)
    return h * math.cos(t) + d * math.sin(t), -h * math.sin(t) + d * math.cos(t)


def test_one_source_is_the_same_waveform_at_every_station_scaled_and_polarised_by_geometry(dense):
    day, event_id, injections = _shared_station_day(dense)
    src = dense.sources[event_id]
    unit = source_waveform(src, dense.days[day])
    assert np.abs(unit).max() > 0
    bearings = set()
    for inj in injections:
        # the source's parameters, this station's geometry
        assert (inj.band_hz, inj.start, inj.end, inj.growth_exponent, inj.zh_ratio, inj.seed) == (
            src.band_hz, src.start, src.end, src.growth_exponent, src.zh_ratio, src.seed)
        h, d, z = dense.emission(day, inj.station)
        along, across = _along_across(h, d, inj.bearing_deg)
        np.testing.assert_allclose(along, inj.amplitude_nt * unit, atol=1e-9)  # same waveform, this amplitude
        np.testing.assert_allclose(across, 0.0, atol=1e-9)  # linearly polarised along this station's bearing
        lt = local_hours(np.arange(86_400.0), dense.days[day], dense.stations[inj.station].longitude)
        zh = src.zh_ratio * (1 + (dense.config.night_zh_boost - 1) * _night(lt))
        np.testing.assert_allclose(z, zh * along, atol=1e-9)  # Z in phase, the night boost by local time
        bearings.add(round(inj.bearing_deg))
    assert len(bearings) == len(injections)  # each station sees it from its own direction
    a, b = injections[:2]
    ha, da, _ = dense.emission(day, a.station)
    hb, db, _ = dense.emission(day, b.station)
    pa, pb = _along_across(ha, da, a.bearing_deg)[0], _along_across(hb, db, b.bearing_deg)[0]
    np.testing.assert_allclose(pa * b.amplitude_nt, pb * a.amplitude_nt, atol=1e-9)


def test_the_emission_is_what_the_precursors_add_to_the_station_record(dense):
    day, _, injections = _shared_station_day(dense)
    quiet = World(replace(BUSY_DENSE, precursors=False))
    for inj in injections[:2]:
        with_p = dense.simulate_day(day, [inj.station])[inj.station]
        without = quiet.simulate_day(day, [inj.station])[inj.station]
        for got, base, added in zip((with_p.h, with_p.d, with_p.z), (without.h, without.d, without.z),
                                    dense.emission(day, inj.station)):
            ok = ~np.isnan(got)
            np.testing.assert_array_equal(ok, ~np.isnan(base))
            # the background is the same stream; each record is rounded to 0.01 nT
            assert np.abs(got[ok] - base[ok] - added[ok]).max() <= 0.0101


def test_received_amplitudes_follow_the_stated_distance_law(dense):
    c = dense.config
    received = {(i.event_id, i.station): i for i in dense.injections}
    assert received and any(i.capped for i in received.values()) and not all(i.capped for i in received.values())
    for e in dense.events:
        src = dense.sources.get(e.event_id)
        for code, st in dense.stations.items():
            r = distance_km(st.latitude, st.longitude, e.latitude, e.longitude)
            law = 0.0 if src is None else src.strength_nt * (c.reference_distance_km / max(r, c.min_distance_km)) ** 3
            inj = received.get((e.event_id, code))
            if inj is None:  # below the floor or beyond the range
                assert law < c.emission_floor_nt or r > c.max_range_km
                continue
            assert inj.distance_km == pytest.approx(r, abs=0.01)
            assert inj.amplitude_nt == pytest.approx(min(law, c.max_amplitude_nt), abs=1e-4)
            assert inj.capped == (law >= c.max_amplitude_nt)
            assert law >= c.emission_floor_nt and r <= c.max_range_km
    # uncapped amplitudes of one event fall as r^-3 between its stations
    by_event = {}
    for i in dense.injections:
        if not i.capped and i.distance_km > c.min_distance_km:
            by_event.setdefault(i.event_id, []).append(i)
    pairs = [(a, b) for group in by_event.values() for a, b in zip(group, group[1:])]
    assert pairs
    for a, b in pairs:
        assert a.amplitude_nt / b.amplitude_nt == pytest.approx((b.distance_km / a.distance_km) ** 3, rel=2e-3)


def test_the_median_source_is_received_at_the_calibration_amplitude_at_the_detection_range():
    c = SimConfig()
    for m in (5.5, 6.0, 7.0):
        r = c.detection_range_km(m)
        assert c.received_nt(c.median_strength_nt(m), r) == pytest.approx(c.amplitude_at_range_nt)
        assert c.reach_km(c.median_strength_nt(m)) == pytest.approx(r)
        assert c.max_reach_km(m) == pytest.approx(r * 10 ** (2.5 * 0.3 / 3))
    assert c.median_strength_nt(c.detection_m0) == 0 and c.max_reach_km(4.4) == 0


def test_source_strength_scatters_about_an_order_of_magnitude_at_fixed_magnitude():
    world = World(SimConfig(seed=5, days=200, stations=("LUT",), events_per_day=30))
    c = world.config
    mags = {e.event_id: e.magnitude for e in world.events}
    dev = np.array([s.strength_deviation_dex for s in world.sources.values()])
    ratio = np.array([s.strength_nt / c.median_strength_nt(mags[s.event_id]) for s in world.sources.values()])
    assert len(dev) > 1500
    np.testing.assert_allclose(np.log10(ratio), dev, atol=1e-4)
    assert np.abs(dev).max() <= 2.5 * 0.3 + 1e-9  # truncated at 2.5 sd
    assert dev.std() == pytest.approx(0.3 * 0.9546, rel=0.06)  # sd of a normal truncated at 2.5 sd
    q5, q95 = np.quantile(ratio, [0.05, 0.95])
    assert 7.5 < q95 / q5 < 11  # the 5-95 % range: 9.0x
    m = np.array([mags[s.event_id] for s in world.sources.values()])
    assert abs(np.corrcoef(m, dev)[0, 1]) < 0.05  # the scatter does not depend on magnitude


def test_received_amplitude_alone_says_little_about_magnitude_and_with_distance_a_lot():
    world = World(replace(BUSY_DENSE, days=120, b_value=0.8))
    c = world.config
    mags = {e.event_id: e.magnitude for e in world.events}
    free = [i for i in world.injections if not i.capped and i.distance_km > c.min_distance_km]
    assert len(free) > 300
    m = np.array([mags[i.event_id] for i in free])
    log_amp = np.log10([i.amplitude_nt for i in free])
    log_strength = log_amp + 3 * np.log10([i.distance_km / c.reference_distance_km for i in free])
    assert abs(np.corrcoef(m, log_amp)[0, 1]) < 0.25  # 0.16: a finite array sees large events closer
    assert np.corrcoef(m, log_strength)[0, 1] > 0.85  # 0.91: the scatter is what remains


def test_sources_and_records_do_not_depend_on_which_stations_are_simulated(dense):
    subset = World(replace(BUSY_DENSE, stations=("XSG", "XSB")))
    assert subset.sources == dense.sources
    assert [i for i in subset.injections if i.station == "XSB"] == [i for i in dense.injections if i.station == "XSB"]
    a = subset.simulate_day(3, ["XSB"])["XSB"]
    b = dense.simulate_day(3)["XSB"]
    np.testing.assert_array_equal(a.z, b.z)


def test_ground_truth_lists_every_event_with_its_source_and_every_injection(dense):
    truth = json.loads(json.dumps(dense.ground_truth()))
    assert len(truth["events"]) == truth["n_events"] == len(dense.events)
    for e in truth["events"]:
        assert {"event_id", "time", "latitude", "longitude", "depth_km", "magnitude", "strength_nt", "band_hz", "onset",
                "growth_exponent", "zh_ratio", "stations_reached"} <= set(e)
    emitting = [e for e in truth["events"] if e["strength_nt"] is not None]
    assert emitting and all(e["magnitude"] > dense.config.detection_m0 for e in emitting)
    assert all(e["band_hz"] is None for e in truth["events"] if e["strength_nt"] is None)
    events = {e["event_id"]: e for e in truth["events"]}
    assert len(truth["injections"]) == len(dense.injections) == sum(e["stations_reached"] for e in truth["events"])
    for i in truth["injections"]:
        assert {"event_id", "station", "distance_km", "bearing_deg", "amplitude_nt", "start", "end", "band_hz",
                "growth_exponent", "zh_ratio", "capped"} <= set(i)
        e = events[i["event_id"]]
        assert (i["start"], i["end"], i["band_hz"]) == (e["onset"], e["time"], e["band_hz"])
    assert truth["stations"]["XSE"]["name"].startswith("Simulated") and set(truth["stations"]) == set(dense.stations)
    quiet = World(replace(BUSY_DENSE, precursors=False)).ground_truth()
    assert quiet["injections"] == [] and all(e["strength_nt"] is None for e in quiet["events"])


def test_dense_array_config_has_a_dense_layout_and_multi_station_events():
    config = BuildConfig.from_dict(load_yaml(ROOT / "configs" / "sim_dense_array.yaml"))
    config.check_labels_against_simulator()
    world = World(config.simulator)
    assert 10 <= len(world.stations) <= 12 and all(code.startswith("XS") for code in world.stations)
    for code, st in world.stations.items():
        nearest = min(distance_km(st.latitude, st.longitude, o.latitude, o.longitude)
                      for other, o in world.stations.items() if other != code)
        assert 30 <= nearest <= 60
    coverage = world.coverage()
    assert coverage["mean_stations_per_seen_event"] >= 2.0
    assert coverage["emitting_events"]["2"] > 0 and coverage["emitting_events"]["3+"] > coverage["emitting_events"]["2"]


@pytest.mark.parametrize("name", ["sim_default", "sim_independent", "sim_no_precursors", "sim_storm_normals",
                                  "sim_dense_array"])
def test_shipped_worlds_label_consistently_with_their_simulator(name):
    BuildConfig.from_dict(load_yaml(ROOT / "configs" / f"{name}.yaml")).check_labels_against_simulator()


def test_an_exclusion_radius_inside_the_loudest_source_s_reach_is_refused():
    sim = SimConfig()
    args = dict(detection_m0=sim.detection_m0, detection_km_per_magnitude=sim.detection_km_per_magnitude,
                max_lead_hours=96.0, magnitudes=(sim.magnitude_min, sim.magnitude_max), max_reach_km=sim.max_reach_km)
    rule = LabelRule(exclusion_radius="label", exclusion_min_magnitude=4.5, exclusion_before_hours=96)
    (problem,) = consistency_problems(rule, **args)
    assert "inside the reach of the loudest source" in problem
    assert consistency_problems(replace(rule, exclusion_radius_factor=1.8), **args) == []


def test_epicentres_from_a_region_or_along_a_fault():
    box = [-5.0, -4.0, 103.0, 104.0]
    region = World(SimConfig(days=5, stations=("LWA",), epicentres={"region": box}))
    assert all(box[0] <= e.latitude <= box[1] and box[2] <= e.longitude <= box[3] for e in region.events)
    fault = World(SimConfig(days=5, stations=("LWA",), epicentres={"fault": TRACE, "spread_km": 5.0}))
    # within 5 spreads of the trace (its vertices are at most 87 km apart)
    for e in fault.events:
        assert min(distance_km(e.latitude, e.longitude, *p) for p in TRACE) < 87 / 2 + 25
    with pytest.raises(ValueError, match="epicentres"):
        SimConfig(epicentres={"box": box})


def test_stations_file_layout_is_used_for_labels_writers_and_ground_truth(tmp_path):
    layout = tmp_path / "layouts" / "mine.csv"
    layout.parent.mkdir()
    layout.write_text("code,name,latitude,longitude\n"
                      "QAA,Simulated Alpha,-4.5,103.5\nQBB,Simulated Beta,-4.8,103.9\nLUT,Moved Lombok,-4.6,103.2\n")
    cfg = tmp_path / "configs" / "world.yaml"
    cfg.parent.mkdir()
    cfg.write_text("simulator:\n  days: 1\n  stations_file: ../layouts/mine.csv\n  stations: [QAA, LUT]\n"
                   "  epicentres: {region: [-5.0, -4.0, 103.0, 104.0]}\n")
    assert cli(["simulate", "--config", str(cfg), "--out", str(tmp_path / "w"), "--format", "iaga2002"]) == 0
    for code, lat, lon, name in (("QAA", -4.5, 103.5, "Simulated Alpha"), ("LUT", -4.6, 103.2, "Moved Lombok")):
        (path,) = (tmp_path / "w" / "raw" / code).iterdir()
        series = read_series(path)
        assert (series.station, series.latitude, series.longitude) == (code, lat, lon)
        assert name in path.read_text()[:1000]
    truth = json.loads((tmp_path / "w" / "ground_truth.json").read_text())
    assert truth["stations"]["LUT"]["latitude"] == -4.6 and set(truth["stations"]) == {"QAA", "LUT"}
    assert set(read_stations(tmp_path / "w" / "stations.csv")) == {"QAA", "LUT"}
    # labels and the dataset's distances come from the layout too
    data = {"simulator": {"seed": 2, "days": 3, "stations_file": str(layout), "events_per_day": 20, "b_value": 0.5,
                          "epicentres": {"region": [-5.0, -4.0, 103.0, 104.0]}},
            "labels": {"m0": 4.5, "km_per_magnitude": 40.0, "exclusion_min_magnitude": 4.5, "exclusion_before_hours": 96,
                       "exclusion_radius": "label", "exclusion_radius_factor": 1.8},
            "dataset": {"normal_selection": "all"}, "input_spec": {"image_height": 16, "image_width": 16}}
    build_sim(BuildConfig.from_dict(data), tmp_path / "ds", progress=False)
    rows = [r for r in read_samples(tmp_path / "ds") if r["kind"] == "event"]
    assert rows and {r["station"] for r in rows} <= {"QAA", "QBB", "LUT"}
    world = World(BuildConfig.from_dict(data).simulator)
    events = {e.event_id: e for e in world.events}
    for r in rows:
        st, e = world.stations[r["station"]], events[r["event_id"]]
        assert float(r["distance_km"]) == pytest.approx(distance_km(st.latitude, st.longitude, e.latitude, e.longitude),
                                                        abs=0.01)


def test_layouts_that_the_file_formats_cannot_carry_are_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,latitude,longitude\nLONG,Four letters,-4.5,103.5\n")
    with pytest.raises(ValueError, match="must be three letters"):
        World(SimConfig(days=1, stations_file=str(bad)))
    bad.write_text("code,name,latitude,longitude\nQAA,A,-4.5,103.5\nqaa,B,-4.6,103.5\n")
    with pytest.raises(ValueError, match="listed twice"):
        read_stations(bad)
    bad.write_text("code,latitude,longitude\nQAA,-4.5,103.5\n")
    with pytest.raises(ValueError, match="missing \\['name'\\]"):
        read_stations(bad)


def test_iaga2002_header_carries_code_name_and_coordinates_back_to_the_reader(dense):
    s = dense.simulate_day(0, ["XSK"])["XSK"]
    short = type(s)(s.station, s.start, 1.0, s.h[:600], s.d[:600], s.z[:600], "sim", s.latitude, s.longitude)
    text = to_iaga2002(short, dense.stations["XSK"].name)
    assert b"Simulated Sumatran Fault array station 11" in text[:1000]
    back = read_series(text)
    assert back.station == "XSK"
    assert (back.latitude, back.longitude) == pytest.approx((dense.stations["XSK"].latitude, dense.stations["XSK"].longitude),
                                                            abs=1e-4)
    west = type(s)("QWA", s.start, 1.0, s.h[:60], s.d[:60], s.z[:60], "sim", 37.1234, -122.5678)
    assert (read_series(to_iaga2002(west)).latitude, read_series(to_iaga2002(west)).longitude) == pytest.approx(
        (37.1234, -122.5678), abs=1e-4)
    assert read_series(to_frg604rc(s)).station == "XSK"
