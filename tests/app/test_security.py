"""The API key, the refusal of cross-site browser POSTs, and no server paths in any response."""

import json
import shutil

import pytest

from model_store.checkpoint import MANIFEST_FILE, WEIGHTS_FILE

from .conftest import make_client, png_file, wait_ready

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def keyed(store):
    with make_client(model_store=store, api_key=KEY, api_key_on_metrics=True) as c:
        assert wait_ready(c)["status"] == "ready"
        yield c


def test_post_routes_need_the_key_when_one_is_set(keyed, lut_png):
    r = keyed.post("/predict", files=png_file(lut_png))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "an API key is required" in r.json()["error"] and "X-API-Key" in r.json()["error"]
    r = keyed.post("/analyze", files=png_file(lut_png), headers={"X-API-Key": "guess"})
    assert r.status_code == 401 and "wrong API key" in r.json()["error"]
    assert keyed.post("/predict", files=png_file(lut_png), headers={"X-API-Key": KEY}).status_code == 200
    assert keyed.post("/predict", files=png_file(lut_png), headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert keyed.post("/predict", files=png_file(lut_png), headers={"Authorization": f"Basic {KEY}"}).status_code == 401


def test_health_and_metrics_follow_their_settings(keyed):
    assert keyed.get("/readyz").status_code == 200  # api_key_on_health is off
    assert keyed.get("/metrics").status_code == 401  # api_key_on_metrics is on
    assert keyed.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200


def test_openapi_declares_the_key_only_where_it_is_required(keyed, client):
    doc = keyed.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"ApiKeyHeader", "BearerKey"}
    assert "401" in doc["paths"]["/predict"]["post"]["responses"] and doc["paths"]["/predict"]["post"]["security"]
    assert "401" in doc["paths"]["/metrics"]["get"]["responses"]
    assert "401" not in doc["paths"]["/readyz"]["get"]["responses"]
    assert "security" not in doc["paths"]["/readyz"]["get"]
    plain = client.get("/openapi.json").json()
    assert "securitySchemes" not in plain["components"]
    assert all("401" not in op["responses"] for item in plain["paths"].values() for op in item.values())


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver"},
        {"Origin": "http://testserver.evil.example"},
    ],
)
def test_cross_site_browser_posts_are_refused(client, lut_png, headers):
    r = client.post("/predict", files=png_file(lut_png), headers=headers)
    assert r.status_code == 403
    assert "cross-site request refused" in r.json()["error"] and "PRECURSOR_CORS_ORIGINS" in r.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, scripts
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # a page served by the service itself
        {"Origin": "http://testserver"},  # an older browser, same origin
        {"Origin": "http://testserver:80"},
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the user
    ],
)
def test_same_origin_and_non_browser_posts_are_served(client, lut_png, headers):
    assert client.post("/predict", files=png_file(lut_png), headers=headers).status_code == 200


def test_an_allowed_origin_may_post_cross_site(store, lut_png):
    with make_client(model_store=store, cors_origins=["https://lab.example.org"]) as c:
        wait_ready(c)
        headers = {"Origin": "https://lab.example.org", "Sec-Fetch-Site": "cross-site"}
        r = c.post("/predict", files=png_file(lut_png), headers=headers)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://lab.example.org"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        assert c.post("/predict", files=png_file(lut_png), headers={"Origin": "https://evil.example"}).status_code == 403


def _damaged_store(tmp_path, store):
    root = tmp_path / "store"
    shutil.copytree(store / "tiny" / "1", root / "tiny" / "1")
    shutil.copytree(store / "tiny" / "1", root / "tiny" / "2")
    shutil.copytree(store / "tiny" / "1", root / "broken" / "1")
    manifest = root / "broken" / "1" / MANIFEST_FILE
    d = json.loads(manifest.read_text())
    d["architecture"]["tasks"] = []
    manifest.write_text(json.dumps(d))
    (root / "tiny" / "2" / MANIFEST_FILE).write_text("{not json")
    (root / "DEFAULT").write_text("tiny:1\n")
    return root


def test_a_damaged_store_is_listed_with_reasons_and_never_500(tmp_path, store):
    root = _damaged_store(tmp_path, store)
    with make_client(model_store=root) as c:
        assert wait_ready(c)["status"] == "ready"
        listed = {f"{m['name']}:{m['version']}": m for m in c.get("/v2/models").json()}
        assert set(listed) == {"broken:1", "tiny:1", "tiny:2"}
        assert listed["tiny:1"]["serving"] is True and "error" not in listed["tiny:1"]
        assert "architecture.tasks" in listed["broken:1"]["error"]
        assert "not readable JSON" in listed["tiny:2"]["error"]
        for ref in ("broken", "tiny:2"):
            name, _, version = ref.partition(":")
            r = c.get(f"/v2/models/{name}", params={"version": version} if version else None)
            assert r.status_code == 409 and "manifest" in r.json()["error"]
        bodies = c.get("/v2/models").text + c.get("/v2/models/broken").text + c.get("/v2/models/nope").text
        assert str(tmp_path) not in bodies and "<model store>" in bodies


def test_readiness_reasons_never_show_the_store_path(tmp_path, store):
    root = tmp_path / "s"
    shutil.copytree(store, root)
    weights = root / "tiny" / "1" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-10])
    with make_client(model_store=root) as c:
        body = wait_ready(c)
        assert body["status"] == "failed" and "does not match its manifest" in body["reason"]
        assert str(tmp_path) not in json.dumps(body) and "<model store>/tiny/1" in body["reason"]
        r = c.post("/predict", files=png_file(b"\x89PNG\r\n\x1a\n"))
        assert r.status_code == 503 and str(tmp_path) not in r.text and "retry-after" not in r.headers


def test_form_fields_are_bounded_and_never_echoed(client, lut_bytes):
    files = {"file": ("S230101.LUT.gz", lut_bytes, "application/octet-stream")}
    for station, message in (("X" * 900_000, "at most 16 characters"), ("LU T<script>", "should match pattern")):
        r = client.post("/analyze", files=files, data={"station": station})
        assert r.status_code == 400 and message in r.json()["error"]
        assert len(r.text) < 300 and "XXXX" not in r.text and "<script>" not in r.text
    r = client.post("/predict", files=png_file(b"x"), data={"target_magnitude": "M" * 10_000, "explain": "true"})
    assert r.status_code == 400 and len(r.text) < 300


def test_a_wildcard_origin_list_allows_every_site(store, lut_png):
    with make_client(model_store=store, cors_origins=["*"]) as c:
        wait_ready(c)
        headers = {"Origin": "https://anywhere.example", "Sec-Fetch-Site": "cross-site"}
        assert c.post("/predict", files=png_file(lut_png), headers=headers).status_code == 200
