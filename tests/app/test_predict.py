import base64
import io

import numpy as np
import pytest
from PIL import Image

from .conftest import CROSS_MODEL, MODEL, assert_consistent, png_file


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_predict_returns_both_heads_for_a_real_spectrogram(client, lut_png):
    r = client.post("/predict", files=png_file(lut_png))
    assert r.status_code == 200
    body = r.json()
    assert body["model"]["name"] == "tiny" and body["model"]["trained_on"] == "untrained"
    assert "not an earthquake warning system" in body["model"]["notice"]
    mag, az = body["outputs"]["magnitude"], body["outputs"]["azimuth"]
    assert list(mag["probabilities"]) == ["Large", "Medium", "Moderate", "Normal"]
    assert list(az["probabilities"]) == ["N", "NE", "E", "SE", "S", "SW", "W", "NW", "Normal"]
    assert_consistent(body["outputs"], body["precursor_probability"], body["alarm"])
    assert body["alarm"] == (body["precursor_probability"] >= body["alarm_threshold"])
    assert body["input"] == {"width": 224, "height": 224, "resized": False}
    assert body["model"]["representation"] == "power" and body["model"]["selected_by"] == "the PNG's layout"
    assert "bearing_deg" not in az  # a power spectrogram has no bearing sign
    assert "explanation" not in body


def test_a_two_panel_png_is_answered_by_the_direction_aware_model(client, lut_cross_png):
    body = client.post("/predict", files=png_file(lut_cross_png)).json()
    assert body["model"]["name"] == CROSS_MODEL and body["model"]["representation"] == "cross_spectral"
    assert body["model"]["selected_by"] == "the input description the PNG carries"
    assert body["alarm_threshold"] == 0.7
    az = body["outputs"]["azimuth"]
    assert 0 <= az["bearing_deg"] < 360 and az["bearing_uncertainty_deg"] > 0
    assert_consistent(body["outputs"], body["precursor_probability"], body["alarm"])


def test_the_model_field_chooses_and_a_png_that_fits_no_model_is_422(client, lut_png):
    square = _png(Image.open(io.BytesIO(lut_png)).resize((128, 128)))
    r = client.post("/predict", files=png_file(square), data={"model": MODEL})
    assert r.status_code == 200 and r.json()["model"]["selected_by"] == "the model field"
    r = client.post("/predict", files=png_file(square), data={"model": CROSS_MODEL})
    assert r.status_code == 422 and "this model expects a 128x64 PNG of two 64x64 panels" in r.json()["error"]
    r = client.post("/predict", files=png_file(square), data={"model": "nosuch"})
    assert r.status_code == 404 and "tiny:1" in r.json()["error"]
    wide = _png(Image.open(io.BytesIO(lut_png)).resize((300, 100)))
    r = client.post("/predict", files=png_file(wide))
    assert r.status_code == 422
    message = r.json()["error"]
    assert "PNG is 300x100, which fits no served model" in message
    assert f"{MODEL}:1: 224x224 RGB power spectrogram" in message and f"{CROSS_MODEL}:1: 128x64 PNG" in message


def test_predict_is_deterministic(client, lut_png):
    a = client.post("/predict", files=png_file(lut_png)).json()
    b = client.post("/predict", files=png_file(lut_png)).json()
    assert a["outputs"] == b["outputs"]


def test_other_sizes_and_modes_are_resized_and_reported(client, lut_png):
    img = Image.open(io.BytesIO(lut_png)).resize((300, 300))
    body = client.post("/predict", files=png_file(_png(img))).json()
    assert body["input"]["resized"] is True and body["input"]["width"] == 300
    assert "resized from 300x300 to 224x224" in body["input"]["note"]
    assert body["model"]["selected_by"] == "the PNG's aspect ratio (resized)"
    grey = client.post("/predict", files=png_file(_png(img.convert("L"))))
    assert grey.status_code == 200
    # a 2:1 PNG without a description chunk has the direction-aware layout's aspect ratio
    wide = client.post("/predict", files=png_file(_png(img.resize((256, 128))))).json()
    assert wide["model"]["name"] == CROSS_MODEL and wide["input"]["resized"] is True


def test_explain_returns_grad_cam_for_both_heads(client, lut_png):
    r = client.post("/predict", files=png_file(lut_png), data={"explain": "true"})
    assert r.status_code == 200
    body = r.json()
    for task in ("magnitude", "azimuth"):
        e = body["explanation"][task]
        assert e["target_class"] == body["outputs"][task]["label"]
        assert e["map_shape"] == [7, 7]  # ConvNeXt last stage at 224 input
        cam = np.array(e["map"])
        assert cam.shape == (7, 7) and (cam >= 0).all()
        overlay = Image.open(io.BytesIO(base64.b64decode(e["overlay_png_base64"])))
        assert overlay.format == "PNG" and overlay.size == (224, 224)


def test_explain_a_requested_class(client, lut_png):
    r = client.post(
        "/predict", files=png_file(lut_png), data={"explain": "true", "target_magnitude": "Large", "target_azimuth": "SW"}
    )
    body = r.json()
    assert body["explanation"]["magnitude"]["target_class"] == "Large"
    assert body["explanation"]["azimuth"]["target_class"] == "SW"
    r = client.post("/predict", files=png_file(lut_png), data={"explain": "true", "target_magnitude": "Huge"})
    assert r.status_code == 400 and "unknown magnitude class 'Huge'" in r.json()["error"]


@pytest.mark.parametrize(
    "data, status, message",
    [
        (b"GIF89a not a png", 415, "not a PNG"),
        (b"", 415, "not a PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 422, "could not be decoded"),
    ],
)
def test_bad_images_get_clear_4xx(client, data, status, message):
    r = client.post("/predict", files=png_file(data))
    assert r.status_code == status
    assert message in r.json()["error"]


def test_truncated_png_is_422(client, lut_png):
    r = client.post("/predict", files=png_file(lut_png[: len(lut_png) // 2]))
    assert r.status_code == 422 and "could not be decoded" in r.json()["error"]


def test_decompression_bomb_is_refused(client):
    bomb = _png(Image.new("L", (6000, 6000)))  # 36 Mpx of zeros compress to a few kB
    assert len(bomb) < 200_000
    r = client.post("/predict", files=png_file(bomb))
    assert r.status_code == 413 and "at most 4096 pixels per side" in r.json()["error"]


def test_missing_file_or_bad_flag_is_400(client, lut_png):
    r = client.post("/predict")
    assert r.status_code == 400 and "file" in r.json()["error"]
    r = client.post("/predict", files=png_file(lut_png), data={"explain": "perhaps"})
    assert r.status_code == 400 and "explain" in r.json()["error"]
