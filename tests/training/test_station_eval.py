"""The unseen-station evaluation on a tiny world: every way of judging a window is reported per model."""

from __future__ import annotations

import json

import torch

from model_store import InputSpec, create_model
from model_store.registry import ModelRegistry
from training.__main__ import main as cli

SPEC = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125, image_height=32,
                 image_width=32)


def test_station_eval_reports_each_model_with_and_without_baselines(tmp_path):
    from model_store.direction import physics_config

    torch.manual_seed(0)
    ModelRegistry(tmp_path / "models").save(
        create_model("convnext_atto", in_chans=6, head_hidden=8, azimuth_head="bearing", physics=physics_config(SPEC),
                     cam_stage=2), "tiny", input_spec=SPEC, provenance={"trained_on": "untrained", "description": "t"})
    (tmp_path / "world.yaml").write_text(
        "simulator: {seed: 5, days: 3, events_per_day: 40, b_value: 0.6, detection_m0: 4.0, "
        "detection_km_per_magnitude: 50.0}\n"
        "labels: {m0: 4.0, km_per_magnitude: 50.0, exclusion_min_magnitude: 4.0, exclusion_radius: label, "
        "exclusion_radius_factor: 1.8, exclusion_before_hours: 96}\n"
        "station_eval: {days: 2, baseline_days: 3}\n")
    out = tmp_path / "eval.json"
    assert cli(["station-eval", "--config", str(tmp_path / "world.yaml"), "--model-store", str(tmp_path / "models"),
                "--models", "tiny", "--stations", "LUT", "GTO", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"]["days"] == 2 and report["config"]["station_seed"] == 101
    assert set(report["baselines"]) == {"LUT", "GTO"} and report["baselines"]["LUT"]["used"] >= 10
    modes = report["models"]["tiny:1"]
    assert set(modes) == {"model_alone", "a_p_value"}  # an absolute model: no station-relative modes
    for m in modes.values():
        assert m["quiet_windows"] + m["event_windows"] > 0 and set(m["per_station"]) <= {"LUT", "GTO"}


def test_the_model_report_tables_every_model_and_mode_of_the_committed_evaluation():
    from pathlib import Path

    from training.model_report import station_table

    committed = Path(__file__).resolve().parents[2] / "docs" / "default_model_report" / "station_eval.json"
    evaluation = json.loads(committed.read_text())
    lines = station_table({"station_eval": evaluation})
    rows = [line for line in lines if line.startswith(("| default |", "| power |", "| station |"))]
    assert len(rows) == sum(len(modes) for modes in evaluation["models"].values()) >= 7
    assert any(line.startswith("| station | (c) both |") for line in rows)
