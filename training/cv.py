"""Cross-validation: every fold trained, calibrated and tested with the exported model's recipe.

Folds and validation splits come from :mod:`training.folds`, the baselines beside the model from
:mod:`training.baselines`; the pooled test outputs are scored by :mod:`training.evaluate` and the report
is written by :mod:`training.cv_report`. Early stopping, model selection and calibration use only a
validation split of whole groups from each fold's training side.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from model_store import Calibration, InputSpec
from model_store.compass import sector_centre_deg
from model_store.labels import TASKS

from .baselines import (
    direction_finder_scores,
    event_station_prior,
    given_event_scores,
    label_scores,
    majority_baseline,
    station_prior_baseline,
)
from .evaluate import ServedOutputs, score
from .folds import SCHEME_KEYS, carve_validation, make_folds
from .samples import SampleSet
from .train import TrainConfig, calibrate_on, predict_raw, train

logger = logging.getLogger(__name__)


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
    pooled_idx, pooled_out, fold_summaries = [], [], []
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
        if "physics" in raw_test:
            physics.append(raw_test["physics"][data.is_event[test_idx]])
        baseline_preds["majority"].append(majority_baseline(data, train_idx, test_idx))
        baseline_preds["station_prior"].append(station_prior_baseline(data, train_idx, test_idx))
        prior = event_station_prior(data, train_idx, test_idx)
        prior_given_event.append((prior["magnitude"], sector_centre_deg(prior["azimuth"])))
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
        report["baselines"][name] = label_scores(data, idx, {t: np.concatenate([p[t] for p in preds]) for t in TASKS}, 200)
    report["baselines"]["event_station_prior"] = given_event_scores(
        data, idx, np.concatenate([m for m, _ in prior_given_event]), np.concatenate([b for _, b in prior_given_event]), 200)
    if physics:
        report["baselines"]["direction_finder"] = direction_finder_scores(data, idx, np.concatenate(physics), 200)
    if control_idx:
        cidx = np.concatenate(control_idx)
        crow = [data.rows[i] for i in cidx]
        report["controls"]["shuffled_labels"] = {
            "folds": len(control_idx),
            **score(crow, data.magnitude[cidx], data.azimuth[cidx], ServedOutputs.concat(control_out), 200),
        }
    return report


__all__ = ["run_cv"]
