"""The committed default model: what `make run` serves on a fresh clone."""

import pytest

from model_store import PACKAGED_STORE, ModelRegistry

from .conftest import make_client, wait_ready


@pytest.fixture(scope="module")
def default_client():
    with make_client() as c:  # default settings: the packaged store and its DEFAULT
        assert wait_ready(c, timeout=120)["status"] == "ready"
        yield c


def test_default_model_is_committed_verified_and_says_it_is_simulated():
    manifest = ModelRegistry(PACKAGED_STORE).manifest()
    assert manifest.name == "default"
    assert manifest.trained_on == "simulated"
    assert "simulator" in manifest.provenance["description"]
    assert (PACKAGED_STORE / manifest.name / manifest.version / "model.safetensors").stat().st_size < 16 * 2**20
    cv = manifest.metrics["cross_validation"]
    assert cv["scheme"] == "loeo" and cv["folds_run"] >= 1
    assert "shuffled_labels" in cv["baselines"] and "majority" in cv["baselines"]


def test_default_model_serves_the_real_lut_day(default_client, lut_bytes):
    r = default_client.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes, "application/octet-stream")})
    assert r.status_code == 200
    body = r.json()
    assert body["model"]["name"] == "default" and body["model"]["trained_on"] == "simulated"
    assert body["model"]["notice"].startswith("Trained on simulated data only.")
    assert body["summary"]["windows_analyzed"] == 4
