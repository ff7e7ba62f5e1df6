"""The page's server side: what GET / serves, offline /docs and /redoc, gzip, and analysis images by URL."""

import base64
import gzip
import re

import numpy as np
import pytest

from app.routers.page import PAGE_CSP
from app.runtime.analyses import AnalysisCache, KeptAnalysis, KeptWindow
from app.runtime.errors import ImageNotFound, ImagesGone
from model_store import supported_formats
from model_store.formats import frg604rc

from .conftest import CROSS_MODEL, MODEL, make_client, png_file, probs_close, wait_ready

LOCAL_URL = re.compile(r'(?:src|href)="([^"]*)"')


def _lut(data: bytes, name: str = "S230101.LUT.gz"):
    return {"file": (name, data, "application/octet-stream")}


def _local_assets(client, html: str) -> list[str]:
    """Every src/href of a page: each must be on this service (or a data: URL) and load."""
    urls = LOCAL_URL.findall(html)
    assert urls
    for url in urls:
        assert url.startswith(("/", "#", "data:")), f"{url} is not served by the service"
        if url.startswith("/") and not url.startswith(("/docs", "/redoc")) or url.startswith("/docs-assets"):
            r = client.get(url)
            assert r.status_code == 200 and r.content, url
    return urls


def test_the_page_is_served_with_its_assets_and_a_same_origin_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == PAGE_CSP and "default-src 'self'" in PAGE_CSP
    html = r.text
    assert "Research tool, not an earthquake warning system" in html
    # the format menu lists exactly what the readers accept
    assert re.findall(r'<option value="([a-z0-9]+)">', html) == list(supported_formats())
    urls = _local_assets(client, html)
    assert "/static/page.js" in urls and "/static/page.css" in urls
    script = client.get("/static/page.js")
    assert script.headers["cache-control"] == "no-cache"
    for module in re.findall(r'from "\./([a-z]+\.js)"', script.text):
        assert client.get(f"/static/{module}").status_code == 200
    assert client.head("/").status_code == 200


