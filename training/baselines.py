"""What a model has to beat: predictors that see no spectrogram, and how their predictions are scored.

* ``majority``: the training side's most frequent class of every task;
* ``station_prior``: each station's most frequent training class (a geometry and base-rate prior);
* ``event_station_prior``: among event windows only, each station's most frequent magnitude class and
  sector (given an event);
* ``direction_finder``: the bearing of the non-learnt cross-spectral direction finder (bearing head).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model_store.compass import vector_bearing_deg
from model_store.labels import TASKS

from .evaluate import direction_metrics
from .metrics import task_report
from .samples import SampleSet


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


def label_scores(data: SampleSet, idx: np.ndarray, preds: dict[str, np.ndarray], n_boot: int) -> dict[str, Any]:
    rows = [data.rows[i] for i in idx]
    groups = [r["group_event"] for r in rows]
    is_event = data.is_event[idx]
    return {task: task_report(getattr(data, task)[idx], preds[task], TASKS[task], groups, is_event, n_boot=n_boot)
            for task in TASKS}


def given_event_scores(data: SampleSet, idx: np.ndarray, mag: np.ndarray, bearing: np.ndarray, n_boot: int) -> dict[str, Any]:
    """Scores of predictions made for the event windows among ``idx``."""
    ev_idx = idx[data.is_event[idx]]
    groups = [data.rows[i]["group_event"] for i in ev_idx]
    return {
        "magnitude_given_event": task_report(data.magnitude[ev_idx], mag, TASKS["magnitude"][:-1], groups,
                                             np.ones(len(ev_idx), bool), n_boot=n_boot),
        "azimuth_given_event": direction_metrics(bearing, data.bearing[ev_idx], groups, n_boot),
    }


def direction_finder_scores(data: SampleSet, idx: np.ndarray, vectors: np.ndarray, n_boot: int) -> dict[str, Any]:
    """Scores of the direction finder's bearings (its (north, east) vectors) for the event windows among ``idx``."""
    ev_idx = idx[data.is_event[idx]]
    bearing = vector_bearing_deg(vectors[:, 0], vectors[:, 1])
    return {"azimuth_given_event": direction_metrics(bearing, data.bearing[ev_idx],
                                                     [data.rows[i]["group_event"] for i in ev_idx], n_boot)}


__all__ = ["direction_finder_scores", "event_station_prior", "given_event_scores", "label_scores",
           "majority_baseline", "station_prior_baseline"]
