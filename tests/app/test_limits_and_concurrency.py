"""Upload limits, CORS, micro-batching, parallel Grad-CAM requests, and memory over repeated calls."""

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from .conftest import make_client, png_file, wait_ready


def test_upload_over_the_limit_is_413(store, lut_bytes):
    with make_client(model_store=store, max_upload_mb=0.1) as c:
        wait_ready(c)
        r = c.post("/analyze", files={"file": ("S230101.LUT.gz", lut_bytes, "application/octet-stream")})
        assert r.status_code == 413 and "0.1 MB upload limit" in r.json()["error"]


def test_limit_is_enforced_while_streaming_without_content_length(store, lut_bytes):
    boundary = "limit-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="S230101.LUT.gz"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + lut_bytes + f"\r\n--{boundary}--\r\n".encode()

    def chunks():  # a generator body is sent chunked, with no Content-Length to trust
        for i in range(0, len(body), 16_384):
            yield body[i : i + 16_384]

    with make_client(model_store=store, max_upload_mb=0.1) as c:
        wait_ready(c)
        r = c.post("/analyze", content=chunks(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413 and "upload limit" in r.json()["error"]
        assert r.headers["connection"] == "close"  # the rest of the body is never read


def test_parallel_explain_requests_match_sequential_ones(client, lut_png):
    pngs = []
    for k in range(6):  # six different images
        img = Image.open(io.BytesIO(lut_png)).rotate(0, translate=(k * 7, 0))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        pngs.append(buf.getvalue())

    def call(png):
        r = client.post("/predict", files=png_file(png), data={"explain": "true"})
        assert r.status_code == 200
        body = r.json()
        return body["outputs"], {t: e["map"] for t, e in body["explanation"].items()}

    sequential = [call(p) for p in pngs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(call, pngs * 2))
    for i, (outputs, maps) in enumerate(parallel):
        ref_outputs, ref_maps = sequential[i % len(pngs)]
        for task in ref_outputs:
            for cls, p in ref_outputs[task]["probabilities"].items():
                assert abs(outputs[task]["probabilities"][cls] - p) < 1e-5
            flat, ref_flat = sum(maps[task], []), sum(ref_maps[task], [])
            assert max(abs(a - b) for a, b in zip(flat, ref_flat)) <= 1e-4 * max(1.0, max(ref_flat))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_memory_does_not_grow_over_repeated_explain_calls(client, lut_png):
    for _ in range(10):  # warm up allocator caches
        client.post("/predict", files=png_file(lut_png), data={"explain": "true"})
    before = _rss_mb()
    for _ in range(50):
        assert client.post("/predict", files=png_file(lut_png), data={"explain": "true"}).status_code == 200
    growth = _rss_mb() - before
    assert growth < 30, f"resident memory grew by {growth:.1f} MB over 50 explain calls"


def test_concurrent_requests_share_forward_passes(store, lut_png):
    with make_client(model_store=store, batch_wait_ms=200, max_batch_size=8, batch_size_autotune=False) as c:
        wait_ready(c)
        with ThreadPoolExecutor(max_workers=4) as pool:
            codes = list(pool.map(lambda _: c.post("/predict", files=png_file(lut_png)).status_code, range(4)))
        assert codes == [200] * 4
        text = c.get("/metrics").text
        batches = float(re.search(r"precursor_inference_batch_size_count (\S+)", text).group(1))
        images = float(re.search(r"precursor_inference_batch_size_sum (\S+)", text).group(1))
        assert images == 4 and batches < 4  # at least two requests rode in one forward pass


def test_cors_is_off_by_default_and_follows_settings(store, client):
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/predict", headers=preflight).headers
    with make_client(model_store=store, cors_origins=["https://example.org"]) as c:
        r = c.options("/predict", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://example.org"


def test_decoding_runs_at_most_the_configured_number_at_once():
    import threading
    import time

    import anyio

    from app.runtime.decoding import Decoder, InProcessReader

    decoder, running, peak, lock = Decoder(2, InProcessReader()), [0], [0], threading.Lock()

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(decoder.run, work)

    anyio.run(main)
    assert peak[0] == 2


def test_batch_size_is_measured_at_load_and_reported(client, store):
    """Each served model batches at most the size that predicted the most images/s at load (of 1, 2, 4, ...
    up to PRECURSOR_MAX_BATCH_SIZE); switched off, the setting is the size."""
    from app.runtime.batching import batch_candidates

    info = client.get("/v2/models/tiny").json()["inference"]
    rates = {int(k): v for k, v in info["batch_images_per_s"].items()}
    assert sorted(rates) == batch_candidates(16) == [1, 2, 4, 8, 16]
    assert all(rate > 0 for rate in rates.values())
    assert info["max_batch_size"] in rates and rates[info["max_batch_size"]] >= 0.97 * max(rates.values())
    with make_client(model_store=store, max_batch_size=8, batch_size_autotune=False) as c:
        wait_ready(c)
        info = c.get("/v2/models/tiny").json()["inference"]
        assert info["max_batch_size"] == 8 and info["batch_images_per_s"] is None


def test_the_batch_size_chosen_is_the_smallest_within_three_percent_of_the_fastest():
    from app.runtime.batching import batch_candidates, choose_batch_size

    assert batch_candidates(1) == [1] and batch_candidates(12) == [1, 2, 4, 8, 12]
    assert choose_batch_size({1: 50.0, 2: 66.0, 4: 78.0, 8: 64.0, 16: 60.0}) == 4  # 224x224 on 2 cores
    assert choose_batch_size({1: 300.0, 2: 420.0, 4: 640.0, 8: 655.0, 16: 650.0}) == 4  # 640 is within 3%
    assert choose_batch_size({1: 10.0, 2: 9.0}) == 1
