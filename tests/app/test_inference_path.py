"""The fast path answers like the eager fp32 model, says which path serves each model, and a model without
it still serves (eager, saying why). The ONNX cache only hands out what it wrote."""

import os
import re
import sys

import pytest

from model_store.inference.onnx_cache import OnnxCache, cache_key

from .conftest import CROSS_MODEL, MODEL, make_client, png_file, wait_ready

TOLERANCE = 1e-4  # the service's promise for fp32 paths


def _upload(data: bytes):
    return {"file": ("S230101.LUT.gz", data, "application/octet-stream")}


def _windows(client, lut_bytes, model: str) -> list[dict]:
    r = client.post("/analyze", files=_upload(lut_bytes), data={"model": model, "hop_hours": "2"})
    assert r.status_code == 200
    return [w for w in r.json()["windows"] if "outputs" in w]


def _close(a: list[dict], b: list[dict]) -> float:
    """Largest difference between two timelines' served probabilities."""
    worst = 0.0
    assert len(a) == len(b) > 0
    for wa, wb in zip(a, b):
        for task, out in wa["outputs"].items():
            for cls, p in out["probabilities"].items():
                worst = max(worst, abs(p - wb["outputs"][task]["probabilities"][cls]))
    return worst


@pytest.fixture(scope="module")
def eager(store):
    with make_client(model_store=store, inference_path="eager") as c:
        wait_ready(c)
        yield c


def test_served_models_say_which_path_runs_them(client, eager):
    for name in (MODEL, CROSS_MODEL):
        fast = client.get(f"/v2/models/{name}").json()["inference"]
        assert fast["path"] == "onnxruntime" and fast["max_probability_difference_from_eager"] <= 1e-5
        assert eager.get(f"/v2/models/{name}").json()["inference"]["path"] == "eager"
    metrics = client.get("/metrics").text
    assert re.search(rf'precursor_inference_path\{{model="{MODEL}:1",path="onnxruntime"\}} 1', metrics)
    assert re.search(rf'precursor_inference_path\{{model="{CROSS_MODEL}:1",path="onnxruntime"\}} 1', metrics)
    assert "(onnxruntime)" in client.get("/readyz").json()["reason"]
    # beside ONNX Runtime torch keeps one thread (it only composes outputs and runs Grad-CAM's last stages);
    # on the eager path it runs the network with the configured threads
    assert client.get(f"/v2/models/{MODEL}").json()["inference"]["torch_threads"] == 1
    assert eager.get(f"/v2/models/{MODEL}").json()["inference"]["torch_threads"] == 2  # PRECURSOR_TORCH_THREADS
    # ONNX Runtime shares its threads between passes that run at once, so batches run side by side
    # (PRECURSOR_INFERENCE_WORKERS); eager torch's pool cannot be shared that way: one batch at a time
    assert client.get(f"/v2/models/{MODEL}").json()["inference"]["inference_workers"] == 2
    assert eager.get(f"/v2/models/{MODEL}").json()["inference"]["inference_workers"] == 1


@pytest.mark.parametrize("model", [MODEL, CROSS_MODEL])
def test_the_fast_path_answers_like_eager_fp32_on_real_windows(client, eager, lut_bytes, model):
    # every 2 h of the LUT day: ten real windows, both the power layout and the direction-aware one (its
    # direction finder reads the input inside the exported graph)
    fast, slow = _windows(client, lut_bytes, model), _windows(eager, lut_bytes, model)
    assert _close(fast, slow) <= TOLERANCE
    for wf, ws in zip(fast, slow):
        assert wf["outputs"]["magnitude"]["label"] == ws["outputs"]["magnitude"]["label"]
        if model == CROSS_MODEL:
            assert abs(wf["outputs"]["azimuth"]["bearing_deg"] - ws["outputs"]["azimuth"]["bearing_deg"]) <= 0.01


def test_grad_cam_on_the_fast_path_matches_eager(client, eager, lut_cross_png):
    def explained(c):
        r = c.post("/predict", files=png_file(lut_cross_png), data={"explain": "true"})
        assert r.status_code == 200
        return r.json()

    fast, slow = explained(client), explained(eager)
    for task, exp in fast["explanation"].items():
        ref = slow["explanation"][task]
        assert exp["target_class"] == ref["target_class"] and exp["map_shape"] == ref["map_shape"]
        flat, ref_flat = sum(exp["map"], []), sum(ref["map"], [])
        scale = max(max(ref_flat), 1e-6)
        assert max(abs(a - b) for a, b in zip(flat, ref_flat)) <= 1e-3 * scale


def test_channels_last_eager_answers_like_eager(store, eager, lut_bytes):
    with make_client(model_store=store, inference_path="eager", channels_last=True) as c:
        wait_ready(c)
        info = c.get(f"/v2/models/{CROSS_MODEL}").json()["inference"]
        assert info["path"] == "eager" and info["channels_last"] is True
        assert _close(_windows(c, lut_bytes, CROSS_MODEL), _windows(eager, lut_bytes, CROSS_MODEL)) <= TOLERANCE


