"""Classification metrics per task, azimuth angular errors, and bootstrap intervals over events."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from model_store.geodesy import angular_difference_deg
from model_store.labels import azimuth_class_centre_deg
from model_store.stats import grouped_bootstrap_ci


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return cm


def mcc(cm: np.ndarray) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K)."""
    t, p = cm.sum(axis=1).astype(float), cm.sum(axis=0).astype(float)
    c, s = float(np.trace(cm)), float(cm.sum())
    denom = math.sqrt(max(s * s - (p * p).sum(), 0.0)) * math.sqrt(max(s * s - (t * t).sum(), 0.0))
    return 0.0 if denom == 0 else (c * s - float(t @ p)) / denom


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1, MCC, per-class precision/recall/F1 and the confusion matrix.

    Balanced accuracy and macro-F1 average over the classes present in ``y_true``.
    """
    n = len(labels)
    cm = confusion_matrix(y_true, y_pred, n)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * np.nan_to_num(recall) / (precision + np.nan_to_num(recall)), 0.0)
    present = support > 0
    total = int(cm.sum())
    return {
        "n": total,
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "balanced_accuracy": float(np.nanmean(recall[present])) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "mcc": mcc(cm),
        "per_class": {
            labels[k]: {"precision": float(precision[k]), "recall": None if np.isnan(recall[k]) else float(recall[k]),
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
    report["event_window_accuracy"] = float((y_true[ev] == y_pred[ev]).mean()) if ev.any() else None
    by_group: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in sorted(set(groups)):
        m = np.asarray([x == g for x in groups])
        by_group[g] = (y_true[m], y_pred[m])
    k = len(labels)

    def bal_acc(t, p):
        return classification_metrics(t, p, labels)["balanced_accuracy"]

    def macro_f1(t, p):
        return classification_metrics(t, p, labels)["macro_f1"]

    report["ci95"] = {
        "accuracy": bootstrap_ci(by_group, lambda t, p: float((t == p).mean()), n_boot, seed),
        "balanced_accuracy": bootstrap_ci(by_group, bal_acc, max(200, n_boot // 5), seed),
        "macro_f1": bootstrap_ci(by_group, macro_f1, max(200, n_boot // 5), seed),
        "resampled_unit": f"{len(by_group)} groups (catalogue events; Normal windows grouped by station-day)",
    }
    report["chance_balanced_accuracy"] = 1.0 / max(1, len({int(x) for x in y_true})) if k else None
    return report


