"""Fitting the network stage's magnitude model (the apply side is :class:`model_store.network.MagnitudeModel`).

Inputs are plain arrays, one row per located event window: the features of
:func:`model_store.network.magnitude_features` (mean log10(A r^3) over the fix's stations, and their
number) and the true magnitude class. The classifier is scikit-learn's multinomial logistic regression
with class-balanced weights (a ``train`` extra), on standardised features; a temperature is fitted on
out-of-fold logits (class-balanced negative log-likelihood), so the probabilities are calibrated for
classes in equal proportion. The fitted model comes back as the JSON-able dict of
:meth:`MagnitudeModel.to_dict`, with its cross-validated balanced accuracy and, when the same windows'
features with the *true* distances are given, the ceiling: the same classifier given the true distance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from model_store.network import (
    EVENT_MAGNITUDE_CLASSES,
    MAGNITUDE_FEATURES,
    MagnitudeModel,
    magnitude_features,
)


def window_features(amplitudes_nt: Sequence[Sequence[float]], distances_km: Sequence[Sequence[float]],
                    min_distance_km: float = 5.0) -> np.ndarray:
    """(windows, features) from per-window lists of station amplitudes and distances (fix or true)."""
    return np.stack([magnitude_features(a, d, min_distance_km) for a, d in zip(amplitudes_nt, distances_km)])


def _labels(labels: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype.kind in "iu":
        return y.astype(int)
    return np.array([list(classes).index(str(v)) for v in y])


def _classifier(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=1000, random_state=seed)


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    present, counts = np.unique(y, return_counts=True)
    per_class = dict(zip(present, len(y) / (len(present) * counts)))
    return np.array([per_class[v] for v in y])


def _out_of_fold_logits(x: np.ndarray, y: np.ndarray, k: int, c: float, seed: int) -> np.ndarray:
    """Decision functions for every row from a model that did not see it (stratified k folds)."""
    from sklearn.model_selection import StratifiedKFold

    present = np.unique(y)
    k = max(2, min(k, int(np.bincount(y)[present].min())))
    logits = np.full((len(y), len(present)), np.nan)
    for train_idx, test_idx in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        clf = _classifier(c, seed).fit(x[train_idx], y[train_idx])
        cols = np.searchsorted(present, clf.classes_)
        logits[np.ix_(test_idx, cols)] = _decision(clf, x[test_idx])
    return np.nan_to_num(logits, nan=-1e3)


def _decision(clf, x: np.ndarray) -> np.ndarray:
    """Class logits (rows, classes), for two classes as well as more (sklearn gives one column for two)."""
    z = clf.decision_function(x)
    return np.stack([-z / 2, z / 2], axis=1) if z.ndim == 1 else z


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    present = np.unique(y)
    return float(np.mean([np.mean(pred[y == c] == c) for c in present]))


def cross_validated_balanced_accuracy(features: np.ndarray, labels: Sequence[Any],
                                      classes: Sequence[str] = EVENT_MAGNITUDE_CLASSES, *, k: int = 5,
                                      c: float = 1.0, seed: int = 0) -> float:
    """Out-of-fold balanced accuracy of the classifier on these features (rows with a nan feature dropped)."""
    x, y = np.asarray(features, dtype=float), _labels(labels, classes)
    ok = np.all(np.isfinite(x), axis=1)
    x, y = x[ok], y[ok]
    mean, scale = _standardise(x)
    logits = _out_of_fold_logits((x - mean) / scale, y, k, c, seed)
    return _balanced_accuracy(y, np.unique(y)[logits.argmax(axis=1)])


def fit_temperature(logits: np.ndarray, y_index: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The temperature T minimising the (weighted) negative log-likelihood of softmax(logits / T)."""
    w = np.ones(len(y_index)) if weights is None else weights

    def nll(log_t: float) -> float:
        z = logits / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(w * logp[np.arange(len(y_index)), y_index]).sum() / w.sum())

    return float(math.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def fit_magnitude_model(features: np.ndarray, labels: Sequence[Any],
                        classes: Sequence[str] = EVENT_MAGNITUDE_CLASSES, *, ceiling_features: np.ndarray | None = None,
                        k: int = 5, c: float = 1.0, seed: int = 0, fitted_on: str = "") -> dict[str, Any]:
    """Fit the magnitude model: (windows, 2) features from the fixes' distances and the windows' true
    classes (names or indices into ``classes``) -> the JSON-able model (``MagnitudeModel.to_dict()``).

    ``ceiling_features``: the same windows' features with the true distances; when given, the model
    carries the ceiling's cross-validated balanced accuracy beside its own. Rows with a nan feature (no
    amplitude) are left out.
    """
    x, y = np.asarray(features, dtype=float), _labels(labels, classes)
    if x.ndim != 2 or x.shape[1] != len(MAGNITUDE_FEATURES) or len(x) != len(y):
        raise ValueError(f"features must be (windows, {len(MAGNITUDE_FEATURES)}) with one label per window")
    ok = np.all(np.isfinite(x), axis=1)
    x, y = x[ok], y[ok]
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError("a magnitude model needs windows of at least two classes")
    mean, scale = _standardise(x)
    z = (x - mean) / scale
    logits = _out_of_fold_logits(z, y, k, c, seed)
    y_index = np.searchsorted(present, y)
    temperature = fit_temperature(logits, y_index, _balanced_weights(y))
    balanced_accuracy = _balanced_accuracy(y, present[logits.argmax(axis=1)])
    clf = _classifier(c, seed).fit(z, y)
    coef, intercept = np.atleast_2d(clf.coef_), np.atleast_1d(clf.intercept_)
    if len(present) == 2:  # sklearn's single binary row -> the two class logits +-z/2
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    ceiling = None
    if ceiling_features is not None:
        ceiling = cross_validated_balanced_accuracy(np.asarray(ceiling_features, dtype=float)[ok], y, classes,
                                                    k=k, c=c, seed=seed)
    model = MagnitudeModel(
        classes=tuple(classes[i] for i in present), coef=tuple(tuple(float(v) for v in row) for row in coef),
        intercept=tuple(float(v) for v in intercept), mean=tuple(float(v) for v in mean),
        scale=tuple(float(v) for v in scale), temperature=temperature, balanced_accuracy=balanced_accuracy,
        ceiling_balanced_accuracy=ceiling,
        fitted_on=fitted_on or f"{len(y)} located event windows ({', '.join(f'{classes[i]} {int((y == i).sum())}' for i in present)})",
    )
    return model.to_dict()


def magnitude_ceiling(true_features: np.ndarray, labels: Sequence[Any],
                      classes: Sequence[str] = EVENT_MAGNITUDE_CLASSES, *, k: int = 5, c: float = 1.0,
                      seed: int = 0) -> dict[str, Any]:
    """The ceiling: the same classifier given the TRUE distances (features from them), cross-validated."""
    y = _labels(labels, classes)
    return {"balanced_accuracy": cross_validated_balanced_accuracy(true_features, y, classes, k=k, c=c, seed=seed),
            "windows": int(np.all(np.isfinite(np.asarray(true_features, dtype=float)), axis=1).sum()),
            "chance_balanced_accuracy": 1.0 / len(np.unique(y)),
            "features": list(MAGNITUDE_FEATURES), "distances": "true"}


def fit_count_baseline(counts: Sequence[float], labels: Sequence[Any],
                       classes: Sequence[str] = EVENT_MAGNITUDE_CLASSES) -> dict[str, Any]:
    """A baseline that knows only how many stations detected: for each count, the class in which that count
    is most frequent relative to the class's size (the rule that maximises balanced accuracy on these
    windows); a count never seen takes the nearest smaller one's class (or the first's)."""
    n = np.asarray(counts, dtype=float).astype(int)
    y = _labels(labels, classes)
    present = np.unique(y)
    size = {c: max(int((y == c).sum()), 1) for c in present}
    table = {}
    for k in sorted(set(n.tolist())):
        share = {c: int(((n == k) & (y == c)).sum()) / size[c] for c in present}
        table[int(k)] = classes[max(share, key=share.__getitem__)]
    return {"label_by_count": {str(k): v for k, v in table.items()}, "default": table[min(table)] if table else classes[0]}


def fit_bearing_calibration(errors_deg: Sequence[float], kappas: Sequence[float], outliers: bool = False
                            ) -> dict[str, Any]:
    """Scale and floor of :class:`model_store.network.BearingCalibration`, by maximum likelihood of
    VonMises(0, 1 / (scale / kappa + floor^2)) for the bearing errors (observed - true, degrees) of windows
    whose stated concentrations are ``kappas``: the model :func:`model_store.network.locate` makes of a
    bearing, so a bearing far off widens every bearing's spread rather than being assumed away. With
    ``outliers`` the von Mises is mixed with a uniform share eps, fitted too (the scatter of the bearings
    that are not far off, and how many are)."""
    from scipy.optimize import minimize
    from scipy.special import i0e

    r = np.radians(np.asarray(errors_deg, dtype=float))
    k = np.asarray(kappas, dtype=float)
    ok = np.isfinite(r) & np.isfinite(k) & (k > 0)
    r, k = r[ok], k[ok]
    if len(r) < 20:
        raise ValueError(f"only {len(r)} bearings to calibrate on: at least 20 are needed")

    def nll(params: np.ndarray) -> float:
        log_scale, log_floor, logit_eps = params
        kappa = 1.0 / (math.exp(log_scale) / k + math.exp(log_floor) ** 2)
        log_vm = kappa * (np.cos(r) - 1.0) - np.log(2 * math.pi * i0e(kappa))
        if not outliers:
            return float(-np.sum(log_vm))
        eps = 1.0 / (1.0 + math.exp(-logit_eps))
        return float(-np.sum(np.logaddexp(math.log1p(-eps) + log_vm, math.log(eps / (2 * math.pi)))))

    best = min((minimize(nll, np.array(x0), method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-4,
                                                                            "fatol": 1e-6})
                for x0 in ([0.0, math.log(0.02), -3.0], [math.log(10.0), math.log(0.05), -2.5])),
               key=lambda res: res.fun)
    log_scale, log_floor, logit_eps = best.x
    return {"scale": float(math.exp(log_scale)), "floor_deg": float(math.degrees(math.exp(log_floor))),
            "outlier_share": float(1.0 / (1.0 + math.exp(-logit_eps))) if outliers else None, "bearings": len(r)}


__all__ = ["cross_validated_balanced_accuracy", "fit_bearing_calibration", "fit_count_baseline", "fit_magnitude_model", "fit_temperature",
           "magnitude_ceiling", "window_features"]
