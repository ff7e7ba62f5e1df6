"""Calibration: temperature scaling per head and the alarm operating point, fitted on validation data.

Temperatures minimise each head's negative log-likelihood on validation windows (detection on all of
them, magnitude and sector logits on the event windows); the bearing head's confidence map (concentration
and outlier share as functions of the direction finder's quality and the detection logit) maximises the
likelihood of the validation event windows' true bearings. The alarm threshold is the (1 - target) quantile of
the calibrated P(event) over Normal windows that were not trained on (validation plus any held-out
calibration Normals), never below 0.5. Reliability is measured as the expected calibration error (ECE,
10 equal-width bins of the top-label confidence).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize, minimize_scalar

from model_store.outputs import (
    BEARING_FEATURES,
    MAX_LOG_CONCENTRATION,
    MIN_ALARM_THRESHOLD,
    Calibration,
    bearing_features,
)

ECE_BINS = 10
LOG_T_BOUNDS = (-3.0, 3.0)  # temperatures between 0.05 and 20
BEARING_MAP_RIDGE = 1e-3  # per squared unit of the confidence map's parameters


def _fit_temperature(nll) -> float:
    result = minimize_scalar(lambda log_t: float(nll(float(np.exp(log_t)))), bounds=LOG_T_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def fit_calibration(raw: dict[str, np.ndarray], is_event: np.ndarray, magnitude: np.ndarray, azimuth: np.ndarray,
                    bearing: np.ndarray, azimuth_head: str, normal_detection_logits: np.ndarray | None = None,
                    target_false_alarm_rate: float = 0.05, fitted_on: str = "validation") -> Calibration:
    """Temperatures from validation windows; the alarm threshold from their Normal windows plus
    ``normal_detection_logits`` (raw detection logits of further held-out Normal windows)."""
    if len(is_event) == 0 or is_event.all() or not is_event.any():
        return Calibration(fitted_on=f"{fitted_on}: not fitted (needs event and Normal windows)")
    det = torch.from_numpy(raw["detection"][:, 0]).double()
    y = torch.from_numpy(is_event.astype(np.float64))
    ev = torch.from_numpy(is_event)
    t_det = _fit_temperature(lambda t: F.binary_cross_entropy_with_logits(det / t, y))
    mag_logits = torch.from_numpy(raw["magnitude"][is_event]).double()
    mag_target = torch.from_numpy(magnitude[is_event])
    t_mag = _fit_temperature(lambda t: F.cross_entropy(mag_logits / t, mag_target)) if ev.any() else 1.0
    az = torch.from_numpy(raw["azimuth"][is_event]).double()
    t_az, bearing_map = 1.0, Calibration().bearing_map
    if azimuth_head == "bearing":
        bearing_map = fit_bearing_map(az, torch.from_numpy(raw["detection"][is_event, 0]), torch.from_numpy(bearing[is_event]))
    else:
        t_az = _fit_temperature(lambda t: F.cross_entropy(az / t, torch.from_numpy(azimuth[is_event])))
    normals = raw["detection"][~is_event, 0]
    if normal_detection_logits is not None:
        normals = np.concatenate([normals, normal_detection_logits])
    threshold = alarm_threshold(normals / t_det, target_false_alarm_rate)
    expected = float((1.0 / (1.0 + np.exp(-normals / t_det)) >= threshold).mean()) if len(normals) else None
    return Calibration(t_det, t_mag, t_az, bearing_map, threshold, target_false_alarm_rate, expected,
                       f"{fitted_on}: {len(is_event)} windows ({int(is_event.sum())} event), "
                       f"alarm threshold from {len(normals)} Normal windows")


def fit_bearing_map(raw_azimuth: torch.Tensor, detection_logit: torch.Tensor, true_bearing: torch.Tensor) -> tuple[float, ...]:
    """The bearing head's confidence map: maximum likelihood of the true bearings of validation event
    windows under the von Mises + uniform mixture (a weak ridge keeps it near the prior when few)."""
    features = bearing_features(raw_azimuth, detection_logit)
    start = np.asarray(Calibration().bearing_map)
    unit = raw_azimuth[:, :2].double()
    theta = torch.deg2rad(true_bearing.double())
    along = unit[:, 0] * torch.cos(theta) + unit[:, 1] * torch.sin(theta)  # cos(error)

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        p = torch.tensor(params, dtype=torch.float64, requires_grad=True)
        log_kappa = (features @ p[:BEARING_FEATURES]).clamp(max=MAX_LOG_CONCENTRATION)
        kappa = torch.exp(log_kappa)
        log_eps = F.logsigmoid(features @ p[BEARING_FEATURES:])
        log_vm = kappa * along - math.log(2 * math.pi) - torch.log(torch.special.i0e(kappa)) - kappa
        log_keep = torch.log1p(-log_eps.exp().clamp(max=1 - 1e-12))
        nll = -torch.logaddexp(log_keep + log_vm, log_eps - math.log(2 * math.pi)).mean()
        loss = nll + BEARING_MAP_RIDGE * ((p - torch.from_numpy(start)) ** 2).sum()
        (grad,) = torch.autograd.grad(loss, p)
        return float(loss), grad.numpy()

    result = minimize(objective, start, jac=True, method="L-BFGS-B")
    return tuple(float(v) for v in result.x)


def alarm_threshold(normal_logits: np.ndarray, target_false_alarm_rate: float) -> float:
    """Smallest P(event) threshold whose false-alarm rate on these Normal windows is at most the target."""
    if len(normal_logits) == 0:
        return MIN_ALARM_THRESHOLD
    p = 1.0 / (1.0 + np.exp(-np.asarray(normal_logits, dtype=np.float64)))
    q = float(np.quantile(p, 1.0 - target_false_alarm_rate, method="higher"))
    return float(min(1.0, max(MIN_ALARM_THRESHOLD, np.nextafter(q, 2.0))))


def uncalibrated(calibration: Calibration) -> Calibration:
    """The same operating point without temperatures (for before/after comparisons)."""
    return replace(calibration, detection_temperature=1.0, magnitude_temperature=1.0, azimuth_temperature=1.0)


def reliability(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, Any]:
    """Top-label reliability: per confidence bin the mean confidence, accuracy and count; and the ECE."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim == 1:  # binary: the probability of the positive class
        probabilities = np.stack([1.0 - probabilities, probabilities], axis=1)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        m = which == b
        if m.any():
            gap = abs(float(confidence[m].mean()) - float(correct[m].mean()))
            ece += m.mean() * gap
            bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": int(m.sum()),
                         "confidence": float(confidence[m].mean()), "accuracy": float(correct[m].mean())})
    return {"ece": float(ece), "n": int(len(confidence)), "bins": bins}


__all__ = ["alarm_threshold", "fit_calibration", "reliability", "uncalibrated"]
