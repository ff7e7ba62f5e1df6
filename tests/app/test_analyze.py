import base64
import gzip
import io

import numpy as np
import pytest
from PIL import Image

from model_store.formats import frg604rc

from .conftest import CROSS_MODEL, MODEL, assert_consistent, make_client, png_file, probs_close, wait_ready


def _upload(data: bytes, name: str = "S230101.LUT.gz"):
    return {"file": (name, data, "application/octet-stream")}


def test_real_day_gives_a_four_window_timeline(client, lut_bytes):
    r = client.post("/analyze", files=_upload(lut_bytes))
    assert r.status_code == 200
    body = r.json()
    assert body["station"] == {"code": "LUT", "name": "Lombok Utara", "latitude": -8.21959, "longitude": 116.407}
    assert body["source_format"] == "frg604rc"
    assert (body["start"], body["end"]) == ("2023-01-01T00:00:00Z", "2023-01-02T00:00:00Z")
    assert body["sampling_interval_s"] == 1.0 and body["window_hours"] == 6.0 and body["hop_hours"] == 6.0
    windows = body["windows"]
    assert [w["start"][11:16] for w in windows] == ["00:00", "06:00", "12:00", "18:00"]
    assert windows[3]["valid_fraction"] == pytest.approx(1 - 60 / 21600, abs=1e-6)
    assert windows[3]["longest_gap_s"] == 60
    assert all("skipped_reason" not in w and "outputs" in w for w in windows)
    s = body["summary"]
    assert (s["windows_total"], s["windows_analyzed"], s["windows_skipped"]) == (4, 4, 0)
    assert s["max_precursor_probability"] == max(w["precursor_probability"] for w in windows)
    assert sum(s["magnitude_labels"].values()) == 4
    assert s["windows_in_alarm"] == sum(w["alarm"] for w in windows) and 0.5 <= s["alarm_threshold"] <= 1


@pytest.mark.parametrize("model", [MODEL, CROSS_MODEL])
def test_returned_spectrograms_predict_the_same_on_predict(client, lut_bytes, model):
    body = client.post("/analyze", files=_upload(lut_bytes), data={"include_spectrograms": "true", "model": model}).json()
    assert body["model"]["name"] == model
    for w in body["windows"]:
        assert_consistent(w["outputs"], w["precursor_probability"], w["alarm"])
        png = base64.b64decode(w["spectrogram_png_base64"])
        single = client.post("/predict", files=png_file(png)).json()  # no model field: the PNG finds its model
        assert single["model"]["name"] == model
        assert probs_close(single["outputs"], w["outputs"], atol=1e-4)
        assert single["precursor_probability"] == pytest.approx(w["precursor_probability"], abs=1e-4)
        if model == CROSS_MODEL:
            assert single["outputs"]["azimuth"]["bearing_deg"] == pytest.approx(w["outputs"]["azimuth"]["bearing_deg"], abs=1e-2)


def test_explain_per_window(client, lut_bytes):
    body = client.post("/analyze", files=_upload(lut_bytes), data={"explain": "true"}).json()
    assert all(w["explanation"]["magnitude"]["map_shape"] == [7, 7] for w in body["windows"])
    cross = client.post("/analyze", files=_upload(lut_bytes), data={"explain": "true", "model": CROSS_MODEL}).json()
    for w in cross["windows"]:
        assert w["explanation"]["magnitude"]["map_shape"] == [4, 4]  # Grad-CAM on stage 3 of a 64x64 input
        assert w["explanation"]["azimuth"]["direction_evidence_png_base64"]
        assert "direction_evidence_png_base64" not in w["explanation"]["magnitude"]


def test_hop_hours_and_gappy_windows(client, lut_bytes):
    raw = gzip.decompress(lut_bytes)
    # drop the blocks for 06:00-07:00: that window cannot be interpolated honestly
    gappy = raw[: 36 * frg604rc.BLOCK_BYTES] + raw[42 * frg604rc.BLOCK_BYTES :]
    body = client.post("/analyze", files=_upload(gappy, "S230101.LUT"), data={"hop_hours": "3"}).json()
    windows = body["windows"]
    assert len(windows) == 7 and body["hop_hours"] == 3.0
    skipped = {w["index"]: w["skipped_reason"] for w in windows if "skipped_reason" in w}
    assert set(skipped) == {1, 2}  # 03:00-09:00 and 06:00-12:00 hold the hour-long gap
    assert all("only 83.3% of samples present" in reason for reason in skipped.values())
    assert all("outputs" not in windows[i] for i in skipped)
    assert body["summary"]["windows_skipped"] == 2


