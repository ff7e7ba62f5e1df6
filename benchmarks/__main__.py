"""``python -m benchmarks`` (``make bench``): every speed and memory figure of the service, side by side in one run.

Figures are set against references measured in the same run on the same machine (ratios survive a noisy
2-core VM; absolute numbers do not):

* readers: FRG-604RC day decode (< 0.2 s), the same day in each other format (IAGA-2002, CSV < 0.1 s),
  one simulated station-day (< 1 s);
* per served model, in process: the bare forward pass on every path (eager, eager channels-last, ONNX
  Runtime) at batch 1 and 16, and Grad-CAM's cost against the forward;
* per inference path (``--paths``, default ONNX Runtime then eager), the service as a real uvicorn process:
  resident memory when ready (the service and its decode workers), ``/predict`` p50 at 1 client (target
  <= 1.2 x the fastest in-process batch-1 forward; <= 14 ms for the default model) and throughput at 16
  clients against the in-process batch-16 forward, ``/predict`` with explain, ``/analyze`` of an FRG-604RC
  day and of the same day as IAGA-2002 against read + spectrograms + forward (target <= 1.5 x), and memory after
  the load;
* decode isolation (``PRECURSOR_DECODE_ISOLATION``): ``/analyze`` of both days and ``/predict`` with uploads
  read in a decode worker process against read in the service's process, alternating rounds (target: ``/analyze``
  <= 1.1 x), and the memory the worker adds;
* overload (first path only, ``--overload-s``): 64 clients posting ``/analyze`` with explain: no 5xx but
  503 with Retry-After, ``/livez`` p99 under 100 ms meanwhile, peak memory and memory 10 s after;
* station baselines (first path only): ``PUT /v2/stations/{code}/baseline`` of 7 simulated FRG-604RC days of one
  station (target <= 5 s), and ``/analyze`` of another day of it with its baseline against ``baseline=none``,
  alternating (target <= 1.1 x; with a baseline the day is answered by ``PRECURSOR_BASELINE_MODEL`` where it is
  served);
* the network (first path only): ``/analyze/network`` of 10 simulated station-days of the dense array (IAGA-2002)
  against the same 10 days posted one by one to ``/analyze``, alternating rounds (target <= 1.3 x);
  ``python -m benchmarks network`` runs only this.

``python -m benchmarks peer-store --out DIR`` writes a store whose model has the shape of the shared
harness's peers (convnext_atto, 224x224 RGB), for ``benchmarks/compare_peers.sh``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from app.settings import Settings
from model_store import (
    PACKAGED_STORE,
    InputSpec,
    LoadedModel,
    ModelRegistry,
    ModelStoreError,
    create_model,
    read_series,
)
from model_store.inference.backends import select_backend
from model_store.pipeline import plan_record, window_image
from model_store.png import image_to_png
from model_store.spectrogram import normalize
from model_store.stations import get_station

from .inprocess import backends, forward_times, grad_cam_cost, median_time
from .load import closed_loop, sequential
from .server import ROOT, LivezProber, RssSampler, Service

logger = logging.getLogger("benchmarks")
LUT = ROOT / "tests" / "data" / "S230101.LUT.gz"
PEER_MODEL = "peer"


# ---------------------------------------------------------------------------- the store
def peer_store(out: Path) -> Path:
    """A store whose one model has the peers' shape: convnext_atto, 224x224 RGB power input, 512-unit heads."""
    torch.manual_seed(0)
    registry = ModelRegistry(out)
    if PEER_MODEL not in registry.names():
        registry.save(create_model("convnext_atto", head_hidden=512).eval(), PEER_MODEL, input_spec=InputSpec(),
                      provenance={"trained_on": "untrained", "description": "benchmark: the shared harness's shape"},
                      make_default=True)
    return out


