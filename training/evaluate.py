"""Scoring a model's served outputs on a set of windows: what each head knows, against what it claims.

Everything is computed from the *served* outputs (composed and calibrated as in
:mod:`model_store.outputs`), so the numbers describe what a user of the service gets:

* detection: ROC AUC of P(event) for event vs Normal windows, and the alarm's detection and
  false-alarm rates at the model's operating point;
* magnitude and azimuth labels (the service's decision rule: Normal when P(event) < 0.5);
* magnitude given an event (3 classes, event windows only) and azimuth given an event: sector accuracy,
  median angular error of the served bearing (von Mises mean, or the sector centre), +/-45 degree hit
  rate, each with a 95% bootstrap interval over events; for the bearing head also each part alone
  (the non-learned direction finder, the learnt correction);
* calibration: ECE (10 bins) of every served distribution, before and after temperature scaling;
* where ground truth gives the received emission amplitude, detection and sector accuracy by amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from model_store import Calibration
from model_store.compass import N_SECTORS, sector_centre_deg, sector_index, vector_bearing_deg
from model_store.geodesy import angular_difference_deg
from model_store.labels import TASKS
from model_store.outputs import decide, serve
from model_store.stats import grouped_bootstrap_ci

from .calibrate import reliability, uncalibrated
from .metrics import task_report

AMPLITUDE_BINS_NT = (0.0, 1e-6, 0.02, 0.05, 0.1, 0.2, 0.5, np.inf)
KP_BINS = ((0.0, 3.0, "Kp<3"), (3.0, 5.0, "3<=Kp<5"), (5.0, 10.0, "Kp>=5 (storm)"))
sector_of = sector_index  # the compass sector (0 = N) of bearings


def angular_errors(pred_deg: np.ndarray, true_deg: np.ndarray) -> np.ndarray:
    return np.array([angular_difference_deg(a, b) for a, b in zip(pred_deg, true_deg)])


@dataclass
class ServedOutputs:
    """A model's served outputs on some windows (per window, so folds with their own calibration pool)."""

    probabilities: dict[str, np.ndarray]
    probabilities_uncalibrated: dict[str, np.ndarray]
    alarm_threshold: np.ndarray  # (N,)
    expected_false_alarm_rate: np.ndarray  # (N,) at that threshold on the Normals it was chosen on
    bearing: np.ndarray  # (N,) served bearing given an event, degrees
    bearing_parts: dict[str, np.ndarray]  # bearing head only: each part alone

    @classmethod
    def from_raw(cls, raw: dict[str, np.ndarray], calibration: Calibration, azimuth_head: str) -> ServedOutputs:
        """What :func:`model_store.outputs.serve` serves for ``raw`` (and, for the before/after calibration
        comparison, what it serves without temperatures); the sector head's bearing given an event is the
        centre of its most probable sector."""
        tensors = {k: torch.from_numpy(v) for k, v in raw.items()}
        served = serve(tensors, calibration, azimuth_head)
        before = serve(tensors, uncalibrated(calibration), azimuth_head).probabilities
        probs = served.probabilities
        n = len(probs["magnitude"])
        parts: dict[str, np.ndarray] = {}
        if served.bearing_deg is not None:
            bearing = served.bearing_deg
            parts["fused"] = bearing
            if "physics" in raw:
                parts["direction finder (not learnt)"] = vector_bearing_deg(raw["physics"][:, 0], raw["physics"][:, 1])
        else:
            bearing = sector_centre_deg(probs["azimuth"][:, :N_SECTORS].argmax(axis=1))
        expected = calibration.alarm_expected_false_alarm_rate
        return cls(probs, before, np.full(n, calibration.alarm_threshold),
                   np.full(n, np.nan if expected is None else expected), bearing, parts)

    @property
    def precursor_probability(self) -> np.ndarray:
        """P(event) of each window, as :func:`model_store.outputs.decide` reads it from the served probabilities."""
        return decide(self.probabilities, Calibration()).precursor_probability

    @property
    def alarm(self) -> np.ndarray:
        """Each window's alarm at its own operating point (pooled folds each bring their calibration's)."""
        return self.precursor_probability >= self.alarm_threshold

    def subset(self, idx: np.ndarray) -> ServedOutputs:
        pick = lambda d: {k: v[idx] for k, v in d.items()}  # noqa: E731
        return ServedOutputs(pick(self.probabilities), pick(self.probabilities_uncalibrated),
                             self.alarm_threshold[idx], self.expected_false_alarm_rate[idx], self.bearing[idx],
                             pick(self.bearing_parts))

    @classmethod
    def concat(cls, parts: Sequence[ServedOutputs]) -> ServedOutputs:
        join = lambda key: {k: np.concatenate([getattr(p, key)[k] for p in parts]) for k in getattr(parts[0], key)}  # noqa: E731
        return cls(join("probabilities"), join("probabilities_uncalibrated"),
                   np.concatenate([p.alarm_threshold for p in parts]),
                   np.concatenate([p.expected_false_alarm_rate for p in parts]),
                   np.concatenate([p.bearing for p in parts]), join("bearing_parts"))


