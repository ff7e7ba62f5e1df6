"""python -m training network-eval on a tiny world (four stations of the dense array, two days, one day without
precursors): the chain /analyze/network runs, scored against ground truth; and the report's network table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_store import PACKAGED_STORE, ModelRegistry
from model_store.network import BearingCalibration, MagnitudeModel, NetworkConfig
from model_store.network_store import NetworkArtifact, NetworkStore, station_model_identity
from training.__main__ import main
from training.model_report import NETWORK_HEADING, network_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def artifact_file(tmp_path_factory) -> Path:
    manifest = ModelRegistry(PACKAGED_STORE).manifest()
    magnitude = MagnitudeModel(("Large", "Medium", "Moderate"), ((1.0, 0.2), (0.0, 0.0), (-1.0, -0.2)),
                               (0.0, 0.0, 0.0), (3.5, 3.0), (0.4, 1.0), fitted_on="a test")
    artifact = NetworkArtifact(
        magnitude=magnitude, bearing_calibration=BearingCalibration(20.0, 6.0), station_model=station_model_identity(manifest),
        amplitude_estimator="coherent_band_rms_v1", network_config=NetworkConfig(max_sources=3),
        reference_models={"ceiling": magnitude.to_dict(),
                          "count_only": {"label_by_count": {"2": "Medium", "4": "Large"}, "default": "Medium"}})
    path = tmp_path_factory.mktemp("network") / "network_fit.json"
    path.write_text(json.dumps(artifact.to_dict()))
    return path


def test_network_eval_on_a_tiny_world(tmp_path, artifact_file):
    config = tmp_path / "tiny.yaml"
    config.write_text(f"extends: {ROOT / 'configs' / 'sim_dense_array.yaml'}\n"
                      "simulator:\n  stations: [XSA, XSB, XSC, XSD]\n  start: '2025-01-03'\n")
    out = tmp_path / "network_eval.json"
    assert main(["network-eval", "--network", str(artifact_file), "--config", str(config), "--days", "2",
                 "--quiet-days", "1", "--bmkg-days", "0", "--format", "iaga2002", "--workers", "1",
                 "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    dense = report["dense_array"]
    assert dense["days"] == 2 and dense["stations"] == 4 and dense["windows"] == 8 and dense["format"] == "iaga2002"
    assert set(dense["localisation"]) == {"2", "3+"}
    for block in dense["localisation"].values():
        assert block["event_windows"] >= block["fixes"] >= 0
        if block["fixes"]:
            assert block["median_error_km"] >= 0 and 0 <= block["ellipse_coverage"] <= 1
    assert dense["amplitude_estimator_check"]["windows"] > 0
    quiet = report["dense_array_without_precursors"]
    assert quiet["days"] == 1 and quiet["all"]["windows"] == 4  # every window is quiet without precursors
    assert report["bearing_calibration"]["scale"] == 20.0 and report["network_config"]["max_sources"] == 3
    assert "bmkg" not in report
    lines = network_table(report)
    assert lines[0] == NETWORK_HEADING and any(line.startswith("| 2 stations |") for line in lines)


def test_network_export_ties_the_fit_to_the_stored_model(tmp_path, artifact_file):
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"dense_array": {"world": "w", "seed": 1, "days": 2, "localisation": {},
                                                      "magnitude": {}}}))
    store = tmp_path / "_network"
    assert main(["network-export", "--network", str(artifact_file), "--evaluation", str(evaluation),
                 "--model-store", str(PACKAGED_STORE), "--store", str(store)]) == 0
    saved = NetworkStore(store).load("1")
    assert saved.station_model["ref"] == ModelRegistry(PACKAGED_STORE).manifest().ref
    assert saved.evaluation["world"] == "w"
    assert main(["network-export", "--network", str(artifact_file), "--model-store", str(PACKAGED_STORE),
                 "--model", "power", "--store", str(store)]) == 2  # fitted on another station model: refused