def test_a_timeline_cut_into_many_chunks_equals_one_made_in_a_single_chunk(store, lut_bytes):
    """Windows are made and predicted a chunk at a time, the next chunk's spectrograms while this one is
    predicted: with chunks of 2 the timeline is the one a single chunk gives (order, gaps, images, answers)."""
    raw = gzip.decompress(lut_bytes)
    gappy = raw[: 36 * frg604rc.BLOCK_BYTES] + raw[42 * frg604rc.BLOCK_BYTES :]  # windows 1 and 2 are skipped
    form = {"hop_hours": "3", "include_spectrograms": "true", "model": CROSS_MODEL}
    bodies = []
    for chunk in (2, 64):
        with make_client(model_store=store, max_batch_size=chunk, batch_size_autotune=False) as c:
            wait_ready(c)
            r = c.post("/analyze", files=_upload(gappy, "S230101.LUT"), data=form)
            assert r.status_code == 200
            bodies.append(r.json())
    small, whole = bodies
    assert len(small["windows"]) == len(whole["windows"]) == 7
    for a, b in zip(small["windows"], whole["windows"]):
        assert (a["index"], a["start"], a.get("skipped_reason")) == (b["index"], b["start"], b.get("skipped_reason"))
        assert a.get("spectrogram_png_base64") == b.get("spectrogram_png_base64")
        if "outputs" in b:
            assert probs_close(a["outputs"], b["outputs"], 1e-5)
    assert small["summary"]["windows_skipped"] == whole["summary"]["windows_skipped"] == 2


def test_the_next_chunk_is_made_while_the_current_one_is_predicted(store, lut_bytes, monkeypatch):
    """Each chunk's prediction waits until the next chunk has started being made: made one after the other,
    that would never happen, and the wait would time out."""
    import asyncio

    from model_store import pipeline

    started = []  # one entry per chunk, added when making it starts (in a decoder thread)
    make = pipeline.make_chunk

    def next_chunk(*args):
        started.append(True)
        return make(*args)

    monkeypatch.setattr(pipeline, "make_chunk", next_chunk)
    waited = []
    with make_client(model_store=store, max_batch_size=2, batch_size_autotune=False) as c:
        wait_ready(c)
        batcher = c.app.state.model.default.batcher
        submit = batcher.submit

        async def submit_after_next_started(images, *args):
            chunk = len(waited) + 1
            for _ in range(500):  # up to 5 s for chunk ``chunk + 1`` to start being made
                if len(started) > chunk:
                    break
                await asyncio.sleep(0.01)
            waited.append(len(started) > chunk)
            return await submit(images, *args)

        monkeypatch.setattr(batcher, "submit", submit_after_next_started)
        r = c.post("/analyze", files=_upload(lut_bytes), data={"hop_hours": "3"})  # 7 windows: 4 chunks of 2
    assert r.status_code == 200 and len(r.json()["windows"]) == 7
    assert waited == [True, True, True, False]  # the last chunk has no next one


@pytest.mark.parametrize(
    "name, status, message",
    [
        ("bou20141101vmin.min", 422, "sampled every 60 s"),
        ("BOU20200101vsec.sec", 422, "covers 0.25 h"),
        ("bou_20200101_10min.csv", 422, "covers 0.17 h"),
    ],
)
def test_real_files_the_model_cannot_use_get_422(client, data_dir, name, status, message):
    r = client.post("/analyze", files=_upload((data_dir / name).read_bytes(), name))
    assert r.status_code == status
    assert message in r.json()["error"]


def test_unknown_format_is_415_naming_supported_formats(client):
    r = client.post("/analyze", files=_upload(b"\x00\x01 definitely not station data", "x.bin"))
    assert r.status_code == 415
    for name in ("frg604rc", "iaga2002", "csv"):
        assert name in r.json()["error"]


def test_damaged_file_is_422_saying_what_and_where(client, lut_bytes):
    raw = gzip.decompress(lut_bytes)
    r = client.post("/analyze", files=_upload(raw[:50_000], "S230101.LUT"))
    assert r.status_code == 422 and "truncated: block 5" in r.json()["error"]
    r = client.post("/analyze", files=_upload(lut_bytes), data={"format": "iaga2002"})
    assert r.status_code == 422


