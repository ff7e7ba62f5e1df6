"""``python -m benchmarks`` (``make bench``): speed and memory targets, measured side by side in one run.

Targets (ratios, so that a noisy 2-core machine still gives a fair answer):
* FRG-604RC day decode well under 0.2 s; one simulated station-day well under 1 s.
* reading one 1-Hz day in every other format (the LUT day written by training.writers): IAGA-2002 and
  CSV well under 0.1 s.
* /predict p50 latency <= 1.5 x the bare model forward pass (batch 1) measured in the same run.
* /analyze of a full 1-Hz day <= 2 x (decode + 4 windows of model time).
* resident memory of the serving process with the default model < 1.5 GB.
The service runs as a real uvicorn subprocess on 127.0.0.1; requests are bounded in number.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from model_store import PACKAGED_STORE, InputSpec, ModelRegistry, create_model, read_series
from model_store.spectrogram import cut_windows, image_to_png, normalize, quantize, window_to_image

ROOT = Path(__file__).resolve().parent.parent
LUT = ROOT / "tests" / "data" / "S230101.LUT.gz"


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _store() -> tuple[Path, str]:
    reg = ModelRegistry(PACKAGED_STORE)
    try:
        return PACKAGED_STORE, reg.manifest().ref
    except Exception:  # no committed model: benchmark an untrained convnext_atto instead, and say so
        tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
        ModelRegistry(tmp).save(create_model("convnext_atto"), "untrained-atto", input_spec=InputSpec(),
                                provenance={"trained_on": "untrained"})
        return tmp, "untrained-atto:1 (no default model committed)"


def _format_read_times(day) -> dict[str, float]:
    """Median read time of one 1-Hz day in each format the project writes (optional extras if installed)."""
    import importlib.util

    from training.writers import to_csv, to_iaga2002, to_imagcdf, to_miniseed

    writers = {"iaga2002": (to_iaga2002, None), "csv": (lambda s: to_csv(s, decimals=2), None),
               "imagcdf": (to_imagcdf, "cdflib"), "miniseed": (to_miniseed, "obspy")}
    times = {}
    for fmt, (writer, needs) in writers.items():
        if needs and importlib.util.find_spec(needs) is None:
            continue
        data = writer(day)
        times[fmt] = _median_time(lambda: read_series(data), 5)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results: dict[str, object] = {}

    # ---- readers and simulator
    raw = LUT.read_bytes()
    results["frg_day_decode_s"] = _median_time(lambda: read_series(raw), 5)
    results["day_read_s"] = _format_read_times(read_series(raw))
    from training.simulate import SimConfig, World

    world = World(SimConfig(days=1, stations=("LUT",)))
    results["sim_station_day_s"] = _median_time(lambda: world.simulate_day(0, ["LUT"]), 5)

    # ---- bare model, same weights the server will load
    store, ref = _store()
    loaded = ModelRegistry(store).load(ref.split(" ")[0])
    spec = loaded.input_spec
    series = read_series(raw)
    windows = cut_windows(series, spec)
    images = [quantize(window_to_image(w.data, spec)) for w in windows]
    x1 = torch.from_numpy(normalize(images[0], spec)[None])
    x4 = torch.from_numpy(np.stack([normalize(i, spec) for i in images]))
    with torch.no_grad():
        for _ in range(3):
            loaded.model(x1)
        results["model_forward_b1_s"] = _median_time(lambda: loaded.model(x1), 20)
        results["model_forward_4windows_s"] = _median_time(lambda: loaded.model(x4), 5)

    # ---- the service as a real process
    port = _free_port()
    env = {**os.environ, "PRECURSOR_MODEL_STORE": str(store), "PRECURSOR_MODEL": ref.split(" ")[0],
           "PRECURSOR_LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise RuntimeError("service did not become ready")
            png = image_to_png(images[0])
            lat = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                r = client.post("/predict", files={"file": ("w.png", png, "image/png")})
                lat.append(time.perf_counter() - t0)
                r.raise_for_status()
            results["predict_p50_s"] = statistics.median(lat)
            an = []
            for _ in range(5):
                t0 = time.perf_counter()
                client.post("/analyze", files={"file": (LUT.name, raw, "application/octet-stream")}).raise_for_status()
                an.append(time.perf_counter() - t0)
            results["analyze_day_p50_s"] = statistics.median(an)
            results["server_rss_mb"] = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    results["model"] = ref
    results["ratios"] = {
        "predict_over_forward (target <= 1.5)": results["predict_p50_s"] / results["model_forward_b1_s"],
        "analyze_over_decode_plus_4_windows (target <= 2)":
            results["analyze_day_p50_s"] / (results["frg_day_decode_s"] + results["model_forward_4windows_s"]),
    }
    results["targets_met"] = {
        "frg_decode_under_0.2s": results["frg_day_decode_s"] < 0.2,
        "iaga2002_and_csv_day_under_0.1s": max(results["day_read_s"]["iaga2002"], results["day_read_s"]["csv"]) < 0.1,
        "sim_station_day_under_1s": results["sim_station_day_s"] < 1.0,
        "predict_ratio": list(results["ratios"].values())[0] <= 1.5,
        "analyze_ratio": list(results["ratios"].values())[1] <= 2.0,
        "rss_under_1.5GB": results["server_rss_mb"] < 1536,
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
