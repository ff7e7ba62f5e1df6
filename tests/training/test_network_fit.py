"""Fitting the network's magnitude model: better than chance from amplitudes and (noisy) fix distances, the
ceiling from true distances, and a model that the service's side reads back and applies the same way."""

import json
import math

import numpy as np
import pytest

pytest.importorskip("sklearn")

from model_store.labels import magnitude_class
from model_store.network import MAGNITUDE_STATEMENT, MagnitudeModel
from training.network_fit import (
    cross_validated_balanced_accuracy,
    fit_magnitude_model,
    fit_temperature,
    magnitude_ceiling,
    window_features,
)


def _windows(n=300, seed=0, fix_error=0.3):
    """Magnitudes -> source strength with scatter -> amplitudes at random distances (the simulator's law:
    A = 0.1 (R / r)^3 nT, R = (M - 4.5) x 40 km); fix distances off by ``fix_error`` (log-normal)."""
    rng = np.random.default_rng(seed)
    amps, true_d, fix_d, labels = [], [], [], []
    for _ in range(n):
        m = rng.uniform(4.6, 7.5)
        reach = (m - 4.5) * 40.0
        r = rng.uniform(5.0, max(reach, 10.0), int(rng.integers(2, 7)))
        strength = math.log10(0.1) + 3 * math.log10(reach) + rng.normal(0, 0.2)
        amps.append(10 ** (strength - 3 * np.log10(r) + rng.normal(0, 0.15, len(r))))
        true_d.append(r)
        fix_d.append(r * np.exp(rng.normal(0, fix_error, len(r))))
        labels.append(magnitude_class(m))
    return amps, true_d, fix_d, labels


def test_the_fit_beats_chance_and_the_ceiling_is_beside_it():
    amps, true_d, fix_d, labels = _windows()
    x_fix, x_true = window_features(amps, fix_d), window_features(amps, true_d)
    assert x_fix.shape == (300, 2) and np.all(x_fix[:, 1] >= 2)
    model = fit_magnitude_model(x_fix, labels, ceiling_features=x_true, k=3)
    json.dumps(model)  # plain data
    assert model["classes"] == ["Large", "Medium", "Moderate"] and model["statement"] == MAGNITUDE_STATEMENT
    assert model["balanced_accuracy"] > 0.6  # chance: 1/3
    assert model["ceiling_balanced_accuracy"] >= model["balanced_accuracy"] - 0.05
    assert model["temperature"] > 0
    ceiling = magnitude_ceiling(x_true, labels, k=3)
    assert ceiling["balanced_accuracy"] == pytest.approx(model["ceiling_balanced_accuracy"])
    assert ceiling["chance_balanced_accuracy"] == pytest.approx(1 / 3) and ceiling["distances"] == "true"
    # distances off by a factor of e^1 on average cost accuracy: the ceiling stays, the fit falls
    _, _, far_off, _ = _windows(fix_error=1.0)
    worse = cross_validated_balanced_accuracy(window_features(amps, far_off), labels, k=3)
    assert worse < ceiling["balanced_accuracy"]


def test_the_fitted_model_is_applied_the_same_way_by_the_service_side():
    from sklearn.linear_model import LogisticRegression

    amps, _, fix_d, labels = _windows(200, seed=1)
    x = window_features(amps, fix_d)
    model = MagnitudeModel.from_dict(json.loads(json.dumps(fit_magnitude_model(x, labels, k=3))))
    p = model.probabilities(x)
    assert p.shape == (200, 3) and np.allclose(p.sum(axis=1), 1)
    # the same ranking as scikit-learn's own model on the same standardised features
    z = (x - np.array(model.mean)) / np.array(model.scale)
    clf = LogisticRegression(class_weight="balanced", max_iter=1000, random_state=0).fit(
        z, [["Large", "Medium", "Moderate"].index(v) for v in labels])
    assert np.array_equal(p.argmax(axis=1), clf.predict(z))


def test_two_classes_and_rows_without_amplitude():
    amps, _, fix_d, labels = _windows(120, seed=2)
    keep = [i for i, v in enumerate(labels) if v != "Moderate"]
    x = window_features([amps[i] for i in keep], [fix_d[i] for i in keep])
    x[0] = np.nan  # a window whose stations gave no amplitude
    model = MagnitudeModel.from_dict(fit_magnitude_model(x, [labels[i] for i in keep], k=3))
    assert model.classes == ("Large", "Medium") and np.shape(model.coef) == (2, 2)
    assert model.probabilities(x[1:3]).shape == (2, 2)


def test_temperature_undoes_a_scaling_of_the_logits():
    rng = np.random.default_rng(3)
    true_logits = rng.normal(0, 2, (2000, 3))
    p = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    assert fit_temperature(true_logits * 2.5, y) == pytest.approx(2.5, rel=0.15)


def test_the_bearing_calibration_recovers_a_known_scale_and_floor():
    from training.network_fit import fit_bearing_calibration

    rng = np.random.default_rng(0)
    kappa = 10 ** rng.uniform(1, 4, 4000)  # what the head states
    true = 1 / (8.0 / kappa + math.radians(4.0) ** 2)  # what the bearings really scatter by
    errors = np.degrees([rng.vonmises(0, k) for k in true])
    fitted = fit_bearing_calibration(errors, kappa)
    assert fitted["scale"] == pytest.approx(8.0, rel=0.2) and fitted["floor_deg"] == pytest.approx(4.0, rel=0.15)
    assert fitted["outlier_share"] is None and fitted["bearings"] == 4000
    outliers = np.where(rng.uniform(size=4000) < 0.1, rng.uniform(-180, 180, 4000), errors)
    mixed = fit_bearing_calibration(outliers, kappa, outliers=True)
    assert mixed["outlier_share"] == pytest.approx(0.1, abs=0.03) and mixed["scale"] == pytest.approx(8.0, rel=0.3)
    with pytest.raises(ValueError, match="at least 20"):
        fit_bearing_calibration([1.0] * 5, [100.0] * 5)


def test_the_count_baseline_picks_each_counts_most_telling_class():
    from training.network_eval import apply_count_baseline
    from training.network_fit import fit_count_baseline

    counts = [2, 2, 2, 3, 3, 5, 5, 5, 2, 5]
    labels = ["Medium", "Medium", "Medium", "Medium", "Large", "Large", "Large", "Medium", "Moderate", "Large"]
    fitted = fit_count_baseline(counts, labels)
    assert fitted["label_by_count"] == {"2": "Moderate", "3": "Large", "5": "Large"}  # 3: 1 of 4 Large, 1 of 5 Medium
    assert apply_count_baseline(fitted, np.array([2, 4, 7, 1])) == ["Moderate", "Large", "Large", "Moderate"]
