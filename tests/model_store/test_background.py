"""Station-relative inputs: the power panel in dB above the station's own background."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import torch

from model_store import InputSpec, create_model
from model_store.background import Background, local_time_band, median_background
from model_store.baselines import BaselineRules, SourceFile, make_baseline
from model_store.checkpoint import CheckpointError, Manifest
from model_store.direction import physics_config
from model_store.inference import InferenceConfig, InferenceEngine, select_backend
from model_store.registry import ModelRegistry
from model_store.spectrogram import relative_power, window_to_image
from model_store.windows import cut_windows

CROSS = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125, image_height=32,
                  image_width=32)
RELATIVE = replace(CROSS, background="station")


def test_absolute_inputs_keep_their_fingerprints_and_a_relative_one_has_its_own():
    # the committed default model's input (the same as default:2's, made before inputs had a background): its
    # fingerprint is what its PNGs and baselines are keyed by
    stored = json.loads(open("model_store/models/default/3/manifest.json").read())["input_spec"]
    assert InputSpec.from_dict(stored).fingerprint == "f61a5279651fe309"
    assert RELATIVE.fingerprint != CROSS.fingerprint and RELATIVE.absolute == CROSS
    assert "relative to the station's background" in RELATIVE.describe_layout()
    with pytest.raises(ValueError, match="unknown background"):
        replace(CROSS, background="global")


def test_the_power_panel_is_db_above_the_background_and_the_coherency_panel_is_unchanged(lut_day):
    data = cut_windows(lut_day, CROSS)[0].data
    absolute = window_to_image(data, CROSS)
    span = CROSS.db_max - CROSS.db_min
    db = CROSS.db_min + absolute[:3].astype(np.float64) * span
    rows = np.median(db, axis=2)  # the window's own row medians as the background
    image = window_to_image(data, RELATIVE, rows)
    assert np.array_equal(image[3:], absolute[3:])
    expected = np.clip((db - rows[:, :, None] + 20.0) / 40.0, 0, 1)
    assert np.allclose(image[:3], expected, atol=1e-6)
    assert abs(float(np.median(image[:3])) - 0.5) < 0.01  # at the background: the middle of the range
    assert np.allclose(relative_power(absolute, RELATIVE, rows - 10.0)[:3], np.clip(expected + 0.25, 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="needs the station's background"):
        window_to_image(data, RELATIVE)
    # the direction finder reads the relative panel on its own scale
    assert (physics_config(RELATIVE).db_min, physics_config(RELATIVE).db_max) == (-20.0, 20.0)


def test_a_window_gets_the_background_of_its_local_time():
    rows = np.stack([np.full((3, 32), float(b)) for b in range(4)])
    bg = Background(rows, 90.0, 6 * 3600, "test")  # 6 hours east of UTC
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    # a window's centre at 03:00 UTC is 09:00 local: band 1 (06-12)
    assert local_time_band(day, 6 * 3600, 90.0, 4) == 1 and bg.rows_for(day)[0, 0] == 1.0
    assert bg.rows_for(day + timedelta(hours=18))[0, 0] == 0.0  # centre 21:00 UTC = 03:00 local
    other = Background(rows + 2.0, None, 6 * 3600, "test")
    assert np.array_equal(median_background([bg, other, other]).rows_db, rows + 2.0)
    assert Background.from_reference(bg.reference(), CROSS, 10.0).rows_db.shape == (4, 3, 32)


def test_a_station_relative_checkpoint_must_carry_its_reference_background(tmp_path):
    torch.manual_seed(0)
    model = create_model("convnext_atto", in_chans=6, head_hidden=8, azimuth_head="bearing",
                         physics=physics_config(RELATIVE), cam_stage=2)
    registry = ModelRegistry(tmp_path)
    with pytest.raises(CheckpointError, match="must carry its background_reference"):
        registry.save(model, "rel", input_spec=RELATIVE, provenance={"trained_on": "untrained", "description": "t"})
    reference = {"row_db_median": np.zeros((4, 3, 32)).tolist()}
    manifest = registry.save(model, "rel", input_spec=RELATIVE, background_reference=reference,
                             provenance={"trained_on": "untrained", "description": "t"})
    loaded = registry.load("rel")
    assert loaded.manifest.background_reference == reference and loaded.reference_background(0.0).rows_db.shape == (4, 3, 32)
    damaged = {**manifest.to_dict(), "background_reference": {"row_db_median": [[[0.0]]]}}
    with pytest.raises(CheckpointError, match="does not fit its input_spec"):
        Manifest.from_dict(damaged)


def test_a_baseline_makes_a_relative_model_s_scores_against_the_background_it_measures(lut_day, tmp_path):
    torch.manual_seed(0)
    registry = ModelRegistry(tmp_path)
    reference = {"row_db_median": np.full((4, 3, 32), -40.0).tolist()}  # far below the station: "loud" inputs
    registry.save(create_model("convnext_atto", in_chans=6, head_hidden=8, azimuth_head="bearing",
                               physics=physics_config(RELATIVE), cam_stage=2),
                  "rel", input_spec=RELATIVE, background_reference=reference,
                  provenance={"trained_on": "untrained", "description": "t"})
    loaded = registry.load("rel")
    engine = InferenceEngine(loaded, select_backend(loaded, InferenceConfig(path="eager"))[0])
    records = [(SourceFile(f"d{k}", f"{k:064x}", 1, "", ""), replace(lut_day, start=lut_day.start + timedelta(days=k)))
               for k in range(3)]
    b = make_baseline("LUT", records, {"rel:1": (RELATIVE, engine.predict)}, BaselineRules(), now=lut_day.start)
    assert set(b.spectra) == {CROSS.fingerprint}  # measured on the absolute input
    assert b.models["rel:1"]["fingerprint"] == RELATIVE.fingerprint and b.models["rel:1"]["windows"] == 12
    # the scores are those of windows made against this baseline's background, not the model's reference
    from model_store.pipeline import analyze_series

    own = Background.from_spectra(b.spectra[CROSS.fingerprint], RELATIVE, lut_day.longitude, "x")
    scores = sorted(o.prediction.precursor_probability for o in analyze_series(lut_day, RELATIVE, engine.predict,
                                                                                  background=own))
    assert scores == pytest.approx(sorted(set(b.models["rel:1"]["scores"])), abs=1e-6)