@pytest.mark.parametrize("path, asset", [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_and_redoc_load_everything_from_the_service(client, path, asset):
    r = client.get(path)
    assert r.status_code == 200
    assert "googleapis" not in r.text and "cdn." not in r.text
    urls = _local_assets(client, r.text)
    assert f"/docs-assets/{asset}" in urls
    if path == "/docs":
        assert '"validatorUrl": null' in r.text  # no badge fetched from an outside validator
    assert len(client.get(f"/docs-assets/{asset}").content) > 500_000  # the real bundle, not a stub


def test_large_json_is_gzipped_small_answers_are_not(client, lut_bytes):
    r = client.post("/analyze", files=_lut(lut_bytes), data={"explain": "true", "include_spectrograms": "true"},
                    headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.num_bytes_downloaded < 0.8 * len(r.content)  # base64 PNGs shrink back towards their binary size
    assert r.json()["windows"][0]["spectrogram_png_base64"]
    doc = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert doc.headers["content-encoding"] == "gzip" and doc.num_bytes_downloaded < len(doc.content) / 4
    small = client.get("/livez", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


def test_image_links_keep_the_timeline_lean_and_serve_the_same_pngs(client, lut_bytes):
    inline = client.post("/analyze", files=_lut(lut_bytes), data={
        "explain": "true", "include_spectrograms": "true", "model": CROSS_MODEL})
    linked = client.post("/analyze", files=_lut(lut_bytes), data={
        "explain": "true", "image_links": "true", "model": CROSS_MODEL})
    assert inline.status_code == linked.status_code == 200
    assert len(linked.content) * 20 < len(inline.content)
    body = linked.json()
    assert "base64" not in linked.text and "410" in body["images_kept"]
    for a, b in zip(inline.json()["windows"], body["windows"]):
        assert b["spectrogram_url"] == f"/v2/analyses/{body['id']}/windows/{b['index']}/spectrogram.png"
        assert b["precursor_probability"] == pytest.approx(a["precursor_probability"], abs=1e-9)
        png = client.get(b["spectrogram_url"])
        assert png.headers["content-type"] == "image/png"
        assert png.content == base64.b64decode(a["spectrogram_png_base64"])
        for task in ("magnitude", "azimuth"):
            assert b["explanation"][task]["map"] == a["explanation"][task]["map"]
            overlay = client.get(b["explanation"][task]["overlay_url"]).content
            assert overlay == base64.b64decode(a["explanation"][task]["overlay_png_base64"])
        evidence = client.get(b["explanation"]["azimuth"]["direction_evidence_url"]).content
        assert evidence == base64.b64decode(a["explanation"]["azimuth"]["direction_evidence_png_base64"])
    # a linked spectrogram is the model's input: /predict finds the model and gives the same numbers
    w = body["windows"][1]
    single = client.post("/predict", files=png_file(client.get(w["spectrogram_url"]).content)).json()
    assert single["model"]["name"] == CROSS_MODEL and probs_close(single["outputs"], w["outputs"], atol=1e-4)


def test_image_route_says_why_there_is_no_image(client, lut_bytes):
    raw = gzip.decompress(lut_bytes)
    gappy = raw[: 36 * frg604rc.BLOCK_BYTES] + raw[42 * frg604rc.BLOCK_BYTES :]  # 06:00-07:00 missing
    body = client.post("/analyze", files=_lut(gappy, "S230101.LUT"), data={"image_links": "true", "model": MODEL}).json()
    base = f"/v2/analyses/{body['id']}/windows"
    assert client.get(f"{base}/0/spectrogram.png").status_code == 200
    cases = [
        (f"{base}/1/spectrogram.png", 404, "window 1 was skipped (only 83.3% of samples present"),
        (f"{base}/4/spectrogram.png", 404, "this analysis has windows 0 to 3, not 4"),
        (f"{base}/0/overlay-magnitude.png", 404, "run /analyze with explain=true"),
        (f"{base}/0/direction-evidence.png", 404, "has no direction finder"),
        (f"{base}/0/thumbnail.png", 400, "invalid path parameter 'image'"),
        (f"{base}/00/spectrogram.png", 400, "invalid path parameter 'index': must be a whole number written plainly, "
                                            "such as 0 or 7; got '00'"),
        (f"{base}/+1/spectrogram.png", 400, "got '+1'"),
        (f"{base}/%201/spectrogram.png", 400, "got ' 1'"),
        (f"{base}/1_0/spectrogram.png", 400, "got '1_0'"),
        ("/v2/analyses/0b5e4bd5-0000-4000-8000-000000000000/windows/0/spectrogram.png", 404,
         "no analysis with this id is kept here"),
    ]
    for url, status, message in cases:
        r = client.get(url)
        assert r.status_code == status and message in r.json()["error"], (url, r.json())


def test_an_evicted_analysis_answers_410_saying_to_analyse_again(store, lut_bytes):
    with make_client(model_store=store, api_key="k") as c:
        wait_ready(c)
        c.app.state.analyses = AnalysisCache(max_analyses=1)
        key = {"X-API-Key": "k"}
        first, second = (c.post("/analyze", files=_lut(lut_bytes), data={"image_links": "true"}, headers=key).json()
                         for _ in range(2))
        gone = c.get(first["windows"][0]["spectrogram_url"], headers=key)
        assert gone.status_code == 410
        assert gone.json()["error"] == (
            f"the images of analysis {first['id']} are no longer kept: the service keeps those of its last 1 "
            "analyses (at most 128 MB); run /analyze again")
        url = second["windows"][0]["spectrogram_url"]
        assert c.get(url, headers=key).status_code == 200
        assert c.get(url).status_code == 401  # the images of an upload need the key as the upload did


def _kept(n_windows: int, nbytes_each: int) -> KeptAnalysis:
    pixels = np.zeros((1, 1, nbytes_each), dtype=np.uint8)
    return KeptAnalysis(manifest=None, windows={i: KeptWindow(pixels) for i in range(n_windows)})  # type: ignore[arg-type]


def test_the_cache_keeps_recently_used_analyses_within_its_byte_bound():
    cache = AnalysisCache(max_analyses=10, max_bytes=5000, remember_evicted=2)
    for name in "abc":
        cache.put(name, _kept(2, 1000))
    assert len(cache) == 2 and cache.nbytes == 4000  # "a" went: 6000 bytes would exceed the bound
    cache.get("b")  # used: now "c" is the least recently used
    cache.put("d", _kept(1, 1000))
    cache.put("e", _kept(1, 1000))
    assert [cache.get(k) is not None for k in ("b", "d", "e")] and len(cache) == 3 and cache.nbytes == 4000
    with pytest.raises(ImagesGone):
        cache.get("c")
    cache.put("huge", _kept(1, 9000))  # the newest is always kept, alone
    assert len(cache) == 1 and cache.nbytes == 9000
    with pytest.raises(ImageNotFound):
        cache.get("a")  # only the last 2 evicted ids are remembered
