import re

from model_store import ModelRegistry

from .conftest import png_file


def test_models_list_and_detail(client, store):
    listed = client.get("/v2/models").json()
    assert listed == [
        {"name": "tiny", "version": "1", "trained_on": "untrained", "created_at": listed[0]["created_at"],
         "backbone": "convnext_atto", "serving": True},
        {"name": "tinycross", "version": "1", "trained_on": "untrained", "created_at": listed[1]["created_at"],
         "backbone": "convnext_atto", "serving": True},
    ]
    cross = client.get("/v2/models/tinycross").json()
    assert cross["representation"] == "cross_spectral" and not cross["default"]
    assert "two 64x64 panels" in cross["input_layout"] and cross["calibration"]["alarm_threshold"] == 0.7
    assert "unvalidated" in cross["what_each_head_can_know"]["all"]  # no evaluation in this manifest
    detail = client.get("/v2/models/tiny").json()
    assert detail["default"] and detail["representation"] == "power"
    manifest = ModelRegistry(store).manifest("tiny")
    assert detail["sha256"] == manifest.weights_sha256
    assert detail["labels"]["magnitude"] == ["Large", "Medium", "Moderate", "Normal"]
    assert detail["input_spec"]["window_s"] == 21600 and detail["input_spec"]["db_min"] == -60.0
    assert detail["provenance"]["trained_on"] == "untrained"
    assert client.get("/v2/models/tiny", params={"version": "1"}).status_code == 200


def test_unknown_model_or_version_is_404(client):
    r = client.get("/v2/models/nope")
    assert r.status_code == 404 and "no model named 'nope'" in r.json()["error"]
    r = client.get("/v2/models/tiny", params={"version": "7"})
    assert r.status_code == 404 and "no version '7'" in r.json()["error"]


def _value(text: str, pattern: str) -> float:
    m = re.search(pattern + r" ([0-9.e+-]+)", text)
    assert m, pattern
    return float(m.group(1))


def test_metrics_count_requests_and_time_stages(client, lut_png):
    before = client.get("/metrics").text
    n0 = _value(before, r'precursor_http_requests_total\{method="POST",route="/predict",status="200"\}') if 'route="/predict",status="200"' in before else 0
    client.post("/predict", files=png_file(lut_png), data={"explain": "true"})
    client.post("/predict", files=png_file(b"nope"))
    text = client.get("/metrics").text
    assert _value(text, r'precursor_http_requests_total\{method="POST",route="/predict",status="200"\}') == n0 + 1
    assert _value(text, r'precursor_http_requests_total\{method="POST",route="/predict",status="415"\}') >= 1
    for stage in ("decode", "preprocess", "inference", "explain"):
        assert _value(text, rf'precursor_stage_duration_seconds_count\{{stage="{stage}"\}}') >= 1
    assert _value(text, r"precursor_model_load_seconds") > 0
    assert _value(text, r"precursor_model_ready") == 1
    assert 'route="/predict"' in text and "precursor_http_request_duration_seconds_bucket" in text
