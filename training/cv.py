"""Honest validation: grouped folds, validation carved from the training side, baselines, controls.

Schemes: ``loeo`` groups by catalogue event (every window of one earthquake, at every station, on the
same side; Normal windows grouped by station-day), ``loso`` by station, ``time`` by contiguous time
blocks with ``gap_blocks`` left out on each side of the test block. Early stopping and model selection
use a validation split of whole groups taken from the training side only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from model_store import InputSpec
from model_store.labels import TASKS

from .data import SampleSet
from .metrics import azimuth_errors, classification_metrics, task_report
from .train import TrainConfig, predict_probabilities, train

logger = logging.getLogger(__name__)

SCHEME_KEYS = {"loeo": "group_event", "loso": "group_station", "time": "group_time_block"}
KP_BINS = ((0.0, 3.0, "Kp<3"), (3.0, 5.0, "3<=Kp<5"), (5.0, 10.0, "Kp>=5 (storm)"))


def _groups(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows])


def make_folds(rows: list[dict[str, str]], scheme: str, k: int, seed: int = 0, gap_blocks: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; every group lies wholly on one side, checked before returning."""
    if scheme not in SCHEME_KEYS:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEME_KEYS)}")
    groups = _groups(rows, SCHEME_KEYS[scheme])
    unique = sorted(set(groups))
    if len(unique) < 2:
        raise ValueError(f"{scheme}: need at least two groups, found {len(unique)}")
    k = min(k, len(unique))
    folds: list[tuple[np.ndarray, np.ndarray]] = []
    if scheme == "time":
        blocks = sorted(unique, key=int)
        chunks = np.array_split(np.arange(len(blocks)), k)
        for chunk in chunks:
            test_blocks = {blocks[i] for i in chunk}
            lo, hi = chunk[0] - gap_blocks, chunk[-1] + gap_blocks
            banned = {blocks[i] for i in range(max(0, lo), min(len(blocks), hi + 1))}
            test = np.flatnonzero(np.isin(groups, list(test_blocks)))
            train_idx = np.flatnonzero(~np.isin(groups, list(banned)))
            folds.append((train_idx, test))
    else:
        # balance fold sizes: largest groups first, each to the currently smallest fold
        sizes = Counter(groups)
        tiebreak = dict(zip(unique, np.random.default_rng(seed).permutation(len(unique))))
        order = sorted(unique, key=lambda g: (-sizes[g], tiebreak[g]))
        assign: dict[str, int] = {}
        load = [0] * k
        for g in order:
            f = int(np.argmin(load))
            assign[g] = f
            load[f] += sizes[g]
        fold_of = np.array([assign[g] for g in groups])
        folds = [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]
    for train_idx, test_idx in folds:
        shared = set(groups[train_idx]) & set(groups[test_idx])
        if shared:
            raise AssertionError(f"{scheme}: groups on both sides of a fold: {sorted(shared)[:5]}")
    return folds