def test_without_onnxruntime_a_model_serves_eager_and_says_why(store, lut_png, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the optional extra were not installed
    with make_client(model_store=store) as c:
        assert wait_ready(c)["status"] == "ready"
        info = c.get(f"/v2/models/{MODEL}").json()["inference"]
        assert info["path"] == "eager" and "onnxruntime is not installed (pip install '.[fast]')" in info["reason"]
        assert c.post("/predict", files=png_file(lut_png)).status_code == 200


# ---------------------------------------------------------------------------- the cache
def test_the_cache_reads_back_what_it_wrote_and_leaves_no_partial_files(tmp_path):
    cache = OnnxCache(tmp_path / "cache")
    key = cache_key(weights="abc", graph="forward")
    assert cache.usable and cache.get(key) is None
    cache.put(key, b"graph bytes")
    assert cache.get(key) == b"graph bytes"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f"{key}.json", f"{key}.onnx"]
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_the_cache_refuses_entries_it_did_not_write(tmp_path):
    cache = OnnxCache(tmp_path)
    key = cache_key(weights="abc", graph="forward")
    cache.put(key, b"graph bytes")
    graph = tmp_path / f"{key}.onnx"
    graph.write_bytes(b"other bytes")  # changed behind the cache's back: no longer what its record says
    assert cache.get(key) is None
    graph.unlink()
    (tmp_path / "elsewhere.onnx").write_bytes(b"graph bytes")
    graph.symlink_to(tmp_path / "elsewhere.onnx")  # a link is not a file the cache wrote
    assert cache.get(key) is None


def test_a_cache_directory_others_may_write_to_is_not_used(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    cache = OnnxCache(shared)
    assert not cache.usable and "others may write to it" in cache.problem
    cache.put("k", b"graph bytes")
    assert cache.get("k") is None and not any(shared.iterdir())


@pytest.mark.parametrize("spin_wait,spin_us,expected", [(True, 50, ("1", "50")), (True, -1, ("1", None)),
                                                        (False, 50, ("0", None))])
def test_onnx_runtime_threads_spin_as_the_settings_say(store, spin_wait, spin_us, expected):
    """The spin settings reach the runtime: 50 us by default (see docs/runtime.md), ONNX Runtime's own
    count with -1, none when spinning is off."""
    from app.settings import Settings
    from model_store import ModelRegistry
    from model_store.inference.backends import _graph, _session, probe

    loaded = ModelRegistry(store).load(MODEL)
    settings = Settings(onnx_spin_wait=spin_wait, onnx_spin_us=spin_us)
    options = _session(_graph(loaded, probe(loaded), OnnxCache(settings.onnx_cache_path)), settings.inference_config()).get_session_options()

    def entry(key: str) -> str | None:
        try:
            return options.get_session_config_entry(key)
        except RuntimeError:  # not set
            return None

    entries = {key: entry(key) for key in ("session.intra_op.allow_spinning", "session.intra_op.spin_duration_us")}
    assert (entries["session.intra_op.allow_spinning"], entries["session.intra_op.spin_duration_us"]) == expected


def test_a_second_start_reads_the_exported_graph_from_the_cache(store, tmp_path, monkeypatch):
    from model_store.inference import backends
    from app.settings import Settings
    from model_store import ModelRegistry, onnx_export

    settings = Settings(onnx_cache_dir=tmp_path / "cache")
    cache = OnnxCache(settings.onnx_cache_path)
    _, first = backends.select_backend(ModelRegistry(store).load(MODEL), settings.inference_config(), cache)
    assert first.path == "onnxruntime" and len(list((tmp_path / "cache").glob("*.onnx"))) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds the graph")

    monkeypatch.setattr(onnx_export, "export_graph", no_export)
    _, second = backends.select_backend(ModelRegistry(store).load(MODEL), settings.inference_config(),
                                            OnnxCache(settings.onnx_cache_path))
    assert second.path == "onnxruntime"


def test_a_model_whose_export_fails_or_whose_check_fails_serves_eager_and_says_why(store, tmp_path, monkeypatch):
    from model_store.inference import backends
    from app.settings import Settings
    from model_store import ModelRegistry, onnx_export

    settings = Settings(onnx_cache_dir=tmp_path / "cache")

    def broken_export(*args, **kwargs):
        raise RuntimeError("exporter bug")

    with monkeypatch.context() as m:
        m.setattr(onnx_export, "export_graph", broken_export)
        _, path = backends.select_backend(ModelRegistry(store).load(MODEL), settings.inference_config(),
                                            OnnxCache(settings.onnx_cache_path))
    assert path.path == "eager" and "export or runtime failed (RuntimeError)" in path.reason

    monkeypatch.setattr(backends, "VERIFY_TOLERANCE", -1.0)  # no difference passes: the check fails
    _, path = backends.select_backend(ModelRegistry(store).load(MODEL), settings.inference_config(),
                                            OnnxCache(settings.onnx_cache_path))
    assert path.path == "eager" and "differed from eager fp32" in path.reason


def test_thread_placement_pins_only_where_the_service_owns_the_cores():
    from app.runtime.affinity import plan_placement

    placement, why = plan_placement("auto", 2, [0, 1])  # a 2-core machine: callers and the runtime's worker apart
    assert (placement.callers, placement.workers, placement.runtime_affinities()) == (0, (1,), "2")
    assert "CPU 0" in why and "CPU 1" in why
    placement, why = plan_placement("auto", 2, list(range(8)))  # a larger machine others may share: the kernel decides
    assert placement is None and "more than the 2" in why
    placement, _ = plan_placement("on", 4, [2, 3, 5, 7, 9])  # on: the first CPUs this process may use
    assert (placement.callers, placement.workers, placement.runtime_affinities()) == (2, (3, 5, 7), "4;6;8")
    assert placement.cpus == (2, 3, 5, 7, 9)  # a batch beside another may run on any of them
    assert plan_placement("on", 2, [3])[0] is None and "fewer than the 2" in plan_placement("on", 2, [3])[1]
    assert plan_placement("on", 1, [0, 1])[0] is None
    assert plan_placement("off", 2, [0, 1]) == (None, "not pinned: PRECURSOR_PIN_THREADS is off")


def _affinities(client) -> list[set[int]]:
    """The CPUs each serving inference thread may run on now, asked from inside each thread."""
    threads = client.app.state.model.default.batcher._threads
    return [executor.submit(os.sched_getaffinity, 0).result() for executor in threads.executors[:threads.active]]


def _runtime_affinities(client) -> str | None:
    session = client.app.state.model.default.batcher.engine.backend._session
    try:
        return session.get_session_options().get_session_config_entry("session.intra_op_thread_affinities")
    except RuntimeError:  # not set
        return None


needs_two_cpus = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                    reason="needs 2 CPUs")


