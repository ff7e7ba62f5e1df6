import json

from model_store.checkpoint import WEIGHTS_FILE

from .conftest import make_client, wait_ready


def test_live_and_ready_once_the_model_is_warm(client):
    for path in ("/livez", "/v2/health/live"):
        assert client.get(path).json() == {"status": "alive", "reason": None, "model": None, "models": None}
    for path in ("/readyz", "/v2/health/ready"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.json()["model"] == "tiny:1" and r.json()["models"] == ["tiny:1", "tinycross:1"]


def test_a_further_model_that_fails_to_load_is_reported_not_served(tmp_path, store):
    import shutil

    shutil.copytree(store, tmp_path / "s")
    weights = tmp_path / "s" / "tinycross" / "1" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-10])
    with make_client(model_store=tmp_path / "s") as c:
        body = wait_ready(c)
        assert body["status"] == "ready" and body["models"] == ["tiny:1"]
        assert "not served: tinycross" in body["reason"] and "does not match its manifest" in body["reason"]


def test_empty_store_stays_alive_and_not_ready(tmp_path):
    with make_client(model_store=tmp_path) as c:
        body = wait_ready(c)
        assert body["status"] == "failed" and "holds no models" in body["reason"]
        assert c.get("/readyz").status_code == 503
        assert c.get("/livez").status_code == 200
        r = c.post("/predict", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")})
        assert r.status_code == 503 and "not ready" in r.json()["error"]


def test_damaged_store_is_never_served(tmp_path, store):
    import shutil

    shutil.copytree(store, tmp_path / "s")
    weights = tmp_path / "s" / "tiny" / "1" / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with make_client(model_store=tmp_path / "s") as c:
        body = wait_ready(c)
        assert body["status"] == "failed" and "does not match its manifest" in body["reason"]
        assert c.get("/readyz").status_code == 503


def test_unknown_route_and_method_get_json_errors(client):
    r = client.get("/nope")
    assert r.status_code == 404 and "error" in r.json()
    r = client.get("/predict")
    assert r.status_code == 405 and "error" in json.loads(r.text)
