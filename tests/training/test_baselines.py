"""Station baselines on simulated stations: the offline command makes the service's artifact, and p-values on a
station's own held-out quiet days are close to uniform."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from model_store import InputSpec, create_model
from model_store.baseline_store import BaselineStore
from model_store.baselines import BaselineRules, build_baseline, window_stats
from model_store.inference import InferenceConfig, load_engine
from model_store.pipeline import analyze_series
from model_store.registry import ModelRegistry
from training.__main__ import main as cli
from training.simulate import SimConfig, World
from training.writers import to_iaga2002

SPEC = InputSpec(image_height=32, image_width=32)


@pytest.fixture(scope="module")
def model_store_dir(tmp_path_factory):
    torch.manual_seed(3)
    root = tmp_path_factory.mktemp("models")
    ModelRegistry(root).save(create_model("convnext_atto", head_hidden=16), "tiny", input_spec=SPEC,
                             provenance={"trained_on": "untrained", "description": "test"}, make_default=True)
    return root


def _quiet_days(code: str, days: int, seed: int):
    world = World(SimConfig(seed=seed, days=days, stations=(code,), precursors=False, storms_per_day=0.0))
    return [world.simulate_day(k)[code] for k in range(days)]


def test_the_offline_command_stores_the_artifact_the_service_reads(tmp_path, model_store_dir):
    paths = []
    for k, day in enumerate(_quiet_days("KPY", 3, seed=1)):
        paths.append(tmp_path / f"kpy{k}.sec")
        paths[-1].write_bytes(to_iaga2002(day))
    assert cli(["baseline", "--store", str(tmp_path / "stations"), "--station", "kpy",
                "--model-store", str(model_store_dir), *map(str, paths)]) == 0
    stored = BaselineStore(tmp_path / "stations").load_latest("KPY")
    assert stored.version == "1" and stored.windows["total"] == 12 and set(stored.models) == {"tiny:1"}
    assert [s["name"] for s in stored.sources] == ["kpy0.sec", "kpy1.sec", "kpy2.sec"]
    assert json.loads((tmp_path / "stations" / "KPY" / "1" / "baseline.json").read_text())["station"] == "KPY"
    assert cli(["baseline", "--store", str(tmp_path / "stations"), "--station", "KPY",  # 4 windows: too few
                "--model-store", str(model_store_dir), str(paths[0])]) == 2


@pytest.mark.parametrize("code", ["GTO", "TND"])
def test_p_values_of_a_station_s_own_held_out_quiet_days_are_close_to_uniform(model_store_dir, code):
    """Conformal p-values are uniform when the held-out days are exchangeable with the baseline's: averaged over
    random splits of 16 quiet days into a baseline of 8 and 8 held out, P(p <= a) is a."""
    engine, _ = load_engine(model_store_dir, "tiny", InferenceConfig(path="eager"))
    rules = BaselineRules(outlier_mad=1e9)  # every ordinary window counts: the pure conformal property
    days = [[window_stats(o, SPEC, 120.0, rules) for o in analyze_series(day, SPEC, engine.predict)]
            for day in _quiet_days(code, 16, seed=7)]
    rng = np.random.default_rng(0)
    p = []
    for _ in range(40):
        order = rng.permutation(16)
        baseline = build_baseline(code, None, 120.0, {"tiny:1": (SPEC, [w for d in order[:8] for w in days[d]])}, [],
                                  rules)
        p += [baseline.p_value("tiny:1", w.score) for d in order[8:] for w in days[d]]
    p = np.array(p)
    for a in (0.1, 0.25, 0.5, 0.75):
        assert abs((p <= a).mean() - a) <= 0.06, (a, (p <= a).mean())
    assert abs(p.mean() - 0.5) <= 0.05
