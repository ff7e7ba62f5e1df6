"""Uploads are read in decode worker processes: a reader that crashes or hangs costs its request a 422, the
service stays up and ready, other requests in flight are answered, and the event is logged and counted."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.runtime.decoding import DecodePool, Decoder
from model_store.errors import ReadError
from model_store.series import StationSeries
from tests.mutants import DATA, SAMPLES, mutants

from .conftest import make_client, wait_ready

CRASHES = DATA / "crashes"
FAULTY = [sys.executable, "-m", "tests.app.faulty_decode_worker"]


def _upload(data: bytes, name: str) -> dict:
    return {"file": (name, data, "application/octet-stream")}


QUICK = {"models": [], "inference_path": "eager", "batch_size_autotune": False}  # starts in a second or two


def _faulty_client(store, processes: int = 2, **settings):
    c = make_client(model_store=store, decode_processes=processes, **QUICK, **settings)
    s = c.app.state.settings
    c.app.state.decoder = Decoder(s.max_parallel_decodes, DecodePool(
        processes, s.decode_timeout_s, s.decode_worker_max_rss_mb, command=FAULTY,
        on_failure=lambda reason: c.app.state.metrics.decode_failures.labels(reason).inc()))
    return c


def _failures(client, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'precursor_decode_worker_failures_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("path", sorted(CRASHES.glob("*mutant*")), ids=lambda p: p.name)
def test_files_that_crashed_the_service_are_refused_with_what_is_wrong(client, path):
    r = client.post("/analyze", files=_upload(path.read_bytes(), path.name))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error.startswith(path.name) and "line " in error and "crashed" not in error, error
    assert client.get("/readyz").status_code == 200


def test_a_reader_crash_fails_its_request_only(store, lut_bytes, caplog):
    with _faulty_client(store) as c:
        assert wait_ready(c)["status"] == "ready"
        answers = {}

        def post(name: str) -> None:
            answers[name] = c.post("/analyze", files=_upload(lut_bytes, name))

        slow = threading.Thread(target=post, args=("slow.LUT.gz",))
        slow.start()  # being read by one worker while the other crashes
        r = c.post("/analyze", files=_upload(lut_bytes, "segfault.LUT.gz"))
        slow.join()
        assert r.status_code == 422
        assert r.json()["error"] == ("segfault.LUT.gz: the reader crashed on this file (SIGSEGV); the file is damaged "
                                     "or not in the format it appears to be")
        assert answers["slow.LUT.gz"].status_code == 200, answers["slow.LUT.gz"].text
        assert c.get("/readyz").status_code == 200
        assert c.post("/analyze", files=_upload(lut_bytes, "S230101.LUT.gz")).status_code == 200  # a new worker
        assert _failures(c, "SIGSEGV") == 1
        pool = c.app.state.decoder.reader
        assert pool.stats.crashes == 1 and pool.stats.started == 3 and len(pool.describe()["worker_pids"]) == 2
    assert any("died (SIGSEGV) reading segfault.LUT.gz" in rec.getMessage() for rec in caplog.records)


def test_a_reader_that_hangs_is_stopped_at_the_timeout(store, lut_bytes):
    with _faulty_client(store, processes=1, decode_timeout_s=1.0) as c:
        assert wait_ready(c)["status"] == "ready"
        r = c.post("/analyze", files=_upload(lut_bytes, "hang.LUT.gz"))
        assert r.status_code == 422 and "took longer than 1 s" in r.json()["error"]
        assert c.post("/analyze", files=_upload(lut_bytes, "S230101.LUT.gz")).status_code == 200
        assert _failures(c, "timeout") == 1


def test_a_png_crash_is_contained_too(store, lut_png):
    with _faulty_client(store) as c:
        assert wait_ready(c)["status"] == "ready"
        r = c.post("/predict", files={"file": ("segfault.png", lut_png, "image/png")})
        assert r.status_code == 422 and r.json()["error"].startswith("segfault.png: the reader crashed on this file (SIGSEGV)")
        assert c.post("/predict", files={"file": ("w.png", lut_png, "image/png")}).status_code == 200


def test_workers_that_cannot_start_make_uploads_a_503(store, lut_bytes):
    c = make_client(model_store=store, **QUICK)
    s = c.app.state.settings
    c.app.state.decoder = Decoder(2, DecodePool(1, s.decode_timeout_s, 300, command=[sys.executable, "-c", "raise SystemExit(3)"]))
    with c:
        assert wait_ready(c)["status"] == "ready"
        r = c.post("/analyze", files=_upload(lut_bytes, "S230101.LUT.gz"))
        assert r.status_code == 503 and "a decode worker did not start (exit status 3" in r.json()["error"]
        assert r.headers["retry-after"] == "5"


def test_seeded_mutants_of_every_sample_are_read_or_refused_never_crash(tmp_path):
    """Fuzzing every reader on the real samples: each mutant is read by a decode worker, so a crash fails this
    test (with the mutant kept) instead of ending the run. PRECURSOR_FUZZ_SEED explores other mutants."""
    seed = int(os.environ.get("PRECURSOR_FUZZ_SEED", "20261206"))
    per_file = {"S230101.LUT.gz": 16}  # a day of FRG-604RC takes longer to inflate, mutate and deflate again
    cases = [m for names in SAMPLES.values() for name in names for m in mutants(name, seed, per_file.get(name, 40))]
    pool = DecodePool(2, 20.0, 300)
    pool.start()

    def read(case: tuple[str, bytes]) -> str:
        label, data = case
        try:
            assert isinstance(pool.read_series(data, label, None), StationSeries)
            return "read"
        except ReadError as exc:
            if "crashed" in str(exc) or "took longer" in str(exc):
                kept = tmp_path / label.replace("#", "_")
                kept.write_bytes(data)
                return f"{exc} (the mutant is kept at {kept})"
            return "refused"

    try:
        with ThreadPoolExecutor(2) as threads:  # both workers busy
            outcomes = list(threads.map(read, cases))
    finally:
        pool.close()
    failures = [o for o in outcomes if o not in ("read", "refused")]
    assert not failures, failures
    assert pool.stats.crashes == 0 and outcomes.count("read") > 20 and outcomes.count("refused") > 100, len(cases)
