"""From raw head outputs to what is served: calibrated probabilities, bearing, labels and alarm.

The network has three heads (see :mod:`model_store.model`): *detection* (one logit: an event window
rather than a Normal one), *magnitude* (the event classes, given an event) and *azimuth* (given an event:
eight sector logits, or the natural parameter m of a von Mises distribution of the bearing). The served
distributions are composed from them, so the heads can never disagree about Normal:

    P(magnitude = c) = P(event) P(c | event),  P(magnitude = Normal) = 1 - P(event)
    P(azimuth = s)   = P(event) P(s | event),  P(azimuth = Normal)   = 1 - P(event)

Each head is calibrated on validation data (:class:`Calibration`, stored in the manifest): temperature
scaling for detection, magnitude and sector logits; for the bearing head, the confidence map below. Decisions follow one rule: a window's label is Normal when P(event) < 0.5, otherwise the most
probable event class; ``alarm`` is P(event) >= ``alarm_threshold`` (never below 0.5), the operating point
chosen on validation Normal windows. So alarm implies a non-Normal label, and a label is Normal exactly
when ``precursor_probability`` = P(event) is below one half.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .compass import N_SECTORS, SECTOR_WIDTH_DEG, vector_bearing_deg
from .config import DictConfig

_GRID_PER_SECTOR = 45  # 1-degree grid for sector integrals of the von Mises density
MIN_ALARM_THRESHOLD = 0.5
BEARING_FEATURES = 4
MAX_LOG_CONCENTRATION = 9.0  # kappa <= 8100: a circular standard deviation of 0.6 degrees


@dataclass(frozen=True)
class Calibration(DictConfig):
    """Temperatures per head and the alarm operating point; identity when nothing was fitted."""

    config_name = "calibration settings"

    detection_temperature: float = 1.0
    magnitude_temperature: float = 1.0
    azimuth_temperature: float = 1.0
    # bearing head: log kappa = a . f and logit eps = b . f (a then b; see bearing_features): before fitting,
    # a moderate concentration (kappa 2) and an outlier share of 0.12 whatever the window
    bearing_map: tuple[float, ...] = (0.7, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 0.0)
    alarm_threshold: float = MIN_ALARM_THRESHOLD
    alarm_target_false_alarm_rate: float | None = None
    # the false-alarm rate at that threshold on the held-out Normal windows it was chosen on (below the
    # target when the target's threshold would fall under 0.5)
    alarm_expected_false_alarm_rate: float | None = None
    fitted_on: str = "not fitted"

    def __post_init__(self) -> None:
        temps = (self.detection_temperature, self.magnitude_temperature, self.azimuth_temperature)
        if not all(isinstance(t, (int, float)) and math.isfinite(t) and t > 0 for t in temps):
            raise ValueError("calibration temperatures must be positive numbers")
        if len(self.bearing_map) != 2 * BEARING_FEATURES or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in self.bearing_map):
            raise ValueError(f"bearing_map must hold {2 * BEARING_FEATURES} finite numbers")
        if not MIN_ALARM_THRESHOLD <= self.alarm_threshold <= 1.0:
            raise ValueError(f"alarm_threshold must be in [{MIN_ALARM_THRESHOLD}, 1]")


# ---------------------------------------------------------------------------- von Mises + uniform
# Given an event, the bearing is von Mises around the direction finder's bearing, mixed with a uniform
# part of weight eps (the chance that the window's direction evidence is not the event's: no emission,
# another source): P(theta) = (1 - eps) VM(theta; mu, kappa) + eps / 2pi. A single von Mises is
# over-confident where the finder is wrong by a lot and, fitted to those windows, under-confident
# everywhere else; the mixture describes both. kappa and eps come from the confidence map of the
# calibration (fitted on validation windows):
#     log kappa = a . f,  logit eps = b . f,  f = (1, finder power, finder consistency, detection logit)


def bearing_features(raw_azimuth: torch.Tensor, detection_logit: torch.Tensor) -> torch.Tensor:
    """(B, 4) features of the confidence map from the bearing head's raw output and the detection logit."""
    ones = torch.ones_like(detection_logit, dtype=torch.float64)
    return torch.stack([ones, raw_azimuth[:, 2].double(), raw_azimuth[:, 3].double(), detection_logit.double()], dim=1)


