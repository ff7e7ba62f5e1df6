"""Classification metrics per task, azimuth angular errors, and bootstrap intervals over events.

The metrics are scikit-learn's (``sklearn.metrics``, a ``train`` extra); what is defined here is only which
classes they average over: balanced accuracy and macro-F1 over the classes present in ``y_true`` (a class
no window of the scored set belongs to has no recall), MCC over all classes (the multi-class form, Gorodkin's
R_K, as :func:`sklearn.metrics.matthews_corrcoef` computes it).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
from sklearn import metrics as skm

from model_store.geodesy import angular_difference_deg
from model_store.labels import azimuth_class_centre_deg
from model_store.stats import grouped_bootstrap_ci


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Share of windows whose label is right (nan for none)."""
    return float(skm.accuracy_score(y_true, y_pred)) if len(y_true) else float("nan")


def balanced_accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Mean recall over the classes present in ``y_true`` (nan for no windows)."""
    if not len(y_true):
        return float("nan")
    with warnings.catch_warnings():  # a predicted class no true label has (no recall: not averaged); one label
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", "A single label was found")
        return float(skm.balanced_accuracy_score(y_true, y_pred))


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Mean F1 over the classes present in ``y_true`` (nan for no windows)."""
    if not len(y_true):
        return float("nan")
    return float(skm.f1_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0))


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, MCC, per-class precision/recall/F1 and the confusion matrix.

    Balanced accuracy and macro-F1 average over the classes present in ``y_true``; a class with no true
    window has recall None; a class never predicted has precision 0.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    n = len(labels)
    classes = np.arange(n)
    if len(y_true):
        cm = skm.confusion_matrix(y_true, y_pred, labels=classes)
        precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=classes,
                                                                             zero_division=0)
        with warnings.catch_warnings():  # one label in both: no correlation to measure, 0
            warnings.filterwarnings("ignore", "A single label was found")
            mcc = float(skm.matthews_corrcoef(y_true, y_pred))
    else:
        cm = np.zeros((n, n), dtype=np.int64)
        precision, recall, f1, support = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
        mcc = 0.0
    return {
        "n": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "mcc": mcc,
        "per_class": {
            labels[k]: {"precision": float(precision[k]), "recall": float(recall[k]) if support[k] else None,
                        "f1": float(f1[k]), "support": int(support[k])}
            for k in range(n)
        },
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
    }


def azimuth_errors(true_bearings: Sequence[float], pred_labels: Sequence[str]) -> dict[str, Any]:
    """Angular error between the true bearing and the predicted sector's centre, on event windows.

    A window predicted Normal counts as a miss (no direction given) and is left out of the median.
    """
    errors = []
    misses = 0
    for b, label in zip(true_bearings, pred_labels):
        centre = azimuth_class_centre_deg(label)
        if centre is None:
            misses += 1
        else:
            errors.append(angular_difference_deg(b, centre))
    errs = np.asarray(errors)
    n = len(true_bearings)
    return {
        "n": n,
        "median_angular_error_deg": float(np.median(errs)) if len(errs) else None,
        "hit_rate_45deg": float((errs <= 45.0).sum() / n) if n else None,
        "predicted_normal_fraction": misses / n if n else None,
    }


def bootstrap_ci(values_by_group: dict[str, tuple[np.ndarray, np.ndarray]], metric, n_boot: int = 1000,
                 seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile interval of ``metric(y_true, y_pred)`` resampling whole groups (events) with replacement.

    Groups are drawn in the dict's order by :func:`model_store.stats.grouped_bootstrap`.
    """
    names = list(values_by_group)
    if len(names) < 2:
        return None
    y_true = np.concatenate([values_by_group[g][0] for g in names])
    y_pred = np.concatenate([values_by_group[g][1] for g in names])
    codes = np.repeat(np.arange(len(names)), [len(values_by_group[g][0]) for g in names])
    return grouped_bootstrap_ci(codes, lambda idx: metric(y_true[idx], y_pred[idx]), n_boot, seed, alpha)


def task_report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], groups: Sequence[str],
                is_event: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Metrics of one task plus event-window-only accuracy and bootstrap CIs over event groups."""
    report = classification_metrics(y_true, y_pred, labels)
    ev = np.asarray(is_event, dtype=bool)
    report["event_window_accuracy"] = accuracy(y_true[ev], y_pred[ev]) if ev.any() else None
    by_group: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in sorted(set(groups)):
        m = np.asarray([x == g for x in groups])
        by_group[g] = (y_true[m], y_pred[m])
    k = len(labels)
    report["ci95"] = {
        "accuracy": bootstrap_ci(by_group, accuracy, n_boot, seed),
        "balanced_accuracy": bootstrap_ci(by_group, balanced_accuracy, max(200, n_boot // 5), seed),
        "macro_f1": bootstrap_ci(by_group, macro_f1, max(200, n_boot // 5), seed),
        "resampled_unit": f"{len(by_group)} groups (catalogue events; Normal windows grouped by station-day)",
    }
    report["chance_balanced_accuracy"] = 1.0 / max(1, len({int(x) for x in y_true})) if k else None
    return report