def bootstrap(values: np.ndarray, groups: Sequence[str], stat: Callable[[np.ndarray], float], n_boot: int = 500,
              seed: int = 0) -> list[float] | None:
    """95% percentile interval of ``stat`` over resamples of whole groups (:mod:`model_store.stats`)."""
    interval = grouped_bootstrap_ci(groups, lambda idx: stat(values[idx]), n_boot, seed)
    return None if interval is None else list(interval)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Probability that a random positive scores above a random negative, ties counting half
    (:func:`sklearn.metrics.roc_auc_score`); None without both positives and negatives."""
    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        return None
    return float(roc_auc_score(positive, scores))


def direction_metrics(pred_deg: np.ndarray, true_deg: np.ndarray, groups: Sequence[str], n_boot: int) -> dict[str, Any]:
    """Sector accuracy, median angular error and +/-45 degree hit rate with bootstrap intervals over events."""
    if len(true_deg) == 0:
        return {"n": 0}
    hit = (sector_of(pred_deg) == sector_of(true_deg)).astype(float)
    err = angular_errors(pred_deg, true_deg)
    return {
        "n": int(len(true_deg)),
        "sector_accuracy": float(hit.mean()),
        "sector_accuracy_ci95": bootstrap(hit, groups, np.mean, n_boot),
        "median_angular_error_deg": float(np.median(err)),
        "median_angular_error_ci95": bootstrap(err, groups, np.median, n_boot),
        "hit_rate_45deg": float((err <= 45.0).mean()),
        "hit_rate_45deg_ci95": bootstrap((err <= 45.0).astype(float), groups, np.mean, n_boot),
    }


def _floats(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows])


def headline(scored: dict[str, Any]) -> dict[str, Any]:
    """The few numbers of a :func:`score` result that a manifest and a summary carry."""
    return {
        "detection_auc": scored["detection"]["auc"],
        "alarm": {k: scored["detection"].get(k) for k in ("alarm_detection_rate", "alarm_false_alarm_rate",
                                                          "alarm_expected_false_alarm_rate")},
        "magnitude_given_event": {k: scored["magnitude_given_event"][k] for k in ("accuracy", "balanced_accuracy")},
        "azimuth_given_event": {k: scored["azimuth_given_event"].get(k) for k in
                                ("sector_accuracy", "median_angular_error_deg", "hit_rate_45deg")},
    }


def score(rows: list[dict[str, str]], magnitude: np.ndarray, azimuth: np.ndarray, outputs: ServedOutputs,
          n_boot: int = 500) -> dict[str, Any]:
    """Every metric of the module docstring for windows ``rows`` with served targets (Normal last)."""
    is_event = np.array([r["kind"] == "event" for r in rows], dtype=bool)
    groups = [r["group_event"] for r in rows]
    probs = outputs.probabilities
    decisions = decide(probs, Calibration())  # labels do not depend on the operating point
    p_event = decisions.precursor_probability
    alarm = outputs.alarm
    report: dict[str, Any] = {"windows": len(rows), "event_windows": int(is_event.sum())}
    for task in TASKS:
        report[task] = task_report(magnitude if task == "magnitude" else azimuth, decisions.labels[task],
                                   TASKS[task], groups, is_event, n_boot=n_boot)
    normals = ~is_event
    report["detection"] = {
        "auc": roc_auc(p_event, is_event),
        "alarm_threshold": [float(outputs.alarm_threshold.min()), float(outputs.alarm_threshold.max())],
        "alarm_detection_rate": float(alarm[is_event].mean()) if is_event.any() else None,
        "alarm_false_alarm_rate": float(alarm[normals].mean()) if normals.any() else None,
        "alarm_expected_false_alarm_rate": (float(np.nanmean(outputs.expected_false_alarm_rate[normals]))
                                            if normals.any() and not np.isnan(outputs.expected_false_alarm_rate).all()
                                            else None),
        "label_event_recall": float((p_event[is_event] >= 0.5).mean()) if is_event.any() else None,
        "label_normal_recall": float((p_event[normals] < 0.5).mean()) if normals.any() else None,
    }
    # ---- given an event
    ev_groups = [g for g, e in zip(groups, is_event) if e]
    mag_cond = probs["magnitude"][is_event, :-1].argmax(axis=1)
    report["magnitude_given_event"] = task_report(
        magnitude[is_event], mag_cond, TASKS["magnitude"][:-1], ev_groups, np.ones(is_event.sum(), bool), n_boot=n_boot)
    true_bearing = _floats(rows, "bearing_deg")[is_event]
    ev_outputs = outputs.subset(np.flatnonzero(is_event))
    report["azimuth_given_event"] = direction_metrics(ev_outputs.bearing, true_bearing, ev_groups, n_boot)
    # log loss of the conditional distributions (chance: log 3 and log 8): a probability that claims more
    # than the evidence shows up here
    p_ev = np.clip(p_event[is_event], 1e-12, None)[:, None]
    for task, key in (("magnitude", "magnitude_given_event"), ("azimuth", "azimuth_given_event")):
        if is_event.any():
            conditional = probs[task][is_event, :-1] / p_ev
            target = (magnitude if task == "magnitude" else azimuth)[is_event]
            report[key]["log_loss"] = float(-np.mean(np.log(np.clip(conditional[np.arange(len(target)), target], 1e-12, None))))
            report[key]["chance_log_loss"] = float(np.log(conditional.shape[1]))
    report["azimuth_parts"] = {name: direction_metrics(b, true_bearing, ev_groups, n_boot // 2)
                               for name, b in ev_outputs.bearing_parts.items()}
    # ---- calibration
    det_true = is_event.astype(int)
    report["calibration"] = {
        "detection": {"before": reliability(1 - outputs.probabilities_uncalibrated["magnitude"][:, -1], det_true),
                      "after": reliability(p_event, det_true)},
        "magnitude": {"before": reliability(outputs.probabilities_uncalibrated["magnitude"], magnitude),
                      "after": reliability(probs["magnitude"], magnitude)},
        "azimuth": {"before": reliability(outputs.probabilities_uncalibrated["azimuth"], azimuth),
                    "after": reliability(probs["azimuth"], azimuth)},
    }
    # ---- by received emission amplitude (simulated ground truth) and by Kp
    amp = _floats(rows, "event_emission_nt")
    if is_event.any() and not np.isnan(amp[is_event]).all():
        hit = sector_of(ev_outputs.bearing) == sector_of(true_bearing)
        ev_amp = amp[is_event]
        bins = []
        for lo, hi in zip(AMPLITUDE_BINS_NT[:-1], AMPLITUDE_BINS_NT[1:]):
            m = (ev_amp >= lo) & (ev_amp < hi)
            if m.any():
                bins.append({"low_nt": lo, "high_nt": None if np.isinf(hi) else hi, "n": int(m.sum()),
                             "alarm_rate": float(alarm[is_event][m].mean()),
                             "sector_accuracy": float(hit[m].mean())})
        report["by_emission_amplitude"] = bins
        report["label_noise"] = {"event_windows_without_emission": float((ev_amp <= 1e-6).mean()),
                                 "event_windows_below_0.02_nT": float((ev_amp < 0.02).mean())}
        normal_amp = _floats(rows, "emission_nt")[normals]
        if normals.any():
            report["label_noise"]["normal_windows_with_emission"] = float((np.nan_to_num(normal_amp) > 1e-6).mean())
    kp = _floats(rows, "kp_max")
    report["by_kp"] = {}
    for lo, hi, name in KP_BINS:
        m = (kp >= lo) & (kp < hi)
        if m.any():
            report["by_kp"][name] = {
                "n": int(m.sum()),
                "detection_auc": roc_auc(p_event[m], is_event[m]),
                "false_alarm_rate": float(alarm[m & normals].mean()) if (m & normals).any() else None,
            }
    return report


__all__ = ["ServedOutputs", "bootstrap", "direction_metrics", "roc_auc", "score", "sector_of"]