@lru_cache(maxsize=32)
def _map_coefficients(bearing_map: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """a and b of a confidence map as tensors, made once per map (constants: never modified in place; made
    outside inference mode even when first asked for inside it, so Grad-CAM's autograd can save them)."""
    with torch.inference_mode(False):
        a = torch.tensor(bearing_map[:BEARING_FEATURES], dtype=torch.float64)
        return a, torch.tensor(bearing_map[BEARING_FEATURES:], dtype=torch.float64)


def bearing_parameters(raw: dict[str, torch.Tensor], calibration: Calibration) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, log eps): the von Mises natural parameter (north, east) and the outlier log probability."""
    az = raw["azimuth"]
    features = bearing_features(az, raw["detection"][:, 0])
    a, b = _map_coefficients(calibration.bearing_map)
    kappa = torch.exp((features @ a).clamp(max=MAX_LOG_CONCENTRATION))
    m = kappa[:, None] * az[:, :2].double()
    return m, F.logsigmoid(features @ b)


def _grid(device: torch.device | None = None) -> torch.Tensor:
    n = N_SECTORS * _GRID_PER_SECTOR
    deg = (torch.arange(n, dtype=torch.float64, device=device) + 0.5) * (360.0 / n) - SECTOR_WIDTH_DEG / 2
    return torch.deg2rad(deg)


@lru_cache(maxsize=8)
def _grid_basis(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the grid, computed once per device (constants as in :func:`_map_coefficients`)."""
    with torch.inference_mode(False):
        theta = _grid(device)
        return torch.cos(theta), torch.sin(theta)


def von_mises_sector_log_probs(m: torch.Tensor, log_eps: torch.Tensor) -> torch.Tensor:
    """(B, 8) log probabilities of the compass sectors under the mixture."""
    cos, sin = _grid_basis(m.device)
    logits = m[:, :1] * cos + m[:, 1:] * sin  # (B, grid)
    per_sector = torch.logsumexp(logits.view(len(m), N_SECTORS, _GRID_PER_SECTOR), dim=2)
    vm = per_sector - torch.logsumexp(per_sector, dim=1, keepdim=True)
    log_keep = torch.log1p(-log_eps.exp().clamp(max=1 - 1e-12))
    return torch.logaddexp(log_keep[:, None] + vm, log_eps[:, None] - math.log(N_SECTORS))


