"""The scikit-learn metrics give the figures the hand-written ones gave (hand-computed cases)."""

import math

import numpy as np
import pytest

from training.evaluate import ServedOutputs, roc_auc
from training.metrics import classification_metrics, task_report


def test_classes_missing_from_y_true_are_left_out_of_balanced_accuracy_and_macro_f1():
    # labels A B C D; true: A A B B B; predicted: A D B B A (C never seen, D only predicted)
    m = classification_metrics([0, 0, 1, 1, 1], [0, 3, 1, 1, 0], ["A", "B", "C", "D"])
    assert m["confusion_matrix"] == [[1, 0, 0, 1], [1, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # recall of A and B only
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8) / 2)  # F1 of A (P 1/2, R 1/2) and B (P 1, R 2/3)
    # Gorodkin's R_K: c=3, s=5, t=(2,3,0,0), p=(2,2,0,1): (15 - 10) / sqrt((25 - 9) (25 - 13))
    assert m["mcc"] == pytest.approx(5 / math.sqrt(16 * 12))
    assert m["per_class"]["C"] == {"precision": 0.0, "recall": None, "f1": 0.0, "support": 0}
    assert m["per_class"]["D"] == {"precision": 0.0, "recall": None, "f1": 0.0, "support": 0}
    assert m["per_class"]["A"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}


def test_one_label_everywhere_and_no_windows():
    m = classification_metrics([1, 1, 1], [1, 1, 1], ["A", "B", "C"])
    assert (m["accuracy"], m["balanced_accuracy"], m["macro_f1"], m["mcc"]) == (1.0, 1.0, 1.0, 0.0)  # MCC undefined: 0
    assert classification_metrics([0, 1, 2, 2], [0, 1, 2, 2], ["A", "B", "C"])["mcc"] == pytest.approx(1.0)
    empty = classification_metrics([], [], ["A", "B"])
    assert empty["n"] == 0 and empty["mcc"] == 0.0 and empty["confusion_matrix"] == [[0, 0], [0, 0]]
    assert all(math.isnan(empty[k]) for k in ("accuracy", "balanced_accuracy", "macro_f1"))
    assert empty["per_class"]["A"] == {"precision": 0.0, "recall": None, "f1": 0.0, "support": 0}


def test_task_report_keeps_its_keys_and_intervals():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, y, rng.integers(0, 4, 60))
    rep = task_report(y, pred, ["A", "B", "C", "Normal"], [f"e{i // 3}" for i in range(60)], y < 2, n_boot=200)
    assert set(rep) == {"n", "accuracy", "balanced_accuracy", "macro_f1", "mcc", "per_class", "confusion_matrix",
                        "labels", "event_window_accuracy", "ci95", "chance_balanced_accuracy"}
    assert rep["event_window_accuracy"] == pytest.approx(float((y[y < 2] == pred[y < 2]).mean()))
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        lo, hi = rep["ci95"][key]
        assert lo <= rep[key] <= hi
    assert rep["chance_balanced_accuracy"] == pytest.approx(1 / 3)


def test_roc_auc_counts_ties_half():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    positive = np.array([True, True, True, False, False])
    # pairs (positive, negative): 0.9>0.5, 0.9>0.1, 0.5=0.5 (half) twice, 0.5>0.1 twice: 5 of 6
    assert roc_auc(scores, positive) == pytest.approx(5 / 6)
    assert roc_auc(scores, np.ones(5, bool)) is None and roc_auc(scores, np.zeros(5, bool)) is None
    assert roc_auc(scores[:0], positive[:0]) is None


@pytest.mark.parametrize("head", ["sectors", "bearing"])
def test_served_outputs_are_what_the_service_serves(head):
    import torch

    from model_store import Calibration
    from model_store.outputs import serve
    from training.calibrate import uncalibrated

    rng = np.random.default_rng(1)
    n = 16
    raw = {"detection": rng.normal(0, 2, (n, 1)).astype(np.float32), "magnitude": rng.normal(size=(n, 3)).astype(np.float32),
           "azimuth": rng.normal(size=(n, 4 if head == "bearing" else 8)).astype(np.float32)}
    calibration = Calibration(detection_temperature=1.7, magnitude_temperature=0.6, azimuth_temperature=1.3,
                              alarm_threshold=0.8)
    out = ServedOutputs.from_raw(raw, calibration, head)
    served = serve({k: torch.from_numpy(v) for k, v in raw.items()}, calibration, head)
    before = serve({k: torch.from_numpy(v) for k, v in raw.items()}, uncalibrated(calibration), head)
    for task in ("magnitude", "azimuth"):
        assert np.array_equal(out.probabilities[task], served.probabilities[task])
        assert np.array_equal(out.probabilities_uncalibrated[task], before.probabilities[task])
    if head == "bearing":
        assert np.array_equal(out.bearing, served.bearing_deg) and list(out.bearing_parts) == ["fused"]
    else:
        assert set(out.bearing) <= {0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0} and not out.bearing_parts
    assert (out.alarm_threshold == 0.8).all()
