"""Backpressure with the real tiny models: a queue bounded in images (503 with Retry-After past it), a
per-request deadline that drops stale work, health answering while the queue is full, and saturation
reported on /readyz when asked."""

import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from .conftest import make_client, png_file, wait_ready

TEN_MINUTES_H = str(600 / 3600)


def _upload(data: bytes):
    return {"file": ("S230101.LUT.gz", data, "application/octet-stream")}


def _metric(text: str, pattern: str) -> float:
    match = re.search(pattern + r" ([0-9.e+-]+)", text)
    assert match, pattern
    return float(match.group(1))


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_a_full_queue_answers_503_with_retry_after_while_health_answers(store, lut_bytes, lut_png):
    with make_client(model_store=store, max_queued_images=2, readyz_reports_saturation=True) as c:
        wait_ready(c)
        # a day at the smallest hop is 109 windows: more than the bound, so admitted only into an empty queue,
        # where it holds the queue full while its windows run
        result = {}
        big = threading.Thread(target=lambda: result.update(r=c.post(
            "/analyze", files=_upload(lut_bytes), data={"hop_hours": TEN_MINUTES_H})))
        big.start()
        _wait_for(lambda: c.get("/readyz").status_code == 503)
        ready = c.get("/readyz")
        assert ready.json()["status"] == "saturated" and "queue is full" in ready.json()["reason"]
        assert int(ready.headers["Retry-After"]) >= 1
        assert c.get("/livez").status_code == 200

        r = c.post("/predict", files=png_file(lut_png))
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
        assert "images are waiting for the model (limit 2)" in r.json()["error"]
        r = c.post("/analyze", files=_upload(lut_bytes))  # refused before its file is decoded
        assert r.status_code == 503 and "Retry-After" in r.headers

        big.join(timeout=120)
        assert result["r"].status_code == 200
        body = result["r"].json()
        assert len(body["windows"]) == 109 and body["hop_hours"] == 600 / 3600
        assert c.get("/readyz").json()["status"] == "ready"
        metrics = c.get("/metrics").text
        assert _metric(metrics, "precursor_queued_images") == 0
        assert _metric(metrics, r'precursor_backpressure_refusals_total\{reason="queue_full"\}') >= 2


def test_many_concurrent_requests_against_a_tiny_bound_get_answers_or_503_never_a_wait(store, lut_png):
    with make_client(model_store=store, max_queued_images=1) as c:
        wait_ready(c)

        def call(_):
            r = c.post("/predict", files=png_file(lut_png), data={"explain": "true"})
            return r.status_code, r.headers.get("Retry-After")

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(call, range(36)))
        assert {status for status, _ in answers} <= {200, 503}
        assert any(status == 200 for status, _ in answers)
        assert all(int(retry) >= 1 for status, retry in answers if status == 503)
        assert c.get("/livez").status_code == 200 and c.get("/readyz").status_code == 200  # not reported by default


def test_work_queued_past_its_deadline_is_dropped_with_a_clear_error(store, lut_bytes, lut_png):
    # 1 ms is less than decoding a 1024x1024 PNG takes, so the image is stale when the inference thread would
    # take it, and is dropped there; /analyze stops before making spectrograms nobody would predict
    big = io.BytesIO()
    Image.open(io.BytesIO(lut_png)).resize((1024, 1024)).save(big, format="PNG")
    with make_client(model_store=store, request_deadline_s=0.001) as c:
        wait_ready(c)
        for r in (c.post("/predict", files=png_file(big.getvalue())),
                  c.post("/analyze", files=_upload(lut_bytes), data={"hop_hours": "1"})):
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
            assert "dropped: it waited for the model past the service's 0.001 s deadline" in r.json()["error"]
        metrics = c.get("/metrics").text
        assert _metric(metrics, r'precursor_backpressure_refusals_total\{reason="deadline"\}') >= 2
        assert _metric(metrics, r'precursor_inference_batch_size_count') == 0  # nothing stale was run
        assert _metric(metrics, "precursor_queued_images") == 0  # the dropped requests gave their images back
        assert c.get("/livez").status_code == 200 and c.get("/readyz").status_code == 200
