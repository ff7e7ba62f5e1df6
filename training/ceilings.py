"""What one station can know about magnitude: ceilings from the simulator's ground truth.

In the simulated world the received amplitude is S (r0 / r)^3 for a source strength S whose median grows
with M and which scatters about it (log-normal, 0.3 dex), and band, lead, growth and Z/H are drawn
independently of M, so a single station's record constrains magnitude only through r, which it cannot
measure, and through geometry (which stations sit near which seismicity). Classifiers trained on
the *true* values of what a record could reveal, scored on the same event-grouped folds as the model,
bound what any model of one station's spectrogram can reach:

* ``signal``: received amplitude, band, lead time, growth, Z/H ratio, time to the origin;
* ``signal + station``: plus the station's identity (a geometry prior);
* ``signal + station + bearing``: plus the true bearing (direction is knowable from cross-spectra);
* ``station only``: the event-only station prior;
* ``with distance``: everything above plus the true distance, which one station cannot observe.

The gradient-boosting classifier is scikit-learn's (a ``train`` extra); balanced accuracy over the
three event classes, pooled over folds.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from model_store.fileio import parse_utc
from model_store.labels import MAGNITUDE_CLASSES

from .folds import make_folds
from .dataset import read_samples
from .metrics import classification_metrics

logger = logging.getLogger(__name__)

FEATURE_SETS = {
    "signal": ("log_amplitude", "band_low", "band_high", "emission_lead_days", "growth", "zh_ratio", "hours_to_origin"),
    "signal + station": ("log_amplitude", "band_low", "band_high", "emission_lead_days", "growth", "zh_ratio",
                         "hours_to_origin", "station"),
    "signal + station + bearing": ("log_amplitude", "band_low", "band_high", "emission_lead_days", "growth", "zh_ratio",
                                   "hours_to_origin", "station", "bearing_cos", "bearing_sin"),
    "station only": ("station",),
    "with distance": ("log_amplitude", "band_low", "band_high", "emission_lead_days", "growth", "zh_ratio",
                      "hours_to_origin", "station", "bearing_cos", "bearing_sin", "log_distance"),
}


def event_features(dataset_dir: str | Path) -> tuple[list[dict[str, str]], dict[str, np.ndarray], np.ndarray]:
    """(event rows, feature columns, magnitude class index) from a simulated dataset's ground truth."""
    base = Path(dataset_dir)
    truth = json.loads((base / "world" / "ground_truth.json").read_text())
    injections = {(i["event_id"], i["station"]): i for i in truth["injections"]}
    rows = [r for r in read_samples(base) if r["kind"] == "event"]
    stations = sorted({r["station"] for r in rows})
    cols: dict[str, list[float]] = {k: [] for k in ("log_amplitude", "band_low", "band_high", "emission_lead_days",
                                                    "growth", "zh_ratio", "hours_to_origin", "station",
                                                    "bearing_cos", "bearing_sin", "log_distance")}
    for r in rows:
        inj = injections.get((r["event_id"], r["station"]))
        amp = float(r["event_emission_nt"] or 0.0)
        cols["log_amplitude"].append(math.log10(amp + 1e-4))
        cols["band_low"].append(inj["band_hz"][0] if inj else np.nan)
        cols["band_high"].append(inj["band_hz"][1] if inj else np.nan)
        lead = (parse_utc(inj["end"]) - parse_utc(inj["start"])).total_seconds() / 86400 if inj else None
        cols["emission_lead_days"].append(np.nan if lead is None else lead)
        cols["growth"].append(inj["growth_exponent"] if inj else np.nan)
        cols["zh_ratio"].append(inj["zh_ratio"] if inj else np.nan)
        cols["hours_to_origin"].append(float(r["lead_hours"]))
        cols["station"].append(stations.index(r["station"]))
        b = math.radians(float(r["bearing_deg"]))
        cols["bearing_cos"].append(math.cos(b))
        cols["bearing_sin"].append(math.sin(b))
        cols["log_distance"].append(math.log10(float(r["distance_km"]) + 1.0))
    y = np.array([MAGNITUDE_CLASSES.index(r["magnitude_class"]) for r in rows])
    return rows, {k: np.asarray(v, dtype=float) for k, v in cols.items()}, y


def ceilings(dataset_dir: str | Path, k: int = 5, seed: int = 0) -> dict[str, Any]:
    """Pooled event-grouped CV balanced accuracy of magnitude (3 classes) for every feature set."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows, cols, y = event_features(dataset_dir)
    folds = make_folds(rows, "loeo", k, seed)
    out: dict[str, Any] = {"event_windows": len(rows), "classes": list(MAGNITUDE_CLASSES[:-1]), "folds": len(folds),
                           "chance_balanced_accuracy": 1 / 3, "ceilings": {}}
    for name, features in FEATURE_SETS.items():
        x = np.stack([cols[f] for f in features], axis=1)
        categorical = [f == "station" for f in features]
        pred = np.empty_like(y)
        for train_idx, test_idx in folds:
            clf = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                                 categorical_features=categorical, class_weight="balanced",
                                                 random_state=seed)
            clf.fit(x[train_idx], y[train_idx])
            pred[test_idx] = clf.predict(x[test_idx])
        m = classification_metrics(y, pred, MAGNITUDE_CLASSES[:-1])
        out["ceilings"][name] = {"features": list(features), "balanced_accuracy": m["balanced_accuracy"],
                                 "accuracy": m["accuracy"]}
        logger.info("magnitude ceiling %-28s balanced accuracy %.3f", name, m["balanced_accuracy"])
    return out


__all__ = ["FEATURE_SETS", "ceilings", "event_features"]
