"""Calibration recovers what it should from validation outputs: a known temperature, an alarm threshold
that keeps the false-alarm rate at its target but never drops below one half, and an honest ECE."""

import numpy as np
import pytest

from model_store.outputs import MIN_ALARM_THRESHOLD
from training.calibrate import alarm_threshold, fit_calibration, reliability


def _overconfident(n: int, temperature: float, seed: int = 0):
    """Validation outputs of a model whose logits are ``temperature`` times too large: labels are drawn from
    sigmoid(z) / softmax(z), the outputs report temperature * z."""
    rng = np.random.default_rng(seed)
    z_det = rng.normal(0.0, 2.0, n)
    is_event = rng.random(n) < 1.0 / (1.0 + np.exp(-z_det))
    z_mag = rng.normal(0.0, 1.5, (n, 3))
    p_mag = np.exp(z_mag) / np.exp(z_mag).sum(axis=1, keepdims=True)
    magnitude = np.array([rng.choice(3, p=p) for p in p_mag])
    z_az = rng.normal(0.0, 1.5, (n, 8))
    p_az = np.exp(z_az) / np.exp(z_az).sum(axis=1, keepdims=True)
    azimuth = np.array([rng.choice(8, p=p) for p in p_az])
    raw = {"detection": (temperature * z_det)[:, None].astype(np.float32),
           "magnitude": (temperature * z_mag).astype(np.float32), "azimuth": (temperature * z_az).astype(np.float32)}
    return raw, is_event, magnitude, azimuth


@pytest.mark.parametrize("temperature", [0.5, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(temperature):
    raw, is_event, magnitude, azimuth = _overconfident(6000, temperature)
    cal = fit_calibration(raw, is_event, magnitude, azimuth, np.zeros(len(is_event)), "sectors")
    assert cal.detection_temperature == pytest.approx(temperature, rel=0.1)
    assert cal.magnitude_temperature == pytest.approx(temperature, rel=0.15)  # fitted on event windows only
    assert cal.azimuth_temperature == pytest.approx(temperature, rel=0.15)


def test_the_alarm_threshold_meets_its_false_alarm_target_on_the_normals_it_saw():
    logits = np.random.default_rng(1).normal(1.0, 1.5, 2000)  # Normal windows that often look like events
    threshold = alarm_threshold(logits, 0.05)
    p = 1.0 / (1.0 + np.exp(-logits))
    assert threshold > MIN_ALARM_THRESHOLD
    rate = (p >= threshold).mean()
    assert 0.05 - 2 / len(p) <= rate <= 0.05  # at most the target, and not stricter than needed


def test_the_alarm_threshold_never_drops_below_one_half():
    quiet = np.random.default_rng(2).normal(-6.0, 0.5, 500)  # P(event) far below 0.5 on every Normal
    assert alarm_threshold(quiet, 0.05) == MIN_ALARM_THRESHOLD == 0.5
    assert alarm_threshold(np.array([]), 0.05) == MIN_ALARM_THRESHOLD  # no Normals seen: the floor


def test_calibration_is_not_fitted_without_both_kinds_of_window():
    raw, is_event, magnitude, azimuth = _overconfident(200, 2.0)
    everything_normal = np.zeros_like(is_event)
    cal = fit_calibration(raw, everything_normal, magnitude, azimuth, np.zeros(200), "sectors")
    assert "not fitted" in cal.fitted_on and cal.detection_temperature == 1.0


def test_ece_is_zero_when_confidence_matches_accuracy_and_the_gap_otherwise():
    # 100 predictions at confidence 0.8, of which 80 right: perfectly calibrated
    probs = np.tile([0.8, 0.2], (100, 1))
    labels = np.array([0] * 80 + [1] * 20)
    assert reliability(probs, labels)["ece"] == pytest.approx(0.0, abs=1e-12)
    # the same confidence with half right: a gap of 0.3
    assert reliability(probs, np.array([0, 1] * 50))["ece"] == pytest.approx(0.3)
