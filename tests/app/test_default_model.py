"""The committed models: what `make run` serves on a fresh clone."""

import base64

import pytest

from model_store import PACKAGED_STORE, ModelRegistry

from .conftest import assert_consistent, make_client, png_file, wait_ready

MAX_WEIGHTS_BYTES = 16 * 2**20


@pytest.fixture(scope="module")
def default_client():
    with make_client() as c:  # default settings: the packaged store, its DEFAULT and every other model
        assert wait_ready(c, timeout=120)["status"] == "ready"
        yield c


@pytest.mark.parametrize("name, representation", [("default", "cross_spectral"), ("power", "power")])
def test_committed_models_are_verified_and_say_they_are_simulated(name, representation):
    registry = ModelRegistry(PACKAGED_STORE)
    loaded = registry.load(name)  # verifies the weights' sha256
    manifest = loaded.manifest
    assert manifest.trained_on == "simulated" and "simulator" in manifest.provenance["description"]
    assert manifest.input_spec.representation == representation
    assert (PACKAGED_STORE / manifest.name / manifest.version / "model.safetensors").stat().st_size <= MAX_WEIGHTS_BYTES
    cv = manifest.metrics["cross_validation"]
    assert cv["scheme"] == "loeo" and cv["folds_run"] == cv["folds_total"]
    assert manifest.metrics["independent_world"]["detection_auc"] > 0.5
    assert manifest.calibration.fitted_on.startswith("validation split")
    assert manifest.metrics["what_each_head_can_know"]["magnitude"]
    # the exported model was trained by exactly the recipe that was cross-validated
    assert manifest.training["config"] == cv["train_config"]
    assert registry.default_ref().partition(":")[0] == "default"


def test_the_real_lut_day_answers_as_the_manifest_reports_and_consistently(default_client, lut_bytes):
    for model in ("default", "power"):
        r = default_client.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes, "application/octet-stream")},
                                data={"model": model, "include_spectrograms": "true"})
        assert r.status_code == 200
        body = r.json()
        assert body["model"]["name"] == model and body["model"]["trained_on"] == "simulated"
        assert body["model"]["notice"].startswith("Trained on simulated data only.")
        assert body["summary"]["windows_analyzed"] == 4
        # what the manifest reports about the real quiet days (make model's real-check, LUT among them) is
        # what the service does; for the direction-aware default that is no alarm in any window (issue 8's
        # target); the power-only model's one alarm on this day is reported in docs/model.md, not hidden
        real = default_client.get(f"/v2/models/{model}").json()["metrics"]["real_quiet_days"]
        if model == "default":
            assert real["alarms"] == 0 and body["summary"]["windows_in_alarm"] == 0
        assert body["summary"]["windows_in_alarm"] <= real["alarms"]
        highest = max(w["precursor_probability"] for w in body["windows"])
        assert highest <= real["max_precursor_probability"] + 1e-3
        for w in body["windows"]:
            assert_consistent(w["outputs"], w["precursor_probability"], w["alarm"])
            png = base64.b64decode(w["spectrogram_png_base64"])
            again = default_client.post("/predict", files=png_file(png)).json()
            assert again["model"]["name"] == model  # each PNG finds the model whose layout it has
            assert again["precursor_probability"] == pytest.approx(w["precursor_probability"], abs=1e-4)


def test_the_direction_aware_default_says_what_each_head_can_know(default_client):
    detail = default_client.get("/v2/models/default").json()
    assert detail["default"] and detail["representation"] == "cross_spectral"
    knows = detail["what_each_head_can_know"]
    assert {"detection", "magnitude", "azimuth"} <= set(knows)
    assert default_client.get("/v2/models/power").json()["serving"] is True