def _store() -> tuple[Path, str]:
    """The packaged store if its default model loads, else a temporary peer-shaped one (and say so)."""
    try:
        ModelRegistry(PACKAGED_STORE).load()
        return PACKAGED_STORE, "the packaged model store"
    except ModelStoreError as exc:
        logger.warning("packaged store unusable (%s): benchmarking an untrained peer-shaped model instead", exc)
        return peer_store(Path(tempfile.mkdtemp(prefix="bench-store-"))), f"untrained {PEER_MODEL} model ({exc})"


def _harness_medians(results: Path) -> dict[tuple[str, int], dict[str, float]]:
    """Per (peer, concurrency) of a shared-harness results folder: median req/s and p50 over its rounds."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for f in results.glob("*-c*.json"):
        r = json.loads(f.read_text())
        groups.setdefault((r["label"], int(r["concurrency"])), []).append(r)
    return {k: {"rps": float(np.median([r["rps"] for r in runs])),
                "p50_ms": float(np.median([r["latency_ms"]["p50"] for r in runs])), "rounds": len(runs)}
            for k, runs in groups.items()}


def peer_targets(store: Path, results: Path) -> dict[str, object]:
    """The serving targets of a peer-harness run (``benchmarks/compare_peers.sh`` calls this after it): the
    service against BentoML at 16 clients and against naive at 1 client, its resident memory against naive's,
    and its 1-client p50 against the in-process batch-1 forward of the same model on the path it served
    (measured here, right after the harness, on the same machine)."""
    loaded = ModelRegistry(store).load()
    config = Settings().inference_config()
    torch.set_num_threads(1)  # as served beside ONNX Runtime
    _, path = select_backend(loaded, config)
    forward = forward_times(loaded, config)
    forward_ms = forward["onnxruntime" if path.path == "onnxruntime" else "eager"]["batch1_ms"]
    med = _harness_medians(results)
    rss = {f.stem: float(v) for f in results.glob("*.rss")
           if (v := f.read_text().strip()).replace(".", "", 1).isdigit()}  # "-": not measured
    get = lambda peer, c, key: med.get((peer, c), {}).get(key)  # noqa: E731
    service_16, bento_16 = get("service", 16, "rps"), get("bentoml", 16, "rps")
    service_p50, naive_p50 = get("service", 1, "p50_ms"), get("naive", 1, "p50_ms")
    ratios = {
        "service / bentoml req/s at 16 clients (target >= 1.5)": _ratio(service_16, bento_16),
        f"service p50 at 1 client / in-process batch-1 forward on the {path.path} path (target <= 1.2)":
            _ratio(service_p50, forward_ms),
        "service p50 / naive p50 at 1 client (target <= 0.7)": _ratio(service_p50, naive_p50),
    }
    memory = None if "service" not in rss or "naive" not in rss else rss["service"] - rss["naive"]
    met = {
        "16_clients_at_least_1.5x_bentoml": service_16 is not None and bento_16 is not None and service_16 >= 1.5 * bento_16,
        "1_client_p50_within_1.2x_forward": _within(service_p50, None if forward_ms is None else 1.2 * forward_ms),
        "1_client_p50_within_0.7x_naive": _within(service_p50, None if naive_p50 is None else 0.7 * naive_p50),
        "rss_within_naive_plus_100_mb": memory is not None and memory <= 100,
    }
    return {"results": str(results), "path": path.path, "forward": forward, "forward_batch1_ms": forward_ms,
            "medians": {f"{peer} c{c}": v for (peer, c), v in sorted(med.items())}, "rss_mb": rss,
            "rss_mb_service_minus_naive": memory, "ratios": ratios, "targets_met": met,
            "machine": {"cores": os.cpu_count(), "cpu": torch.backends.cpu.get_cpu_capability()}}


# ---------------------------------------------------------------------------- readers
def _format_read_times(day) -> dict[str, float]:
    """Median read time of one 1-Hz day in each format the project writes (optional extras if installed)."""
    from training.writers import to_csv, to_iaga2002, to_imagcdf, to_miniseed

    writers = {"iaga2002": (to_iaga2002, None), "csv": (lambda s: to_csv(s, decimals=2), None),
               "imagcdf": (to_imagcdf, "cdflib"), "miniseed": (to_miniseed, "obspy")}
    times = {}
    for fmt, (writer, needs) in writers.items():
        if needs and importlib.util.find_spec(needs) is None:
            continue
        data = writer(day)
        times[fmt] = median_time(lambda: read_series(data), 5, warmup=1)
    return times


def readers() -> dict[str, object]:
    from training.simulate import SimConfig, World

    raw = LUT.read_bytes()
    world = World(SimConfig(days=1, stations=("LUT",)))
    return {
        "frg_day_decode_s": median_time(lambda: read_series(raw), 5, warmup=1),
        "day_read_s": _format_read_times(read_series(raw)),
        "sim_station_day_s": median_time(lambda: world.simulate_day(0, ["LUT"]), 5, warmup=1),
    }


# ---------------------------------------------------------------------------- in process
def _model_png(loaded: LoadedModel) -> bytes:
    """The model's image of the LUT day's first window (a station-relative model's against its own reference
    background, as /analyze makes it for a station without a baseline)."""
    spec, series = loaded.input_spec, read_series(LUT)
    known = get_station(series.station or "")
    background = loaded.reference_background(known.longitude if known else series.longitude)
    window = next(plan_record(series, spec, background=background).windows)
    return image_to_png(window_image(window, spec, background), spec)


ANALYZE_REQUESTS = 21  # per day and path, and repeats of each reference step: medians (5 moved by 10-25%)


def analyze_reference(loaded: LoadedModel, data: bytes, forward) -> dict[str, float]:
    """What ``/analyze`` of ``data`` cannot avoid: reading it and the forward pass of its windows; and,
    beside them, making its spectrograms."""
    spec = loaded.input_spec
    read_s = median_time(lambda: read_series(data), ANALYZE_REQUESTS, warmup=1)
    series = read_series(data)

    def spectrograms():  # the pipeline's windows and images (model_store.pipeline), without predicting
        plan = plan_record(series, spec)
        return [image for w in plan.windows if (image := window_image(w, spec)) is not None]

    images = spectrograms()
    x = torch.from_numpy(np.stack([normalize(img, spec) for img in images]))
    return {"windows": len(images), "read_s": read_s,
            "spectrograms_s": median_time(spectrograms, ANALYZE_REQUESTS, warmup=1),
            "forward_s": median_time(lambda: forward(x), ANALYZE_REQUESTS)}


# ---------------------------------------------------------------------------- the service
def _post_png(png: bytes, model: str, explain: bool = False):
    data = {"model": model, **({"explain": "true"} if explain else {})}
    files = {"file": ("w.png", png, "image/png")}
    return lambda client: client.post("/predict", files=files, data=data)


def _post_day(data: bytes, name: str, explain: bool = False):
    form = {"explain": "true"} if explain else {}
    return lambda client: client.post("/analyze", files={"file": (name, data, "application/octet-stream")}, data=form)


def overload(svc: Service, day: bytes, clients: int, seconds: float) -> dict[str, object]:
    """``clients`` posting ``/analyze`` with explain for ``seconds`` while ``/livez`` is probed and memory sampled."""
    with LivezProber(svc.base) as livez, RssSampler(svc) as rss:
        result = closed_loop(svc.base, _post_day(day, LUT.name, explain=True), clients, seconds, 0.0)
    time.sleep(10)  # idle: memory should go back near its level before the burst
    return {"clients": clients, "seconds": seconds, "analyze_explain": result,
            "livez_p50_ms": livez.percentile_ms(50), "livez_p99_ms": livez.percentile_ms(99),
            "livez_probes": len(livez.latencies), "rss_mb_peak": rss.peak, "rss_mb_idle_10s_after": svc.rss_mb()}


NETWORK_STATIONS = 10
NETWORK_ROUNDS = 5


def network_days(stations: int = NETWORK_STATIONS) -> list[tuple[str, bytes]]:
    """One simulated day of ``stations`` stations of the dense array, as IAGA-2002 files (coordinates in their
    headers), on a day with emissions at several of them."""
    from dataclasses import replace

    from training.config import load_yaml
    from training.simulate import SimConfig, World
    from training.writers import to_iaga2002

    sim = SimConfig.from_dict(load_yaml(ROOT / "configs" / "sim_dense_array.yaml")["simulator"])
    world = World(replace(sim, days=5))
    codes = list(world.stations)[:stations]
    return [(f"{c.lower()}{s.start:%Y%m%d}vsec.sec", to_iaga2002(s, world.stations[c].name))
            for c, s in world.simulate_day(3, codes).items()]


def network_bench(svc: Service, files: list[tuple[str, bytes]], rounds: int = NETWORK_ROUNDS) -> dict[str, object]:
    """``/analyze/network`` of the station-days against the same days posted one by one to ``/analyze``, in
    alternating rounds on the same service (target: network <= 1.3 x the single calls together)."""
    network_s, singles_s = [], []
    with httpx.Client(base_url=svc.base, timeout=300) as client:
        multi = [("files", (name, data, "text/plain")) for name, data in files]
        for k in range(rounds + 1):  # the first round warms both up
            t0 = time.perf_counter()
            r = client.post("/analyze/network", files=multi)
            t1 = time.perf_counter()
            if r.status_code != 200:
                raise RuntimeError(f"/analyze/network answered {r.status_code}: {r.text[:300]}")
            for name, data in files:
                one = client.post("/analyze", files={"file": (name, data, "text/plain")})
                if one.status_code != 200:
                    raise RuntimeError(f"/analyze answered {one.status_code}: {one.text[:300]}")
            t2 = time.perf_counter()
            if k:
                network_s.append(t1 - t0)
                singles_s.append(t2 - t1)
        stages = client.get("/metrics").text
    network, singles = float(np.median(network_s)), float(np.median(singles_s))
    network_stage = [line for line in stages.splitlines()
                     if line.startswith('precursor_stage_duration_seconds_sum{stage="network"}')]
    return {"stations": len(files), "rounds": rounds, "network_s": network_s, "singles_s": singles_s,
            "network_median_s": network, "singles_median_s": singles, "ratio": network / singles,
            "network_stage_s_total": float(network_stage[0].split()[-1]) if network_stage else None}


BASELINE_DAYS = 7
BASELINE_ROUNDS = 3


def baseline_days(code: str = "LUT", days: int = BASELINE_DAYS + 1) -> list[tuple[str, bytes]]:
    """``days`` simulated days of one BMKG station as FRG-604RC files (the first ``days - 1`` make its baseline,
    the last is analysed)."""
    from dataclasses import replace

    from training.config import load_yaml
    from training.simulate import SimConfig, World
    from training.writers import to_frg604rc

    sim = SimConfig.from_dict(load_yaml(ROOT / "configs" / "sim_default.yaml")["simulator"])
    world = World(replace(sim, days=days))
    out = []
    for d in range(days):
        s = world.simulate_day(d, [code])[code]
        out.append((f"S{s.start:%y%m%d}.{code}", to_frg604rc(s)))
    return out


def baseline_bench(svc: Service, files: list[tuple[str, bytes]], requests: int = ANALYZE_REQUESTS) -> dict[str, object]:
    """A station's baseline made from its days through ``PUT /v2/stations/{code}/baseline`` (median of
    ``BASELINE_ROUNDS``; each makes a new version), then ``/analyze`` of another day with and without it, in
    alternating requests on the same service (targets: <= 5 s; <= 1.1 x)."""
    *made_of, (name, day) = files
    code = name.rsplit(".", 1)[-1]
    put_s: list[float] = []
    with httpx.Client(base_url=svc.base, timeout=300) as client:
        multi = [("files", (n, data, "application/octet-stream")) for n, data in made_of]
        for _ in range(BASELINE_ROUNDS):
            t0 = time.perf_counter()
            r = client.put(f"/v2/stations/{code}/baseline", files=multi)
            put_s.append(time.perf_counter() - t0)
            if r.status_code != 201:
                raise RuntimeError(f"PUT baseline answered {r.status_code}: {r.text[:300]}")
        times: dict[str, list[float]] = {"latest": [], "none": []}
        answered_by: dict[str, str] = {}
        for k in range(2 * requests + 2):  # the first of each warms up
            choice = ("latest", "none")[k % 2]
            t0 = time.perf_counter()
            r = client.post("/analyze", files={"file": (name, day, "application/octet-stream")},
                            data={"baseline": choice})
            elapsed = time.perf_counter() - t0
            if r.status_code != 200:
                raise RuntimeError(f"/analyze (baseline={choice}) answered {r.status_code}: {r.text[:300]}")
            body = r.json()
            answered_by[choice] = f"{body['model']['name']}:{body['model']['version']}"
            if k >= 2:
                times[choice].append(elapsed * 1000)
    with_p50, without_p50 = float(np.median(times["latest"])), float(np.median(times["none"]))
    return {"station": code, "days": len(made_of), "put_s": put_s, "put_median_s": float(np.median(put_s)),
            "analyze_with_baseline_p50_ms": with_p50, "analyze_without_baseline_p50_ms": without_p50,
            "ratio": with_p50 / without_p50, "answered_by": answered_by}


def served(store: Path, path: str, models: dict[str, LoadedModel], pngs: dict[str, bytes], days: dict[str, bytes],
           args: argparse.Namespace, with_overload: bool) -> dict[str, object]:
    stations = tempfile.TemporaryDirectory(prefix="bench-stations-")
    env = {"PRECURSOR_MODEL_STORE": str(store), "PRECURSOR_INFERENCE_PATH": path,
           "PRECURSOR_STATION_STORE": stations.name}
    out: dict[str, object] = {}
    with stations, Service(env) as svc:
        out["rss_mb_ready"] = svc.rss_mb()
        with httpx.Client(base_url=svc.base, timeout=120) as client:
            out["inference"] = {ref: client.get(f"/v2/models/{ref}").json().get("inference") for ref in models}
            per_model = {}
            for ref, png in pngs.items():
                per_model[ref] = {
                    "predict_1_client": sequential(client, _post_png(png, ref), args.requests),
                    "predict_explain_1_client": sequential(client, _post_png(png, ref, explain=True), 30),
                }
            for name, data in days.items():
                out[f"analyze_{name}"] = sequential(client, _post_day(data, name), ANALYZE_REQUESTS)
        for ref, png in pngs.items():
            post = _post_png(png, ref)
            per_model[ref][f"predict_{args.clients}_clients"] = closed_loop(svc.base, post, args.clients, args.duration)
        out["models"] = per_model
        if with_overload:  # the first path: baselines, and /analyze/network against the single calls
            out["baseline"] = baseline_bench(svc, baseline_days())
            out["network"] = network_bench(svc, network_days(), args.network_rounds)
        out["rss_mb_after_load"] = svc.rss_mb()
        time.sleep(5)
        out["rss_mb_idle_5s_after_load"] = svc.rss_mb()
        if with_overload and args.overload_s > 0:
            out["overload"] = overload(svc, days["frg604rc"], args.overload_clients, args.overload_s)
    return out


ISOLATION_ROUNDS = 3


def isolation_cost(store: Path, pngs: dict[str, bytes], days: dict[str, bytes], requests: int) -> dict[str, object]:
    """``/analyze`` of each day and ``/predict`` (1 client) with uploads read in a decode worker process and read
    in the service's own process, in alternating rounds on the same machine (``PRECURSOR_DECODE_ISOLATION``)."""
    out: dict[str, dict[str, list[float]]] = {"isolated": {}, "in_process": {}}
    rss: dict[str, list[float]] = {"isolated": [], "in_process": []}
    for _ in range(ISOLATION_ROUNDS):
        for mode, flag in (("isolated", "true"), ("in_process", "false")):
            with Service({"PRECURSOR_MODEL_STORE": str(store), "PRECURSOR_DECODE_ISOLATION": flag}) as svc:
                rss[mode].append(svc.rss_mb())
                with httpx.Client(base_url=svc.base, timeout=120) as client:
                    for name, data in days.items():
                        p50 = sequential(client, _post_day(data, name), ANALYZE_REQUESTS)["p50_ms"]
                        out[mode].setdefault(f"analyze_{name}_p50_ms", []).append(p50)
                    for ref, png in pngs.items():
                        p50 = sequential(client, _post_png(png, ref), requests)["p50_ms"]
                        out[mode].setdefault(f"predict_{ref}_p50_ms", []).append(p50)
    medians = {mode: {k: float(np.median(v)) for k, v in figures.items()} for mode, figures in out.items()}
    return {"rounds": ISOLATION_ROUNDS, "per_round": out, "median": medians,
            "rss_mb_ready": {mode: float(np.median(v)) for mode, v in rss.items()}}