def test_bad_parameters_are_400(client, lut_bytes):
    for data in ({"hop_hours": "0"}, {"hop_hours": "-1"}, {"hop_hours": "abc"}, {"include_spectrograms": "maybe"}):
        r = client.post("/analyze", files=_upload(lut_bytes), data=data)
        assert r.status_code == 400, data
        assert "error" in r.json()
    for hop in ("0.1", "0.1665", "0.0004"):  # under the minimum, also after rounding to whole samples
        r = client.post("/analyze", files=_upload(lut_bytes), data={"hop_hours": hop})
        assert r.status_code == 400 and "hop_hours must be at least 0.1667 (10 minutes)" in r.json()["error"], hop
    r = client.post("/analyze", files=_upload(lut_bytes), data={"format": "sac"})
    assert r.status_code == 400 and "unknown format 'sac': use one of " in r.json()["error"]
    assert all(name in r.json()["error"] for name in ("frg604rc", "iaga2002", "csv"))


def test_window_limit_is_enforced(store, lut_bytes):
    with make_client(model_store=store, max_analyze_windows=3) as c:
        wait_ready(c)
        r = c.post("/analyze", files=_upload(lut_bytes))
        assert r.status_code == 422 and "exceed the limit of 3" in r.json()["error"]
        # 21600.4 s would give 3 windows of the 18 h of starts, but windows are cut every 21600 s (whole
        # samples): the count comes from the rounded hop, so the request is refused, not cut into 4
        r = c.post("/analyze", files=_upload(lut_bytes), data={"hop_hours": str(21600.4 / 3600)})
        assert r.status_code == 422 and "4 windows at a 6 h hop exceed the limit of 3" in r.json()["error"]
        r = c.post("/analyze", files=_upload(lut_bytes), data={"hop_hours": "9"})
        assert r.status_code == 200 and len(r.json()["windows"]) == 3


def test_station_override_for_files_without_one(client, lut_bytes):
    body = client.post("/analyze", files=_upload(lut_bytes), data={"station": "gto"}).json()
    assert body["station"]["code"] == "GTO" and body["station"]["name"] == "Gorontalo"


def test_station_formats_of_observatories(client, store, data_dir, monkeypatch, tmp_path):
    # a 1-second INTERMAGNET file with E, H, Z columns: two 6-h windows analysed
    r = client.post("/analyze", files=_upload((data_dir / "wic20230712vsec_00-12h.sec.gz").read_bytes(), "wic.sec.gz"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source_format"] == "iaga2002" and body["station"]["code"] == "WIC"
    assert body["summary"]["windows_analyzed"] == 2
    # an instrument-frame file is a 422 saying why
    text = (data_dir / "BOU20200101vsec.sec").read_text().replace("HEZF", "UVWF")
    text = text.replace("BOUH", "BOUU").replace("BOUE", "BOUV").replace("BOUZ", "BOUW")
    r = client.post("/analyze", files=_upload(text.encode(), "uvw.sec"))
    assert r.status_code == 422 and "instrument" in r.json()["error"]
    # a format whose optional extra is not installed (here: not importable by the decode workers) is a 415
    # naming the extra
    (tmp_path / "cdflib.py").write_text("raise ImportError('No module named cdflib')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with make_client(model_store=store) as c:
        assert wait_ready(c)["status"] == "ready"
        r = c.post("/analyze", files=_upload((data_dir / "bou20200827_4days_vmin.cdf").read_bytes(), "bou.cdf"))
    assert r.status_code == 415 and "pip install '.[cdf]'" in r.json()["error"]


def test_the_pipeline_without_the_service_gives_the_windows_analyze_gives(client, store, lut_bytes):
    from model_store import read_series
    from model_store.inference import InferenceConfig, load_engine
    from model_store.pipeline import analyze_series

    engine, _ = load_engine(store, CROSS_MODEL, InferenceConfig(path="eager"))
    outcomes = analyze_series(read_series(lut_bytes), engine.loaded.input_spec, engine.predict, hop_s=3 * 3600)
    body = client.post("/analyze", files=_upload(lut_bytes), data={
        "hop_hours": "3", "model": CROSS_MODEL, "include_spectrograms": "true"}).json()
    assert len(outcomes) == len(body["windows"]) == 7
    for o, w in zip(outcomes, body["windows"]):
        assert (w["index"], w["start"], w["end"]) == (o.index, o.window.start.isoformat().replace("+00:00", "Z"),
                                                      o.window.end.isoformat().replace("+00:00", "Z"))
        assert w["valid_fraction"] == round(o.window.valid_fraction, 6)
        png = np.asarray(Image.open(io.BytesIO(base64.b64decode(w["spectrogram_png_base64"]))), dtype=np.float64)
        assert np.array_equal(png[:, :64], np.rint(np.moveaxis(o.image[:3], 0, -1) * 255))
        assert w["precursor_probability"] == pytest.approx(o.prediction.precursor_probability, abs=1e-5)
        assert w["outputs"]["azimuth"]["bearing_deg"] == pytest.approx(o.prediction.bearing_deg, abs=0.01)