@needs_two_cpus
def test_a_batch_running_alone_is_pinned_apart_from_the_runtime_worker_and_answers_as_before(store, eager, lut_bytes,
                                                                                             lut_png):
    cpus = sorted(os.sched_getaffinity(0))
    with make_client(model_store=store, pin_threads="on") as pinned:
        wait_ready(pinned)
        assert _runtime_affinities(pinned) == str(cpus[1] + 1)  # ONNX Runtime's worker runs on the second CPU
        placement = pinned.get(f"/v2/models/{MODEL}").json()["inference"]["thread_placement"]
        assert placement == (f"a batch running alone: its inference thread on CPU {cpus[0]}, ONNX Runtime's worker "
                             f"threads on CPU {cpus[1]}")
        for model in (MODEL, CROSS_MODEL):
            assert _close(_windows(pinned, lut_bytes, model), _windows(eager, lut_bytes, model)) <= TOLERANCE
        for _ in range(2):  # one image at a time: each batch runs alone, and the threads take turns
            assert pinned.post("/predict", files=png_file(lut_png)).status_code == 200
        assert _affinities(pinned) == [{cpus[0]}, {cpus[0]}]
    with make_client(model_store=store, pin_threads="off") as free:
        wait_ready(free)
        for model in (MODEL, CROSS_MODEL):
            _windows(free, lut_bytes, model)
        assert _affinities(free) == [set(cpus), set(cpus)] and _runtime_affinities(free) is None
        assert "PRECURSOR_PIN_THREADS is off" in free.get(f"/v2/models/{MODEL}").json()["inference"]["thread_placement"]
    with make_client(model_store=store, pin_threads="on", inference_path="eager") as eager_pinned:
        wait_ready(eager_pinned)  # eager torch's own thread pool is left to the kernel
        _windows(eager_pinned, lut_bytes, MODEL)
        assert _affinities(eager_pinned) == [set(cpus)]
        assert "eager torch" in eager_pinned.get(f"/v2/models/{MODEL}").json()["inference"]["thread_placement"]


@needs_two_cpus
def test_a_batch_running_beside_another_may_use_every_cpu():
    """Pinned only while alone: two callers held to one core while the other ran only the runtime's worker were
    slower under load (docs/benchmarks.md)."""
    from concurrent.futures import ThreadPoolExecutor

    from app.runtime.affinity import CallerPlacement, plan_placement

    cpus = sorted(os.sched_getaffinity(0))
    placement = CallerPlacement(plan_placement("on", 2, cpus)[0])

    def placed(alone: bool) -> set[int]:
        placement.place(alone)
        return os.sched_getaffinity(0)

    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(placed, True).result() == {cpus[0]}
        assert thread.submit(placed, False).result() == set(cpus)
        assert thread.submit(placed, True).result() == {cpus[0]}
    assert os.sched_getaffinity(0) == set(cpus)  # only the placed thread moved