# ---------------------------------------------------------------------------- ratios and targets
def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _within(a: float | None, limit: float | None) -> bool:
    return a is not None and limit is not None and a <= limit


def ratios(results: dict, default_ref: str) -> tuple[dict, dict]:
    r: dict[str, float | None] = {}
    met: dict[str, bool] = {}
    inproc = results["in_process"]
    clients = f"predict_{results['args']['clients']}_clients"
    for path, run in results["served"].items():
        for ref, figures in run["models"].items():
            forwards = inproc[ref]["forward"]
            fastest_b1 = min(f["batch1_ms"] for f in forwards.values())
            best_b16 = max(f["batch16_images_per_s"] for f in forwards.values())
            p50 = figures["predict_1_client"]["p50_ms"]
            key = f"{path}/{ref}"
            r[f"{key}: predict p50 / fastest in-process batch-1 forward (target <= 1.2)"] = _ratio(p50, fastest_b1)
            r[f"{key}: {clients} throughput / in-process batch-16 forward"] = _ratio(figures[clients]["ok_per_s"], best_b16)
            r[f"{key}: predict explain p50 / predict p50"] = _ratio(figures["predict_explain_1_client"]["p50_ms"], p50)
            met[f"{key}: predict_p50_within_1.2x_forward"] = _within(p50, 1.2 * fastest_b1)
            if ref == default_ref:
                met[f"{key}: default_model_predict_p50_under_14ms"] = _within(p50, 14.0)
        for fmt, ref_times in results["analyze_reference"].items():
            served_s = run[f"analyze_{fmt}"]["p50_ms"] / 1000
            base = ref_times["read_s"] + ref_times["forward_s"]
            whole = base + ref_times["spectrograms_s"]
            r[f"{path}: analyze {fmt} day / (read + forward)"] = _ratio(served_s, base)
            r[f"{path}: analyze {fmt} day / (read + spectrograms + forward) (target <= 1.5)"] = _ratio(served_s, whole)
            met[f"{path}: analyze_{fmt}_within_1.5x_read_spectrograms_forward"] = _within(served_s, 1.5 * whole)
        if "network" in run:
            ratio = run["network"]["ratio"]
            r[f"{path}: /analyze/network of {run['network']['stations']} station-days / as many /analyze (target <= 1.3)"] = ratio
            met[f"{path}: network_within_1.3x_single_analyze_calls"] = _within(ratio, 1.3)
        if "baseline" in run:
            b = run["baseline"]
            r[f"{path}: /analyze with a station baseline / without (target <= 1.1)"] = b["ratio"]
            met[f"{path}: analyze_with_baseline_within_1.1x_without"] = _within(b["ratio"], 1.1)
            met[f"{path}: baseline_of_{b['days']}_frg_days_under_5s"] = _within(b["put_median_s"], 5.0)
        if "overload" in run:
            o = run["overload"]
            met[f"{path}: overload_no_5xx_but_503_with_retry_after"] = (
                o["analyze_explain"]["5xx_other_than_503"] == 0 and o["analyze_explain"]["503_without_retry_after"] == 0)
            met[f"{path}: overload_livez_p99_under_100ms"] = _within(o["livez_p99_ms"], 100.0)
    if {"onnx", "eager"} <= set(results["served"]):
        fast, slow = results["served"]["onnx"], results["served"]["eager"]
        for ref in fast["models"]:
            r[f"{ref}: eager p50 / onnx p50"] = _ratio(slow["models"][ref]["predict_1_client"]["p50_ms"],
                                                       fast["models"][ref]["predict_1_client"]["p50_ms"])
            r[f"{ref}: onnx / eager {clients} throughput"] = _ratio(fast["models"][ref][clients]["ok_per_s"],
                                                                   slow["models"][ref][clients]["ok_per_s"])
        r["rss_mb_ready: onnx - eager"] = fast["rss_mb_ready"] - slow["rss_mb_ready"]
    for name, t in inproc.items():
        r[f"{name}: in-process Grad-CAM / forward"] = t["grad_cam"]["explain_over_predict"]
    iso = results.get("isolation")
    if iso:
        on, off = iso["median"]["isolated"], iso["median"]["in_process"]
        for key in on:
            r[f"decode isolation: {key.removesuffix('_p50_ms')} p50 isolated / in process"] = _ratio(on[key], off[key])
            if key.startswith("analyze_"):
                met[f"decode isolation: {key.removesuffix('_p50_ms')}_within_1.1x_in_process"] = _within(on[key], 1.1 * off[key])
        r["decode isolation: rss_mb_ready isolated - in process"] = (iso["rss_mb_ready"]["isolated"]
                                                                      - iso["rss_mb_ready"]["in_process"])
    rd = results["readers"]
    met["frg_decode_under_0.2s"] = rd["frg_day_decode_s"] < 0.2
    met["iaga2002_and_csv_day_under_0.1s"] = max(rd["day_read_s"]["iaga2002"], rd["day_read_s"]["csv"]) < 0.1
    met["sim_station_day_under_1s"] = rd["sim_station_day_s"] < 1.0
    return r, met


