"""Honest validation: grouped folds, validation carved from the training side, baselines, controls.

Schemes: ``loeo`` groups by catalogue event (every window of one earthquake, at every station, on the
same side; Normal windows grouped by station-day), ``loso`` by station, ``time`` by contiguous time
blocks with ``gap_blocks`` left out on each side of the test block. Early stopping and model selection
use a validation split of whole groups taken from the training side only.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from model_store import Calibration, InputSpec
from model_store.compass import vector_bearing_deg
from model_store.labels import TASKS

from .samples import SampleSet
from .evaluate import ServedOutputs, direction_metrics, headline, score
from .metrics import task_report
from .train import TrainConfig, calibrate_on, predict_raw, train

logger = logging.getLogger(__name__)

SCHEME_KEYS = {"loeo": "group_event", "loso": "group_station", "time": "group_time_block"}


def _groups(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows])


def make_folds(rows: list[dict[str, str]], scheme: str, k: int, seed: int = 0, gap_blocks: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; every group lies wholly on one side, checked before returning."""
    if scheme not in SCHEME_KEYS:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEME_KEYS)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:  # one fold would train on nothing
        raise ValueError(f"cross-validation needs at least 2 folds (cv.folds / --folds), got {k!r}")
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


def _station_mode(stations: np.ndarray, y: np.ndarray, n: int, train_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
    overall = np.bincount(y[train_idx], minlength=n).argmax() if len(train_idx) else 0
    prior = {s: np.bincount(y[train_idx][stations[train_idx] == s], minlength=n).argmax() for s in set(stations[train_idx])}
    return np.array([prior.get(s, overall) for s in stations[test_idx]])


def station_prior_baseline(data: SampleSet, train_idx: np.ndarray, test_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Each station's most frequent training class (the majority class for unseen stations)."""
    stations = np.array([r["station"] for r in data.rows])
    return {task: _station_mode(stations, getattr(data, task), len(TASKS[task]), train_idx, test_idx) for task in TASKS}


def event_station_prior(data: SampleSet, train_idx: np.ndarray, test_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Among event windows only: each station's most frequent magnitude class and sector (a geometry prior)."""
    stations = np.array([r["station"] for r in data.rows])
    ev = data.is_event
    tr, te = train_idx[ev[train_idx]], test_idx[ev[test_idx]]
    return {task: _station_mode(stations, getattr(data, task), len(TASKS[task]) - 1, tr, te) for task in TASKS}


def _label_scores(data: SampleSet, idx: np.ndarray, preds: dict[str, np.ndarray], n_boot: int) -> dict[str, Any]:
    rows = [data.rows[i] for i in idx]
    groups = [r["group_event"] for r in rows]
    is_event = data.is_event[idx]
    return {task: task_report(getattr(data, task)[idx], preds[task], TASKS[task], groups, is_event, n_boot=n_boot)
            for task in TASKS}


def _given_event_scores(data: SampleSet, idx: np.ndarray, mag: np.ndarray, bearing: np.ndarray, n_boot: int) -> dict[str, Any]:
    """Scores of predictions made for the event windows among ``idx``."""
    ev_idx = idx[data.is_event[idx]]
    groups = [data.rows[i]["group_event"] for i in ev_idx]
    return {
        "magnitude_given_event": task_report(data.magnitude[ev_idx], mag, TASKS["magnitude"][:-1], groups,
                                             np.ones(len(ev_idx), bool), n_boot=n_boot),
        "azimuth_given_event": direction_metrics(bearing, data.bearing[ev_idx], groups, n_boot),
    }


# ---------------------------------------------------------------------------- one fold
def _served(model, val: SampleSet, test_images: np.ndarray, spec: InputSpec, cfg: TrainConfig,
            calibration_normals: SampleSet | None) -> tuple[ServedOutputs, Calibration, dict[str, np.ndarray]]:
    """Calibrate on the validation side (and held-out Normals), then serve the test windows."""
    calibration = calibrate_on(model, val, calibration_normals, spec, cfg.azimuth_head)
    raw_test = predict_raw(model, test_images, spec)
    return ServedOutputs.from_raw(raw_test, calibration, cfg.azimuth_head), calibration, raw_test


def _shuffled(data: SampleSet, idx: np.ndarray, seed: int) -> SampleSet:
    """The windows with their labels (kind, classes, bearing together) permuted among them."""
    out = data.subset(idx)
    perm = np.random.default_rng(seed).permutation(len(idx))
    out.magnitude, out.azimuth, out.bearing = out.magnitude[perm], out.azimuth[perm], out.bearing[perm]
    out.rows = [{**row, "kind": out.rows[j]["kind"]} for row, j in zip(out.rows, perm)]
    return out


def _training_side_normals(normals: SampleSet | None, rows: list[dict[str, str]], train_idx: np.ndarray,
                           test_idx: np.ndarray, key: str) -> SampleSet | None:
    """The held-out calibration Normals a fold may use: none from its test side. Under LOEO they come from
    station-days no sample touches, so all stay; under LOSO or time blocks only those of the training
    side's stations or blocks (never the test stations' background, nor a gap block's)."""
    if normals is None or not len(normals):
        return normals
    test_keys = {rows[i][key] for i in test_idx}
    train_keys = {rows[i][key] for i in train_idx}
    own = [r[key] for r in normals.rows]
    keep = [i for i, k in enumerate(own) if k not in test_keys and (key == "group_event" or k in train_keys)]
    return normals.subset(np.array(keep, dtype=int))


# ---------------------------------------------------------------------------- cross-validation
def run_cv(data: SampleSet, spec: InputSpec, cfg: TrainConfig, scheme: str = "loeo", k: int = 5,
           max_folds: int | None = None, shuffled_control_folds: int = 1, seed: int = 0, n_boot: int = 500,
           progress: bool = False, calibration_normals: SampleSet | None = None) -> dict[str, Any]:
    """Train, calibrate and test on every fold (same recipe as the exported model); pool the test outputs;
    add baselines and the shuffled-label control."""
    folds = make_folds(data.rows, scheme, k, seed)
    run = folds[: max_folds or len(folds)]
    key = SCHEME_KEYS[scheme]
    pooled_idx, pooled_out, calibrations, fold_summaries = [], [], [], []
    baseline_preds: dict[str, list] = {"majority": [], "station_prior": []}
    prior_given_event: list[tuple[np.ndarray, np.ndarray]] = []
    physics: list[np.ndarray] = []
    control_idx, control_out = [], []
    for fi, (train_idx, test_idx) in enumerate(run):
        fit_idx, val_idx = carve_validation(data.rows, train_idx, key, cfg.val_fraction, seed + fi)
        logger.info("%s fold %d/%d: %d fit, %d validation, %d test windows", scheme, fi + 1, len(run),
                    len(fit_idx), len(val_idx), len(test_idx))
        val = data.subset(val_idx)
        fold_normals = _training_side_normals(calibration_normals, data.rows, train_idx, test_idx, key)
        result = train(cfg, data.subset(fit_idx), val, spec, progress=progress)
        served, calibration, raw_test = _served(result.model, val, data.images[test_idx], spec, cfg, fold_normals)
        pooled_idx.append(test_idx)
        pooled_out.append(served)
        calibrations.append(calibration.to_dict())
        if "physics" in raw_test:
            physics.append(raw_test["physics"][data.is_event[test_idx]])
        baseline_preds["majority"].append(majority_baseline(data, train_idx, test_idx))
        baseline_preds["station_prior"].append(station_prior_baseline(data, train_idx, test_idx))
        prior = event_station_prior(data, train_idx, test_idx)
        prior_given_event.append((prior["magnitude"], prior["azimuth"] * 45.0))
        if fi < shuffled_control_folds:
            # same recipe (training, selection and calibration) with labels permuted across the training side:
            # must land at chance on the test side
            shuffled_val = _shuffled(data, val_idx, seed + 2000 + fi)
            control = train(cfg, _shuffled(data, fit_idx, seed + 1000 + fi), shuffled_val, spec, progress=progress)
            cserved, _, _ = _served(control.model, shuffled_val, data.images[test_idx], spec, cfg, fold_normals)
            control_idx.append(test_idx)
            control_out.append(cserved)
        fold_summaries.append({
            "fold": fi + 1, "fit": len(fit_idx), "validation": len(val_idx), "test": len(test_idx),
            "test_groups": len({data.rows[i][key] for i in test_idx}), "best_epoch": result.best_epoch,
            "stopped": result.stopped, "history": result.history, "calibration": calibration.to_dict(),
        })

    idx = np.concatenate(pooled_idx)
    rows = [data.rows[i] for i in idx]
    report: dict[str, Any] = {
        "scheme": scheme, "group_key": key, "folds_total": len(folds), "folds_run": len(run),
        "train_config": cfg.to_dict(), "input_spec": spec.to_dict(), "samples": len(data),
        "test_windows": int(len(idx)), "test_events": len({r["event_id"] for r in rows if r["kind"] == "event"}),
        "model": score(rows, data.magnitude[idx], data.azimuth[idx], ServedOutputs.concat(pooled_out), n_boot),
        "baselines": {}, "controls": {}, "folds": fold_summaries,
    }
    for name, preds in baseline_preds.items():
        report["baselines"][name] = _label_scores(data, idx, {t: np.concatenate([p[t] for p in preds]) for t in TASKS}, 200)
    report["baselines"]["event_station_prior"] = _given_event_scores(
        data, idx, np.concatenate([m for m, _ in prior_given_event]), np.concatenate([b for _, b in prior_given_event]), 200)
    if physics:
        vec = np.concatenate(physics)
        bearing = vector_bearing_deg(vec[:, 0], vec[:, 1])
        ev_idx = idx[data.is_event[idx]]
        report["baselines"]["direction_finder"] = {"azimuth_given_event": direction_metrics(
            bearing, data.bearing[ev_idx], [data.rows[i]["group_event"] for i in ev_idx], 200)}
    if control_idx:
        cidx = np.concatenate(control_idx)
        crow = [data.rows[i] for i in cidx]
        report["controls"]["shuffled_labels"] = {
            "folds": len(control_idx),
            **score(crow, data.magnitude[cidx], data.azimuth[cidx], ServedOutputs.concat(control_out), 200),
        }
    return report


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The compact form stored in a model's manifest."""
    m = report["model"]
    out = {
        "scheme": report["scheme"], "folds_run": report["folds_run"], "folds_total": report["folds_total"],
        "test_windows": report["test_windows"], "train_config": report["train_config"],
        **headline(m),
        "labels": {t: {k: m[t][k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "mcc")} for t in TASKS},
        "ece_after_calibration": {t: m["calibration"][t]["after"]["ece"] for t in m["calibration"]},
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
