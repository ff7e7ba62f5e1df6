"""Training, folds, metrics and export on tiny inputs (no long training here)."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from model_store import InputSpec, ModelRegistry, load_checkpoint
from training.cv import _training_side_normals
from training.folds import carve_validation, make_folds
from training.metrics import azimuth_errors, classification_metrics
from training.samples import SampleSet, inverse_frequency_weights
from training.train import TrainConfig, train

SPEC = InputSpec(image_height=32, image_width=32)
TINY = TrainConfig(backbone="convnext_atto", head_hidden=16, dropout=0.0, drop_path_rate=0.0, epochs=6,
                   batch_size=8, lr=2e-3, warmup_epochs=1, patience=10, augmentations=(), seed=0)


def toy_set(n: int, seed: int = 0) -> SampleSet:
    """A learnable toy: the magnitude class sets which frequency row is bright, azimuth sets the channel."""
    rng = np.random.default_rng(seed)
    mag = rng.integers(0, 4, n)
    az = np.where(mag == 3, 8, rng.integers(0, 2, n) * 2)  # Normal <-> Normal, else N or E
    images = rng.integers(20, 60, size=(n, 3, 32, 32)).astype(np.uint8)
    for i in range(n):
        images[i, 1 if az[i] == 2 else 0, 4 + 7 * mag[i] : 8 + 7 * mag[i], :] = 250
    rows = [{"station": f"S{i % 3}", "kind": "normal" if mag[i] == 3 else "event", "group_event": f"e{i // 2}",
             "bearing_deg": "0" if az[i] == 0 else "90", "kp_max": "2.0", "group_station": f"S{i % 3}",
             "group_time_block": str(i // 8)} for i in range(n)]
    return SampleSet(images, mag.astype(np.int64), az.astype(np.int64), rows)


def test_loss_decreases_and_the_toy_is_learnt():
    data = toy_set(64)
    result = train(TINY, data.subset(range(48)), data.subset(range(48, 64)), SPEC)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.best_val["magnitude_balanced_accuracy"] > 0.5  # chance is 0.25
    assert 1 <= result.best_epoch <= TINY.epochs


def test_bf16_autocast_trains():
    data = toy_set(16)
    result = train(replace(TINY, epochs=1, bf16=True), data.subset(range(12)), data.subset(range(12, 16)), SPEC)
    assert np.isfinite(result.history[0]["train_loss"]) and np.isfinite(result.history[0]["val_loss"])


def test_resume_continues_from_the_saved_epoch(tmp_path):
    data = toy_set(24)
    cfg = replace(TINY, epochs=2)
    train(cfg, data.subset(range(16)), data.subset(range(16, 24)), SPEC, out_dir=tmp_path)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == 1
    more = train(replace(cfg, epochs=3), data.subset(range(16)), data.subset(range(16, 24)), SPEC,
                 out_dir=tmp_path, resume=True)
    assert [h["epoch"] for h in more.history] == [1, 2, 3]


@pytest.mark.parametrize("scheme, key", [("loeo", "group_event"), ("loso", "group_station"), ("time", "group_time_block")])
def test_folds_never_share_a_group(scheme, key):
    rows = toy_set(64).rows
    folds = make_folds(rows, scheme, k=4, seed=1)
    tested = np.concatenate([test for _, test in folds])
    assert len(folds) >= 3
    for train_idx, test_idx in folds:
        assert not {rows[i][key] for i in train_idx} & {rows[i][key] for i in test_idx}
        fit, val = carve_validation(rows, train_idx, "group_event", 0.2, seed=0)
        assert not {rows[i]["group_event"] for i in fit} & {rows[i]["group_event"] for i in val}
        assert set(fit) | set(val) == set(train_idx) and not set(val) & set(test_idx)
    if scheme != "time":  # every window is tested exactly once
        assert sorted(tested.tolist()) == list(range(64))


@pytest.mark.parametrize("k", [0, 1, -3, 2.5, "5"])
def test_fewer_than_two_folds_are_refused_with_the_setting_named(k):
    with pytest.raises(ValueError, match="at least 2 folds"):
        make_folds(toy_set(16).rows, "loeo", k)


@pytest.mark.parametrize("scheme, key", [("loeo", "group_event"), ("loso", "group_station"), ("time", "group_time_block")])
def test_a_fold_calibrates_its_alarm_on_no_held_out_normal_of_its_test_side(scheme, key):
    rows = toy_set(64).rows
    normals = toy_set(24, seed=5)
    for i, r in enumerate(normals.rows):  # held-out Normals: their own station-days, at every station and block
        r.update(group_event=f"cal{i}", group_station=f"S{i % 3}", group_time_block=str(i % 8))
    for train_idx, test_idx in make_folds(rows, scheme, k=3):
        kept = _training_side_normals(normals, rows, train_idx, test_idx, key)
        test_keys = {rows[i][key] for i in test_idx}
        assert not {r[key] for r in kept.rows} & test_keys
        if scheme == "loeo":
            assert len(kept) == len(normals)  # untouched station-days: none is on a test side
        else:
            assert 0 < len(kept) < len(normals) and {r[key] for r in kept.rows} <= {rows[i][key] for i in train_idx}


def test_time_folds_leave_a_gap_around_the_test_block():
    rows = toy_set(64).rows
    for train_idx, test_idx in make_folds(rows, "time", k=4):
        test_blocks = {int(rows[i]["group_time_block"]) for i in test_idx}
        train_blocks = {int(rows[i]["group_time_block"]) for i in train_idx}
        assert all(min(abs(a - b) for b in test_blocks) >= 2 for a in train_blocks)


def test_metrics_match_hand_computed_values():
    # true:      A A A B B C ; predicted: A A B B C C
    y_true, y_pred = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]
    m = classification_metrics(y_true, y_pred, ["A", "B", "C"])
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 2 * 0.5 * 0.5 / 1.0, 2 * 0.5 * 1 / 1.5]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    # Gorodkin: c=4, s=6, t=(3,2,1), p=(2,2,2): (4*6 - 12) / sqrt((36-12)*(36-14))
    assert m["mcc"] == pytest.approx((24 - 12) / np.sqrt(24 * 22))
    assert classification_metrics([0, 1, 2] * 5, [0, 1, 2] * 5, ["A", "B", "C"])["mcc"] == pytest.approx(1.0)
    assert m["per_class"]["B"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}


def test_azimuth_angular_errors():
    out = azimuth_errors([10.0, 100.0, 200.0, 300.0], ["N", "E", "NE", "Normal"])
    # errors: 10, 10, 155 (NE=45 vs 200), miss
    assert out["median_angular_error_deg"] == pytest.approx(10.0)
    assert out["hit_rate_45deg"] == pytest.approx(2 / 4)
    assert out["predicted_normal_fraction"] == pytest.approx(1 / 4)


def test_inverse_frequency_weights():
    w = inverse_frequency_weights(np.array([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([4 / 6, 2.0, 1.0])


def test_cli_train_then_export_gives_a_loadable_checkpoint(tmp_path):
    from training.__main__ import main as cli
    from training.dataset import BuildConfig, build_sim

    from .test_dataset import TINY as TINY_WORLD

    data = tmp_path / "ds"
    build_sim(BuildConfig.from_dict(TINY_WORLD), data, progress=False)
    cfg = tmp_path / "t.yaml"
    cfg.write_text("train: {backbone: convnext_atto, head_hidden: 16, epochs: 1, batch_size: 4, warmup_epochs: 1}\n")
    assert cli(["train", "--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert cli(["export", "--run", str(tmp_path / "run"), "--store", str(tmp_path / "store"), "--name", "toy",
                "--default"]) == 0
    loaded = ModelRegistry(tmp_path / "store").load()
    assert loaded.manifest.ref == "toy:1" and loaded.manifest.trained_on == "simulated"
    assert "simulator only" in loaded.manifest.provenance["description"]
    assert loaded.manifest.training["config"]["backbone"] == "convnext_atto"
    assert load_checkpoint(tmp_path / "run" / "checkpoint").manifest.weights_sha256 == loaded.manifest.weights_sha256
    # report summaries must be a JSON object: a list is refused (exit 2), and nothing is added to the store
    listed = tmp_path / "summaries.json"
    listed.write_text("[1, 2]")
    assert cli(["export", "--run", str(tmp_path / "run"), "--store", str(tmp_path / "store"), "--name", "toy",
                "--metrics", str(listed)]) == 2
    assert ModelRegistry(tmp_path / "store").versions("toy") == ["1"]


def test_two_process_ddp_run_completes(tmp_path):
    """torchrun with gloo on CPU: two ranks train one tiny epoch and rank 0 writes the checkpoint."""
    from training.dataset import BuildConfig, build_sim

    from .test_dataset import TINY as TINY_WORLD

    data = tmp_path / "ds"
    build_sim(BuildConfig.from_dict(TINY_WORLD), data, progress=False)
    cfg = tmp_path / "t.yaml"
    cfg.write_text("train: {backbone: convnext_atto, head_hidden: 16, epochs: 1, batch_size: 2, warmup_epochs: 1, threads: 1}\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29512",
         "-m", "training", "train", "--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "checkpoint" / "manifest.json").read_text())
    assert manifest["training"]["world_size"] == 2


def test_cli_cv_writes_report_with_baselines_and_figures(tmp_path):
    from training.__main__ import main as cli
    from training.dataset import BuildConfig, build_sim

    from .test_dataset import TINY as TINY_WORLD

    data = tmp_path / "ds"
    build_sim(BuildConfig.from_dict(TINY_WORLD), data, progress=False)
    cfg = tmp_path / "t.yaml"
    cfg.write_text(
        "train: {backbone: convnext_atto, head_hidden: 16, epochs: 1, batch_size: 4, warmup_epochs: 1,\n"
        "        representation: cross, azimuth_head: bearing}\n"
        "cv: {scheme: loeo, folds: 2, shuffled_control_folds: 1}\n"
    )
    assert cli(["cv", "--config", str(cfg), "--data", str(data), "--out", str(tmp_path / "cv"), "--quiet"]) == 0
    report = json.loads((tmp_path / "cv" / "report.json").read_text())
    assert report["scheme"] == "loeo" and report["folds_run"] == 2
    assert set(report["baselines"]) == {"majority", "station_prior", "event_station_prior", "direction_finder"}
    assert set(report["controls"]) == {"shuffled_labels"}
    assert report["test_windows"] == report["samples"]  # every window tested once
    model = report["model"]
    for task in ("magnitude", "azimuth"):
        assert model[task]["n"] == report["samples"] and "ci95" in model[task]
    assert {"auc", "alarm_false_alarm_rate", "alarm_detection_rate"} <= set(model["detection"])
    assert model["azimuth_given_event"]["n"] == model["event_windows"] > 0
    assert {"before", "after"} <= set(model["calibration"]["azimuth"])
    assert all("calibration" in f for f in report["folds"])  # each fold calibrated on its own validation side
    md = (tmp_path / "cv" / "report.md").read_text()
    assert "| control: shuffled_labels |" in md and "direction finder (not learnt)" in md
    for fig in ("confusion_magnitude.png", "confusion_azimuth.png", "learning_curves.png", "reliability.png"):
        assert (tmp_path / "cv" / "figures" / fig).stat().st_size > 1000
