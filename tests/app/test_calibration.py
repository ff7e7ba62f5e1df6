"""Calibration travels in the manifest and is what the service applies."""

import math

import pytest
import torch

from model_store import Calibration, InputSpec, ModelRegistry, create_model

from .conftest import UNTRAINED, make_client, png_file, wait_ready


@pytest.fixture(scope="module")
def calibrated_client(tmp_path_factory):
    """The same weights stored twice: once uncalibrated, once with temperatures and another operating point."""
    root = tmp_path_factory.mktemp("calstore")
    registry = ModelRegistry(root)
    torch.manual_seed(3)
    model = create_model("convnext_atto", head_hidden=32)
    registry.save(model, "plain", input_spec=InputSpec(), provenance=UNTRAINED, make_default=True)
    registry.save(model, "scaled", input_spec=InputSpec(), provenance=UNTRAINED,
                  calibration=Calibration(detection_temperature=3.0, magnitude_temperature=0.5,
                                          azimuth_temperature=2.0, alarm_threshold=0.99))
    with make_client(model_store=root) as c:
        assert wait_ready(c)["status"] == "ready"
        yield c


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_calibration_from_the_manifest_changes_served_probabilities(calibrated_client, lut_png):
    plain = calibrated_client.post("/predict", files=png_file(lut_png), data={"model": "plain"}).json()
    scaled = calibrated_client.post("/predict", files=png_file(lut_png), data={"model": "scaled"}).json()
    # P(event) = sigmoid(detection logit / T): the same logit, divided by 3
    assert _logit(scaled["precursor_probability"]) == pytest.approx(_logit(plain["precursor_probability"]) / 3, rel=1e-3)
    # given an event, magnitude probabilities sharpen with T = 0.5: ratios of event classes are squared
    pm = {k: v / plain["precursor_probability"] for k, v in plain["outputs"]["magnitude"]["probabilities"].items()}
    sm = {k: v / scaled["precursor_probability"] for k, v in scaled["outputs"]["magnitude"]["probabilities"].items()}
    assert math.log(sm["Large"] / sm["Medium"]) == pytest.approx(2 * math.log(pm["Large"] / pm["Medium"]), rel=1e-3)
    assert scaled["alarm_threshold"] == 0.99 and plain["alarm_threshold"] == 0.5
    assert scaled["alarm"] is False
    assert calibrated_client.get("/v2/models/scaled").json()["calibration"]["detection_temperature"] == 3.0