def von_mises_nll(m: torch.Tensor, log_eps: torch.Tensor, bearing_deg: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood (per sample) of true bearings under the mixture: a proper scoring rule."""
    kappa = m.norm(dim=1)
    theta = torch.deg2rad(bearing_deg.double())
    dot = m[:, 0] * torch.cos(theta) + m[:, 1] * torch.sin(theta)
    log_vm = dot - math.log(2 * math.pi) - torch.log(torch.special.i0e(kappa)) - kappa
    log_keep = torch.log1p(-log_eps.exp().clamp(max=1 - 1e-12))
    return -torch.logaddexp(log_keep + log_vm, log_eps - math.log(2 * math.pi))


def bearing_summary(m: torch.Tensor, log_eps: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the most probable bearing (deg), the circular standard deviation (deg) of the mixture, and the
    von Mises part's concentration kappa = |m| (without the outlier share: what a bearing crossing weighs a
    bearing by, :mod:`model_store.network`)."""
    kappa = m.norm(dim=1)
    bearing = vector_bearing_deg(m[:, 0], m[:, 1]).numpy()
    resultant = ((1 - log_eps.exp()) * torch.special.i1e(kappa) / torch.special.i0e(kappa)).numpy()
    spread = np.degrees(np.sqrt(-2.0 * np.log(np.clip(resultant, 1e-12, 1.0))))
    return bearing, np.minimum(spread, 180.0), kappa.numpy().astype(np.float64)


# ---------------------------------------------------------------------------- composition
def served_log_probs(
    raw: dict[str, torch.Tensor], calibration: Calibration, azimuth_head: str,
    bearing: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Raw head outputs -> log probabilities of the served classes (event classes first, Normal last).

    ``bearing``: the bearing head's ``bearing_parameters(raw, calibration)`` when the caller has them already.
    """
    det = raw["detection"][:, 0].float() / calibration.detection_temperature
    log_event, log_normal = F.logsigmoid(det)[:, None], F.logsigmoid(-det)[:, None]
    magnitude = F.log_softmax(raw["magnitude"].float() / calibration.magnitude_temperature, dim=1)
    if azimuth_head == "bearing":
        azimuth = von_mises_sector_log_probs(*(bearing or bearing_parameters(raw, calibration))).float()
    else:
        azimuth = F.log_softmax(raw["azimuth"].float() / calibration.azimuth_temperature, dim=1)
    return {
        "magnitude": torch.cat([log_event + magnitude, log_normal], dim=1),
        "azimuth": torch.cat([log_event + azimuth, log_normal], dim=1),
    }


@dataclass
class Decisions:
    precursor_probability: np.ndarray  # (B,) P(event)
    alarm: np.ndarray  # (B,) bool
    labels: dict[str, np.ndarray]  # task -> (B,) class index


def decide(probabilities: dict[str, np.ndarray], calibration: Calibration) -> Decisions:
    """Labels and alarms from served probabilities (Normal is the last class of every task)."""
    p_event = 1.0 - probabilities["magnitude"][:, -1]
    is_event = p_event >= 0.5
    labels = {}
    for task, probs in probabilities.items():
        normal = probs.shape[1] - 1
        labels[task] = np.where(is_event, probs[:, :normal].argmax(axis=1), normal)
    alarm = p_event >= max(calibration.alarm_threshold, MIN_ALARM_THRESHOLD)
    return Decisions(p_event, alarm, labels)


@dataclass
class Served:
    """What is served for a batch of windows: the one composition the service and the evaluation share."""

    probabilities: dict[str, np.ndarray]  # task -> (B, K) served probabilities, Normal last
    decisions: Decisions
    bearing_deg: np.ndarray | None  # bearing head: most probable bearing given an event ...
    bearing_uncertainty_deg: np.ndarray | None  # ... and its circular standard deviation (the mixture's)
    bearing_kappa: np.ndarray | None = None  # ... and the von Mises part's concentration |m|


def serve(raw: dict[str, torch.Tensor], calibration: Calibration, azimuth_head: str,
          log_probs: dict[str, torch.Tensor] | None = None,
          bearing: tuple[torch.Tensor, torch.Tensor] | None = None) -> Served:
    """Raw head outputs -> served probabilities, labels, alarms and (bearing head) bearings.

    ``log_probs`` and ``bearing``: :func:`served_log_probs` and :func:`bearing_parameters` of ``raw`` when the
    caller has them already (Grad-CAM needs them with gradients). Extra keys of ``raw`` are ignored.
    """
    raw = {k: raw[k] for k in ("detection", "magnitude", "azimuth")}
    if bearing is None and azimuth_head == "bearing":
        bearing = bearing_parameters(raw, calibration)
    if log_probs is None:
        log_probs = served_log_probs(raw, calibration, azimuth_head, bearing)
    probabilities = {t: v.detach().exp().numpy().astype(np.float64) for t, v in log_probs.items()}
    summary = bearing_summary(*(p.detach() for p in bearing)) if bearing is not None else (None, None, None)
    return Served(probabilities, decide(probabilities, calibration), *summary)


__all__ = [
    "Calibration", "Decisions", "Served", "serve", "N_SECTORS", "bearing_features", "bearing_parameters", "bearing_summary", "decide",
    "served_log_probs", "von_mises_nll", "von_mises_sector_log_probs",
]
