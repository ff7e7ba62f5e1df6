"""A tiny real checkpoint made through model_store, and a running app that serves it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from model_store import Calibration, InputSpec, ModelRegistry, create_model
from model_store.direction import physics_config
from model_store.png import image_to_png
from model_store.spectrogram import window_to_image
from model_store.windows import cut_windows

MODEL = "tiny"  # the default: the reference study's power layout (224x224 RGB)
CROSS_MODEL = "tinycross"  # direction-aware: two 64x64 panels, power | cross-spectra
CROSS_SPEC = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125,
                       image_height=64, image_width=64)
UNTRAINED = {"trained_on": "untrained", "description": "test"}


def tiny_cross_model():
    torch.manual_seed(1)
    return create_model("convnext_atto", in_chans=6, head_hidden=32, azimuth_head="bearing",
                        physics=physics_config(CROSS_SPEC), cam_stage=2)


def build_store(root) -> ModelRegistry:
    """The two tiny models in a store at ``root``."""
    torch.manual_seed(0)
    registry = ModelRegistry(root)
    registry.save(create_model("convnext_atto", head_hidden=32), MODEL, input_spec=InputSpec(), provenance=UNTRAINED,
                  make_default=True)
    registry.save(tiny_cross_model(), CROSS_MODEL, input_spec=CROSS_SPEC, provenance=UNTRAINED,
                  calibration=Calibration(alarm_threshold=0.7))
    return registry


def save_station_relative_model(registry: ModelRegistry, name: str = "station") -> None:
    """A tiny untrained station-relative model (CROSS_SPEC's input made against a station's background), with the
    reference background its checkpoint must carry."""
    from dataclasses import replace

    relative = replace(CROSS_SPEC, background="station")
    torch.manual_seed(2)
    registry.save(create_model("convnext_atto", in_chans=6, head_hidden=8, azimuth_head="bearing",
                               physics=physics_config(relative), cam_stage=2), name, input_spec=relative,
                  background_reference={"row_db_median": np.full((4, 3, 64), -20.0).tolist()},
                  provenance={"trained_on": "untrained", "description": "test"})


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    build_store(root)
    return root


def wait_ready(client: TestClient, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.status_code == 200 or r.json()["status"] == "failed":
            return r.json()
        time.sleep(0.02)
    raise AssertionError("service did not become ready")


def make_client(**settings) -> TestClient:
    return TestClient(create_app(Settings(**settings)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(store):
    with make_client(model_store=store) as c:
        assert wait_ready(c)["status"] == "ready"
        yield c


@pytest.fixture(scope="session")
def lut_bytes(lut_day_path) -> bytes:
    return lut_day_path.read_bytes()


@pytest.fixture(scope="session")
def lut_png(lut_day) -> bytes:
    """A real spectrogram: the first 6 h of the LUT day through the default InputSpec (no metadata chunk,
    as a seed-style PNG would come)."""
    spec = InputSpec()
    return image_to_png(window_to_image(cut_windows(lut_day, spec)[0].data, spec))


@pytest.fixture(scope="session")
def lut_cross_png(lut_day) -> bytes:
    """The same window in the direction-aware layout, as /analyze writes it (with its description chunk)."""
    return image_to_png(window_to_image(cut_windows(lut_day, CROSS_SPEC)[0].data, CROSS_SPEC), CROSS_SPEC)


def assert_consistent(outputs: dict, precursor_probability: float, alarm: bool) -> None:
    """The one decision rule: Normal label iff P(event) < 0.5; alarm implies an event label; both heads
    agree on Normal; probabilities add up."""
    for head in outputs.values():
        probs = head["probabilities"]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert probs["Normal"] == pytest.approx(1 - precursor_probability, abs=1e-6)
        assert (head["label"] == "Normal") == (precursor_probability < 0.5)
        if head["label"] != "Normal":
            events = {k: v for k, v in probs.items() if k != "Normal"}
            assert head["label"] == max(events, key=events.get)
    assert not alarm or outputs["magnitude"]["label"] != "Normal"


def png_file(data: bytes, name: str = "spec.png"):
    return {"file": (name, data, "image/png")}


def probs_close(a: dict, b: dict, atol: float) -> bool:
    return all(
        np.allclose([a[t]["probabilities"][k] for k in a[t]["probabilities"]],
                    [b[t]["probabilities"][k] for k in a[t]["probabilities"]], atol=atol)
        for t in a
    )


LIVE_KEY = "live-test-key"
# Settings of the "main" live service (tests/app/test_schemathesis.py builds the same OpenAPI document).
LIVE_SETTINGS = dict(
    api_key=LIVE_KEY, api_key_on_health="true", body_timeout_s="1", header_timeout_s="1", max_connections="6",
    log_format="json",
)


@pytest.fixture(scope="session")
def live_servers(store, tmp_path_factory):
    """Two real services, started together (their imports overlap): "main" for the socket-level and
    schemathesis tests (short timeouts, an API key that the health routes require too, a small
    connection limit, JSON logs), "shutdown" for the SIGTERM test (a 2 s grace period, long timeouts)."""
    from .live import LiveServer

    logs = tmp_path_factory.mktemp("live")
    servers = {
        "main": LiveServer(logs / "main.log", model_store=str(store), **LIVE_SETTINGS),
        "shutdown": LiveServer(
            logs / "shutdown.log", model_store=str(store), shutdown_timeout_s="2", body_timeout_s="30",
            header_timeout_s="30",
        ),
    }
    try:
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="session")
def live_server(live_servers):
    return live_servers["main"]
