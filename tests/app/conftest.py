"""A tiny real checkpoint made through model_store, and a running app that serves it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from model_store import InputSpec, ModelRegistry, create_model
from model_store.spectrogram import cut_windows, image_to_png, window_to_image

MODEL = "tiny"


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    torch.manual_seed(0)
    model = create_model("convnext_atto", head_hidden=32)
    ModelRegistry(root).save(
        model, MODEL, input_spec=InputSpec(), provenance={"trained_on": "untrained", "description": "test"}
    )
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
    """A real spectrogram: the first 6 h of the LUT day through the default InputSpec."""
    spec = InputSpec()
    return image_to_png(window_to_image(cut_windows(lut_day, spec)[0].data, spec))


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