# ---------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(2)
    settings = Settings()
    config = settings.inference_config()
    store, store_note = _store()
    registry = ModelRegistry(store)
    default_ref = registry.manifest().ref
    refs = [default_ref] + [registry.manifest(n).ref for n in registry.names() if registry.manifest(n).ref != default_ref]
    models = {ref: registry.load(ref) for ref in refs}
    results: dict[str, object] = {
        "args": vars(args), "store": store_note, "default_model": default_ref,
        "machine": {"cores": os.cpu_count(), "torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability(),
                    "onnxruntime": _version("onnxruntime")},
    }
    logger.info("readers")
    results["readers"] = readers()

    logger.info("in-process forward passes of %s", ", ".join(refs))
    inproc = {}
    for ref, loaded in models.items():
        backend, path = select_backend(loaded, config)  # the path the service would choose ...
        forward = forward_times(loaded, config)
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if path.path == "onnxruntime" else settings.torch_threads)  # ... with its torch threads
        inproc[ref] = {"forward": forward, "grad_cam": {**grad_cam_cost(loaded, backend), "path": path.path,
                                                        "torch_threads": torch.get_num_threads()}}
        torch.set_num_threads(threads)
    results["in_process"] = inproc

    raw = LUT.read_bytes()
    from training.writers import to_iaga2002

    days = {"frg604rc": raw, "iaga2002": to_iaga2002(read_series(raw))}
    default = models[default_ref]
    fastest = min(backends(default, config).items(), key=lambda kv: inproc[default_ref]["forward"][kv[0]]["batch1_ms"])
    results["analyze_reference"] = {
        name: {**analyze_reference(default, data, fastest[1].forward), "forward_path": fastest[0]}
        for name, data in days.items()
    }
    pngs = {ref: _model_png(loaded) for ref, loaded in models.items()}
    if args.isolation:
        logger.info("decode isolation on and off, %d alternating rounds", ISOLATION_ROUNDS)
        results["isolation"] = isolation_cost(store, pngs, days, args.requests // 2)
    results["served"] = {}
    for k, path in enumerate(args.paths.split(",")):
        logger.info("serving on the %s path", path)
        results["served"][path] = served(store, path, models, pngs, days, args, with_overload=k == 0)
    return results


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    return getattr(__import__(module), "__version__", "unknown")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    store_cmd = sub.add_parser("peer-store", help="write a store whose model has the peers' shape")
    store_cmd.add_argument("--out", required=True, type=Path)
    targets_cmd = sub.add_parser("peer-targets", help="the serving targets of a peer-harness results folder")
    targets_cmd.add_argument("--store", required=True, type=Path, help="the store the service served")
    targets_cmd.add_argument("--results", required=True, type=Path, help="the harness's results folder")
    net_cmd = sub.add_parser("network", help="only /analyze/network of 10 station-days against 10 /analyze calls")
    net_cmd.add_argument("--path", default="onnx", help="the inference path to serve")
    base_cmd = sub.add_parser("baseline", help="only a station baseline of 7 FRG days, and /analyze with and without it")
    base_cmd.add_argument("--path", default="onnx", help="the inference path to serve")
    parser.add_argument("--network-rounds", type=int, default=NETWORK_ROUNDS,
                        help="rounds of /analyze/network against the single /analyze calls")
    parser.add_argument("--requests", type=int, default=200, help="1-client /predict requests per model")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop clients for the throughput figure")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured at --clients")
    parser.add_argument("--paths", default="onnx,eager", help="inference paths to serve, in order")
    parser.add_argument("--overload-clients", type=int, default=64)
    parser.add_argument("--overload-s", type=float, default=60.0, help="0 skips the overload run")
    parser.add_argument("--no-isolation", dest="isolation", action="store_false",
                        help="skip the side-by-side of decode isolation on and off")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    if args.command == "peer-store":
        print(peer_store(args.out))
        return 0
    if args.command == "peer-targets":
        result = peer_targets(args.store, args.results)
        text = json.dumps(result, indent=2)
        (args.results / "targets.json").write_text(text + "\n")
        print(text)
        return 0
    if args.command in ("network", "baseline"):
        store, note = _store()
        with tempfile.TemporaryDirectory(prefix="bench-stations-") as stations, Service(
                {"PRECURSOR_MODEL_STORE": str(store), "PRECURSOR_INFERENCE_PATH": args.path,
                 "PRECURSOR_STATION_STORE": stations}) as svc:
            figures = (network_bench(svc, network_days(), args.network_rounds) if args.command == "network"
                       else baseline_bench(svc, baseline_days()))
            result = {"store": note, "path": args.path, "machine": {"cores": os.cpu_count()}, **figures}
        print(json.dumps(result, indent=2))
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        return 0
    results = run(args)
    if args.out:  # the measurements are kept even if a ratio below cannot be formed
        Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    results["ratios"], results["targets_met"] = ratios(results, results["default_model"])
    text = json.dumps(results, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