def carve_validation(rows: list[dict[str, str]], train_idx: np.ndarray, key: str, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (fit, validation) by whole groups of ``key``."""
    groups = _groups(rows, key)[train_idx]
    unique = sorted(set(groups))
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(fraction * len(unique)))) if len(unique) > 1 else 0
    val_groups = set(rng.permutation(unique)[:n_val].tolist())
    is_val = np.isin(groups, list(val_groups))
    return train_idx[~is_val], train_idx[is_val]


# ---------------------------------------------------------------------------- baselines
def majority_baseline(data: SampleSet, train_idx: np.ndarray, test_idx: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for task in TASKS:
        y = getattr(data, task)
        out[task] = np.full(len(test_idx), np.bincount(y[train_idx], minlength=len(TASKS[task])).argmax())
    return out


def station_prior_baseline(data: SampleSet, train_idx: np.ndarray, test_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Each station's most frequent training class (the majority class for unseen stations)."""
    stations = np.array([r["station"] for r in data.rows])
    out = {}
    for task in TASKS:
        y = getattr(data, task)
        overall = np.bincount(y[train_idx], minlength=len(TASKS[task])).argmax()
        prior = {s: np.bincount(y[train_idx][stations[train_idx] == s], minlength=len(TASKS[task])).argmax()
                 for s in set(stations[train_idx])}
        out[task] = np.array([prior.get(s, overall) for s in stations[test_idx]])
    return out


# ---------------------------------------------------------------------------- cross-validation
def _report_for(data: SampleSet, idx: np.ndarray, preds: dict[str, np.ndarray], n_boot: int) -> dict[str, Any]:
    rows = [data.rows[i] for i in idx]
    is_event = np.array([r["kind"] == "event" for r in rows])
    groups = [r["group_event"] for r in rows]
    rep: dict[str, Any] = {}
    for task in TASKS:
        rep[task] = task_report(getattr(data, task)[idx], preds[task], TASKS[task], groups, is_event, n_boot=n_boot)
    bearings = [float(r["bearing_deg"]) for r, e in zip(rows, is_event) if e]
    az_labels = [TASKS["azimuth"][p] for p, e in zip(preds["azimuth"], is_event) if e]
    rep["azimuth"]["angular"] = azimuth_errors(bearings, az_labels)
    kp = np.array([float(r["kp_max"]) if r["kp_max"] else np.nan for r in rows])
    rep["by_kp"] = {}
    for lo, hi, name in KP_BINS:
        m = (kp >= lo) & (kp < hi)
        if m.any():
            rep["by_kp"][name] = {
                task: classification_metrics(getattr(data, task)[idx][m], preds[task][m], TASKS[task])["balanced_accuracy"]
                for task in TASKS
            } | {"n": int(m.sum())}
    return rep


def run_cv(data: SampleSet, spec: InputSpec, cfg: TrainConfig, scheme: str = "loeo", k: int = 5,
           max_folds: int | None = None, shuffled_control_folds: int = 1, control_epochs: int | None = None,
           seed: int = 0, n_boot: int = 1000, progress: bool = False) -> dict[str, Any]:
    """Train and test on every fold; pool the test predictions; add baselines and the shuffled control."""
    folds = make_folds(data.rows, scheme, k, seed)
    run = folds[: max_folds or len(folds)]
    key = SCHEME_KEYS[scheme]
    pooled_idx: list[np.ndarray] = []
    pooled: dict[str, list[np.ndarray]] = {f"model:{t}": [] for t in TASKS}
    for name in ("majority", "station_prior", "shuffled_labels"):
        for t in TASKS:
            pooled[f"{name}:{t}"] = []
    control_idx: list[np.ndarray] = []
    fold_summaries = []
    for fi, (train_idx, test_idx) in enumerate(run):
        fit_idx, val_idx = carve_validation(data.rows, train_idx, key, cfg.val_fraction, seed + fi)
        logger.info("%s fold %d/%d: %d fit, %d validation, %d test windows", scheme, fi + 1, len(run),
                    len(fit_idx), len(val_idx), len(test_idx))
        result = train(cfg, data.subset(fit_idx), data.subset(val_idx), spec, progress=progress)
        probs = predict_probabilities(result.model, data.images[test_idx], spec)
        pooled_idx.append(test_idx)
        for t in TASKS:
            pooled[f"model:{t}"].append(probs[t].argmax(1))
        for name, fn in (("majority", majority_baseline), ("station_prior", station_prior_baseline)):
            for t, p in fn(data, train_idx, test_idx).items():
                pooled[f"{name}:{t}"].append(p)
        if fi < shuffled_control_folds:
            # same recipe, labels permuted across the training side: must land at chance on the test side
            perm = np.random.default_rng(seed + 1000 + fi).permutation(len(fit_idx))
            shuffled = data.subset(fit_idx)
            shuffled.magnitude, shuffled.azimuth = shuffled.magnitude[perm], shuffled.azimuth[perm]
            ccfg = replace(cfg, epochs=control_epochs or cfg.epochs)
            control = train(ccfg, shuffled, data.subset(val_idx), spec, progress=progress)
            cprobs = predict_probabilities(control.model, data.images[test_idx], spec)
            control_idx.append(test_idx)
            for t in TASKS:
                pooled[f"shuffled_labels:{t}"].append(cprobs[t].argmax(1))
        fold_summaries.append({
            "fold": fi + 1, "fit": len(fit_idx), "validation": len(val_idx), "test": len(test_idx),
            "test_groups": len({data.rows[i][key] for i in test_idx}), "best_epoch": result.best_epoch,
            "stopped": result.stopped, "history": result.history,
        })

    idx = np.concatenate(pooled_idx)
    model_preds = {t: np.concatenate(pooled[f"model:{t}"]) for t in TASKS}
    report: dict[str, Any] = {
        "scheme": scheme, "group_key": key, "folds_total": len(folds), "folds_run": len(run),
        "train_config": cfg.to_dict(), "samples": len(data), "test_windows": int(len(idx)),
        "model": _report_for(data, idx, model_preds, n_boot),
        "baselines": {},
        "folds": fold_summaries,
    }
    for name in ("majority", "station_prior"):
        report["baselines"][name] = _report_for(data, idx, {t: np.concatenate(pooled[f"{name}:{t}"]) for t in TASKS}, 200)
    if control_idx:
        cidx = np.concatenate(control_idx)
        report["baselines"]["shuffled_labels"] = _report_for(
            data, cidx, {t: np.concatenate(pooled[f"shuffled_labels:{t}"]) for t in TASKS}, 200)
        report["baselines"]["shuffled_labels"]["folds"] = len(control_idx)
    return report


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The compact form stored in a model's manifest."""
    def pick(rep):
        return {t: {k: rep[t][k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "mcc")} for t in TASKS}

    out = {
        "scheme": report["scheme"], "folds_run": report["folds_run"], "folds_total": report["folds_total"],
        "test_windows": report["test_windows"], "model": pick(report["model"]),
        "ci95_balanced_accuracy": {t: report["model"][t]["ci95"]["balanced_accuracy"] for t in TASKS},
        "azimuth_angular": report["model"]["azimuth"]["angular"],
        "baselines": {name: pick(rep) for name, rep in report["baselines"].items()},
    }
    return out


def write_outputs(report: dict[str, Any], out_dir: str | Path) -> None:
    import json

    from model_store.fileio import atomic_write_text

    from .report import render_figures, render_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    figures = render_figures(report, out / "figures")
    atomic_write_text(out / "report.md", render_markdown(report, figures))
