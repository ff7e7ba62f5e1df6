"""The dataset builder: reproducible simulated datasets and the real LUT day."""

import csv
import hashlib

import pytest
from PIL import Image

from training.__main__ import main as cli
from training.dataset import SAMPLE_COLUMNS, BuildConfig, build_real, build_sim

TINY = {
    "simulator": {"seed": 3, "days": 10, "stations": ["LUT", "TRT", "ALR", "SKB", "AMB"], "events_per_day": 20, "b_value": 0.6},
    # consistent with the simulator's defaults: detection range (4.5, 40 km/M), leads up to 4 days, the
    # loudest source (2.5 sigma of 0.3 dex) reaching 10^0.25 = 1.78 times the detection range
    "labels": {"m0": 4.5, "km_per_magnitude": 40.0, "exclusion_min_magnitude": 4.5, "exclusion_before_hours": 96,
               "exclusion_radius": "label", "exclusion_radius_factor": 1.8},
    "dataset": {"seed": 0, "max_per_class": 3, "normal_ratio": 1.0, "normal_selection": "matched",
                "calibration_normals": 3},
    "input_specs": {"power": {"image_height": 32, "image_width": 32},
                    "cross": {"representation": "cross_spectral", "nperseg": 512, "noverlap": 256, "fmax_hz": 0.125,
                              "image_height": 32, "image_width": 32}},
}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    info = build_sim(BuildConfig.from_dict(TINY), out, progress=False)
    return out, info


def test_builder_writes_pngs_and_metadata(tiny_dataset):
    out, info = tiny_dataset
    rows = list(csv.DictReader(open(out / "metadata" / "samples.csv")))
    assert tuple(rows[0]) == SAMPLE_COLUMNS
    assert info["summary"]["samples"] == len(rows) > 0
    assert {r["kind"] for r in rows} == {"event", "normal"}
    events = [r for r in rows if r["kind"] == "event"]
    assert all(r["group_event"] == r["event_id"] and r["azimuth_class"] != "Normal" for r in events)
    assert sum(r["kind"] == "normal" for r in rows) == len(events)  # normal_ratio 1
    for r in rows[:5]:  # every window in both representations, with the layout each spec describes
        assert Image.open(out / "spectrograms" / "power" / r["png"]).size == (32, 32)
        assert Image.open(out / "spectrograms" / "cross" / r["png"]).size == (64, 32)
    assert (out / "world" / "ground_truth.json").is_file() and (out / "world" / "catalog.csv").is_file()
    # simulated ground truth: the received emission of the labelled event, and of any other
    assert all(float(r["event_emission_nt"]) >= 0 and float(r["emission_nt"]) >= float(r["event_emission_nt"])
               for r in events)
    assert all(r["event_emission_nt"] == "" for r in rows if r["kind"] == "normal")


def test_calibration_normals_come_from_station_days_no_sample_touches(tiny_dataset):
    from training.dataset import read_calibration_normals, read_samples

    out, info = tiny_dataset
    held_out = read_calibration_normals(out)
    assert 0 < len(held_out) <= 3 and info["summary"]["calibration_normals"] == len(held_out)
    used = {(r["station"], r["window_start"][:10]) for r in read_samples(out)}
    assert all(r["kind"] == "normal" and (r["station"], r["window_start"][:10]) not in used for r in held_out)


def test_no_station_day_straddles_an_event_grouped_split(tiny_dataset):
    from training.folds import make_folds
    from training.dataset import read_samples

    rows = read_samples(tiny_dataset[0])
    for train_idx, test_idx in make_folds(rows, "loeo", 3):
        test_days = {(rows[i]["station"], rows[i]["window_start"][:10]) for i in test_idx}
        assert not any((rows[i]["station"], rows[i]["window_start"][:10]) in test_days for i in train_idx)


def test_station_day_groups_merge_events_and_normals_sharing_a_day():
    from training.dataset import merge_station_day_groups

    rows = [
        {"station": "A", "window_start": "2023-01-01T00:00:00Z", "group_event": "normal:A:20230101"},
        {"station": "A", "window_start": "2023-01-01T18:00:00Z", "group_event": "e1"},
        {"station": "B", "window_start": "2023-01-01T06:00:00Z", "group_event": "e1"},
        {"station": "B", "window_start": "2023-01-01T12:00:00Z", "group_event": "e2"},
        {"station": "C", "window_start": "2023-01-01T00:00:00Z", "group_event": "normal:C:20230101"},
    ]
    merge_station_day_groups(rows)
    assert [r["group_event"] for r in rows] == ["e1+e2", "e1+e2", "e1+e2", "e1+e2", "normal:C:20230101"]


def test_a_labelling_rule_that_contradicts_the_simulator_is_refused(tmp_path):
    inconsistent = {**TINY, "labels": {"exclusion_min_magnitude": 5.5, "exclusion_before_hours": 24}}
    with pytest.raises(ValueError, match="exclusion_min_magnitude 5.5 is above the smallest magnitude that can emit") as e:
        build_sim(BuildConfig.from_dict(inconsistent), tmp_path, progress=False)
    assert "longest emission lead (96 h)" in str(e.value)
    wider = {**TINY, "labels": {**TINY["labels"], "m0": 4.0}}
    with pytest.raises(ValueError, match="label radius .* differs from the detection range"):
        build_sim(BuildConfig.from_dict(wider), tmp_path, progress=False)


