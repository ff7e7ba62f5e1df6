"""Real backgrounds: the quiet-day sanity check and injection-recovery curves.

The simulator is ours, so a model can be tuned to it. Real records are the check that does not depend
on it: (1) the real quiet days in the repository must raise no alarm; (2) simulated emissions of known
received amplitude and bearing, added to those real days with the simulator's own polarisation
(:func:`training.simulate.polarised`), measure how often the model raises an alarm and how well it finds
the bearing against the amplitude, on backgrounds it never saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from model_store import LoadedModel, read_series
from model_store.pipeline import plan_record
from model_store.spectrogram import quantize, window_to_image
from model_store.stations import get_station

from .evaluate import ServedOutputs, angular_errors, sector_of
from .simulate import SimConfig, band_noise, emission_band, polarised
from .train import predict_raw

logger = logging.getLogger(__name__)

AMPLITUDES_NT = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
BEARINGS_PER_AMPLITUDE = 48


@dataclass
class RealWindow:
    source: str
    station: str
    start: str
    data: np.ndarray  # (3, n) H, D, Z at the spec's sampling, short gaps interpolated
    background_db: np.ndarray | None = None  # a station-relative model: the background of the window's time of day


def real_windows(paths: Sequence[str | Path], model: LoadedModel) -> list[RealWindow]:
    """The usable windows of real station files as the window pipeline cuts them; a station-relative model's
    against its own reference background (these stations have no baseline here)."""
    spec = model.input_spec
    out = []
    for path in paths:
        series = read_series(path)
        known = get_station(series.station) if series.station else None
        background = model.reference_background(known.longitude if known else series.longitude)
        for w in plan_record(series, spec, background=background).windows:
            if w.data is not None:
                out.append(RealWindow(Path(path).name, series.station, w.start.isoformat(), w.data,
                                      background.rows_for(w.start) if background else None))
    return out


def _serve(model: LoadedModel, windows: list[RealWindow], data: list[np.ndarray] | None = None) -> ServedOutputs:
    """The served outputs of windows (or of ``data`` replacing their samples, e.g. with an injected emission)."""
    spec = model.input_spec
    samples = data if data is not None else [w.data for w in windows]
    images = np.stack([np.rint(quantize(window_to_image(d, spec, w.background_db)) * 255).astype(np.uint8)
                       for d, w in zip(samples, windows)])
    raw = predict_raw(model.model, images, spec)
    return ServedOutputs.from_raw(raw, model.manifest.calibration, model.model.config.azimuth_head)


def quiet_days(model: LoadedModel, windows: list[RealWindow]) -> dict[str, Any]:
    """Every real window as the service would score it; the check is that none raises an alarm."""
    served = _serve(model, windows)
    p_event, alarm = served.precursor_probability, served.alarm
    return {
        "windows": [{"source": w.source, "station": w.station, "start": w.start, "precursor_probability": float(p),
                     "alarm": bool(a)} for w, p, a in zip(windows, p_event, alarm)],
        "alarms": int(alarm.sum()),
        "max_precursor_probability": float(p_event.max()) if len(p_event) else None,
        "alarm_threshold": float(served.alarm_threshold[0]) if len(p_event) else None,
    }


def injection_recovery(model: LoadedModel, windows: list[RealWindow], sim: SimConfig, seed: int = 0,
                       amplitudes: Sequence[float] = AMPLITUDES_NT,
                       bearings_per_amplitude: int = BEARINGS_PER_AMPLITUDE) -> list[dict[str, Any]]:
    """Alarm rate and direction against the received amplitude of emissions injected into real windows.

    Each injected emission is band-limited noise in a random sub-band of the simulator's emission band,
    with RMS ``amplitude`` over the window, a random bearing and a Z/H ratio drawn from the simulator's range.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for amplitude in amplitudes:
        data, bearings, used = [], [], []
        for k in range(bearings_per_amplitude):
            w = windows[k % len(windows)]
            bearing = (360.0 * k / bearings_per_amplitude + rng.uniform(0, 360.0 / bearings_per_amplitude)) % 360
            n = w.data.shape[1]
            p = amplitude * band_noise(rng, n, emission_band(rng, sim))
            zh = rng.uniform(*sim.zh_ratio)
            data.append(w.data + np.stack(polarised(p, bearing, zh)))
            bearings.append(bearing)
            used.append(w)
        served = _serve(model, used, data)
        p_event = served.precursor_probability
        true = np.asarray(bearings)
        errors = angular_errors(served.bearing, true)
        rows.append({
            "amplitude_nt": amplitude, "n": len(data),
            "alarm_rate": float(served.alarm.mean()),
            "mean_precursor_probability": float(p_event.mean()),
            "sector_accuracy": float((sector_of(served.bearing) == sector_of(true)).mean()),
            "median_angular_error_deg": float(np.median(errors)),
        })
        logger.info("injected %.3g nT into real windows: alarm rate %.2f, sector accuracy %.2f", amplitude,
                    rows[-1]["alarm_rate"], rows[-1]["sector_accuracy"])
    return rows


def run(model: LoadedModel, paths: Sequence[str | Path], sim: SimConfig, seed: int = 0) -> dict[str, Any]:
    windows = real_windows(paths, model)
    if not windows:
        raise ValueError("no usable window in the real files given")
    return {"model": model.manifest.ref, "files": [Path(p).name for p in paths],
            "quiet_days": quiet_days(model, windows), "injection_recovery": injection_recovery(model, windows, sim, seed)}


__all__ = ["AMPLITUDES_NT", "injection_recovery", "quiet_days", "real_windows", "run"]
