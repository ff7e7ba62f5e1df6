"""Station baselines through the service: made from uploaded days (PUT), listed and read (GET), used by /analyze,
deleted (DELETE); the refusals; a failed write; a second replica that sees a new baseline without a restart."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from model_store import read_series
from model_store.baseline_store import BaselineStore
from training.writers import to_iaga2002

from .conftest import MODEL, make_client, wait_ready

QUICK = {"inference_path": "eager", "batch_size_autotune": False}


def _day_files(lut_bytes: bytes, days: int, station: str = "LUT", first: int = 1) -> list[tuple]:
    """``days`` IAGA-2002 day files of a station: the real LUT day on later dates, with a little noise."""
    day = read_series(lut_bytes)
    rng = np.random.default_rng(first)
    files = []
    for k in range(first, first + days):
        shifted = replace(day, station=station, start=day.start + timedelta(days=k),
                          h=day.h + rng.normal(0, 0.05, day.n_samples))
        files.append(("files", (f"{station.lower()}2023010{k}.sec", to_iaga2002(shifted), "text/plain")))
    return files


@pytest.fixture()
def station_client(store, tmp_path):
    with make_client(model_store=store, station_store=tmp_path / "stations", **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        yield c


def test_a_baseline_is_made_listed_used_and_deleted(station_client, lut_bytes):
    c = station_client
    r = c.put("/v2/stations/lut/baseline", files=_day_files(lut_bytes, 3))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["station"] == "LUT" and made["version"] == "1" and len(made["sha256"]) == 64
    assert made["windows"] == {"total": 12, "used": 12, "dropped": {}} and len(made["days"]) == 3
    assert set(made["models"]) == {"tiny:1", "tinycross:1"} and "scores" not in made["models"]["tiny:1"]
    detail = c.get("/v2/stations/LUT").json()
    assert detail["name"] == "Lombok Utara" and detail["baseline"]["version"] == "1"
    listed = {s["code"]: s for s in c.get("/v2/stations").json()}
    assert listed["LUT"]["baseline_version"] == "1" and listed["GTO"].get("baseline_version") is None
    # /analyze judges the station's windows against it ...
    body = c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()
    assert body["baseline"]["version"] == "1" and "background_p_value <= 0.05" in body["summary"]["alarm_rule"]
    for w in body["windows"]:
        p = w["background_p_value"]
        assert 1 / 13 <= p <= 1 and w["alarm"] == (p <= 0.05)
    # ... unless told not to
    plain = c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}, data={"baseline": "none"}).json()
    assert plain["baseline"] is None and all(w["background_p_value"] is None for w in plain["windows"])
    assert plain["summary"]["false_alarm_rate"].startswith("unknown at this station: this station has no baseline")
    # deleted: gone for /analyze too
    assert c.delete("/v2/stations/LUT/baseline").json() == {"station": "LUT", "deleted_versions": ["1"]}
    assert c.get("/v2/stations/LUT").json().get("baseline") is None
    assert c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()["baseline"] is None
    assert c.delete("/v2/stations/LUT/baseline").status_code == 404


def test_refusals_say_what_is_wrong(station_client, lut_bytes):
    c = station_client
    other = _day_files(lut_bytes, 2) + _day_files(lut_bytes, 1, station="GTO", first=3)
    r = c.put("/v2/stations/LUT/baseline", files=other)
    assert r.status_code == 422 and r.json()["error"] == "gto20230103.sec is a record of station GTO, not LUT"
    damaged = _day_files(lut_bytes, 3)
    damaged[1] = ("files", ("broken.sec", damaged[1][1][1][:5000], "text/plain"))
    r = c.put("/v2/stations/LUT/baseline", files=damaged)
    assert r.status_code in (415, 422) and r.json()["error"].startswith("broken.sec"), r.json()
    r = c.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 2))
    assert r.status_code == 422 and "too few usable windows for a baseline of station LUT: 8 of 8" in r.json()["error"]
    assert c.put("/v2/stations/L%20T/baseline", files=_day_files(lut_bytes, 3)).status_code == 400
    assert c.get("/v2/stations/NOPE").status_code == 404
    assert BaselineStore(c.app.state.settings.station_store).stations() == []  # nothing was stored


def test_a_failed_write_leaves_the_previous_baseline_served(station_client, lut_bytes, monkeypatch):
    c = station_client
    assert c.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 3)).status_code == 201
    from model_store import fileio

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio, "atomic_write_bytes", disk_full)
    r = c.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 4))
    assert r.status_code == 500
    store = BaselineStore(c.app.state.settings.station_store)
    assert store.versions("LUT") == ["1"] and not list((store.root / "LUT").glob(".incoming-*"))
    assert c.get("/v2/stations/LUT").json()["baseline"]["version"] == "1"
    assert c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()["baseline"]["version"] == "1"


def test_a_second_replica_sees_a_new_baseline_without_restarting(store, lut_bytes, tmp_path):
    shared = dict(model_store=store, station_store=tmp_path / "shared", station_store_poll_s=0.2, models=[MODEL],
                  **QUICK)
    with make_client(**shared) as a, make_client(**shared) as b:
        wait_ready(a), wait_ready(b)
        assert b.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()["baseline"] is None
        assert a.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 3)).status_code == 201
        import time

        time.sleep(0.3)  # the poll interval
        assert b.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()["baseline"]["version"] == "1"
        assert a.delete("/v2/stations/LUT/baseline").status_code == 200
        time.sleep(0.3)
        assert b.get("/v2/stations/LUT").json().get("baseline") is None


def test_baselines_are_behind_the_api_key(store, lut_bytes, tmp_path):
    with make_client(model_store=store, station_store=tmp_path, api_key="k", models=[MODEL], **QUICK) as c:
        wait_ready(c)
        assert c.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 3)).status_code == 401
        assert c.delete("/v2/stations/LUT/baseline").status_code == 401
        assert c.get("/v2/stations").status_code == 401
        r = c.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 3), headers={"X-API-Key": "k"})
        assert r.status_code == 201


def test_a_station_with_a_baseline_is_read_by_the_station_relative_model(lut_bytes, tmp_path):
    """With a station-relative model served (named "station"), /analyze of a station with a baseline is answered
    by it, its input made against the baseline's background; a station without one by the default model."""
    from .conftest import build_store, save_station_relative_model

    save_station_relative_model(build_store(tmp_path / "models"))
    with make_client(model_store=tmp_path / "models", station_store=tmp_path / "stations", **QUICK) as c:
        assert wait_ready(c)["status"] == "ready"
        before = c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()
        assert before["model"]["name"] == MODEL and before["summary"].get("input_background") is None
        made = c.put("/v2/stations/LUT/baseline", files=_day_files(lut_bytes, 3)).json()
        assert set(made["models"]) == {"tiny:1", "tinycross:1", "station:1"}
        after = c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}).json()
        assert after["model"]["name"] == "station" and after["model"]["selected_by"].startswith("station LUT's baseline")
        assert after["summary"]["input_background"] == "station LUT's baseline (version 1)"
        assert all(w["background_p_value"] is not None for w in after["windows"])
        named = c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes)}, data={"model": MODEL}).json()
        assert named["model"]["name"] == MODEL and named["baseline"]["version"] == "1"  # (a): p-values, absolute input