def test_rebuilding_with_the_same_seed_is_byte_identical(tiny_dataset, tmp_path):
    out, _ = tiny_dataset
    build_sim(BuildConfig.from_dict(TINY), tmp_path, progress=False)
    assert _digest(tmp_path / "metadata" / "samples.csv") == _digest(out / "metadata" / "samples.csv")
    first = sorted((out / "spectrograms" / "cross").iterdir())[0]
    assert _digest(tmp_path / "spectrograms" / "cross" / first.name) == _digest(first)


def test_real_lut_day_is_labelled_with_reasons(data_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "S230101.LUT.gz").write_bytes((data_dir / "S230101.LUT.gz").read_bytes())
    info = build_real(BuildConfig.from_dict({}), raw, data_dir / "bmkg_catalog_2022-12-15_2023-01-26.csv",
                      tmp_path / "ds", kp=data_dir / "kp_2022-12_2023-01.csv", progress=False)
    rows = list(csv.DictReader(open(tmp_path / "ds" / "metadata" / "samples.csv")))
    # No M>=4 event falls inside its Dobrovolsky radius of LUT in the week after 2023-01-01
    # (the 2023-01-06 M3.7 21 km away is below M4; the 2023-01-09 M7.5 is 8.7 days later).
    assert [r["window_start"][11:16] for r in rows] == ["00:00", "06:00", "12:00", "18:00"]
    assert all(r["magnitude_class"] == "Normal" and "Dobrovolsky" in r["label_reason"] for r in rows)
    assert [r["kp_max"] for r in rows] == ["3.000", "2.667", "3.667", "4.000"]
    assert info["summary"]["magnitude_class"] == {"Normal": 4}
    assert sorted(p.name for p in (tmp_path / "ds" / "spectrograms" / "power").iterdir()) == [r["sample_id"] + ".png" for r in rows]


def test_real_source_keeps_only_selected_spectrograms(data_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "S230101.LUT.gz").write_bytes((data_dir / "S230101.LUT.gz").read_bytes())
    # 'matched' Normals need event windows to match; this day has none, so nothing is kept
    cfg = BuildConfig.from_dict({"dataset": {"normal_selection": "matched"}})
    build_real(cfg, raw, data_dir / "bmkg_catalog_2022-12-15_2023-01-26.csv", tmp_path / "ds", progress=False)
    assert list((tmp_path / "ds" / "spectrograms" / "power").iterdir()) == []


def test_cli_reports_bad_input_without_a_traceback(tmp_path, caplog):
    assert cli(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "missing" in caplog.text


def test_cli_simulate_writes_raw_files_the_readers_accept(tmp_path):
    from model_store import read_series

    cfg = tmp_path / "c.yaml"
    cfg.write_text("simulator:\n  days: 1\n  stations: [LUT]\n")
    assert cli(["simulate", "--config", str(cfg), "--out", str(tmp_path / "w"), "--format", "iaga2002"]) == 0
    (path,) = (tmp_path / "w" / "raw" / "LUT").iterdir()
    assert read_series(path).n_samples == 86_400
    assert (tmp_path / "w" / "catalog.csv").is_file()


def test_a_station_relative_dataset_trains_a_model_that_carries_its_reference_background(tmp_path):
    """Each training station's windows are rendered against its own background (other days of the same
    station); the trained checkpoint carries the median background for stations without a baseline."""
    import json

    from model_store import load_checkpoint, read_series
    from model_store.inference import InferenceConfig, InferenceEngine, select_backend
    from model_store.pipeline import analyze_series

    relative = {**TINY, "simulator": {**TINY["simulator"], "days": 6, "stations": ["LUT", "TRT"]},
                "dataset": {**TINY["dataset"], "background_days": 3},
                "input_specs": {"station": {**TINY["input_specs"]["cross"], "background": "station"}}}
    data = tmp_path / "ds"
    info = build_sim(BuildConfig.from_dict(relative), data, progress=False)
    backgrounds = info["backgrounds"]["station"]
    assert set(backgrounds["stations"]) == {"LUT", "TRT"}
    assert len(backgrounds["reference"]["row_db_median"]) == 4  # local-time bands, each (3 channels, 32 rows)
    assert len(backgrounds["reference"]["row_db_median"][0]) == 3
    assert json.loads((data / "dataset.json").read_text())["backgrounds"]["station"] == backgrounds
    (tmp_path / "train.yaml").write_text(
        "train: {representation: station, azimuth_head: bearing, backbone: convnext_atto, head_hidden: 8, "
        "epochs: 1, batch_size: 4, augmentations: [], val_fraction: 0.3}\n")
    assert cli(["train", "--config", str(tmp_path / "train.yaml"), "--data", str(data), "--out", str(tmp_path / "run"),
                "--quiet"]) == 0
    loaded = load_checkpoint(tmp_path / "run" / "checkpoint")
    assert loaded.input_spec.background == "station"
    assert loaded.manifest.background_reference == backgrounds["reference"]
    # at a station without a baseline, its windows are made against that reference
    engine = InferenceEngine(loaded, select_backend(loaded, InferenceConfig(path="eager"))[0])
    day = read_series("tests/data/S230101.LUT.gz")
    outcomes = analyze_series(day, loaded.input_spec, engine.predict, background=loaded.reference_background(116.4))
    assert len(outcomes) == 4 and all(o.prediction is not None for o in outcomes)
