"""Every malformed manifest is a CheckpointError, and a store scan reports each bad model with its reason."""

import json
import shutil

import pytest
import torch

from model_store import CheckpointError, InputSpec, ModelRegistry, create_model
from model_store.checkpoint import MANIFEST_FILE


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    torch.manual_seed(0)
    model = create_model("convnext_atto", head_hidden=16)
    ModelRegistry(root).save(model, "a", input_spec=InputSpec(), provenance={"trained_on": "untrained"})
    return root


def _set(d: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        d = d[key]
    d[last] = value


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("architecture.tasks", [], "architecture.tasks must be a non-empty object"),
        ("architecture.tasks", {}, "architecture.tasks must be a non-empty object"),
        ("architecture.tasks", {"magnitude": []}, "at least two distinct class names"),
        ("architecture.tasks", {"magnitude": ["A", "A"]}, "at least two distinct class names"),
        ("architecture.tasks", {"magnitude": [1, 2]}, "at least two distinct class names"),
        ("architecture", "convnext", "architecture must be a JSON object"),
        ("architecture.backbone", 7, "architecture.backbone must be like"),
        ("architecture.head_hidden", "512", "architecture.head_hidden must be like"),
        ("architecture.in_chans", True, "architecture.in_chans must be like"),
        ("architecture.surprise", 1, "malformed"),
        ("input_spec", [], "input_spec must be a JSON object"),
        ("input_spec.image_height", "224", "input_spec.image_height must be like"),
        ("input_spec.mean", ["a", "b", "c"], "mean and std must be numbers"),
        ("input_spec.channels", "HDZ", "input_spec.channels must be like"),
        ("input_spec.db_min", 100.0, "db_min must be below db_max"),
        ("provenance", ["simulated"], "provenance must be a JSON object"),
        ("metrics", 0.5, "metrics must be a JSON object"),
        ("weights", None, "weights must be a JSON object"),
        ("weights.bytes", "12", "weights must hold"),
        ("name", ["a"], "name and version must be strings"),
        ("format_version", 9, "format_version 9 is not supported"),
    ],
)
def test_malformed_manifests_are_checkpoint_errors(tmp_path, good_store, field, value, message):
    shutil.copytree(good_store, tmp_path / "s")
    path = tmp_path / "s" / "a" / "1" / MANIFEST_FILE
    d = json.loads(path.read_text())
    _set(d, field, value)
    path.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=message):
        ModelRegistry(tmp_path / "s").manifest("a")


def test_missing_keys_are_named(tmp_path, good_store):
    shutil.copytree(good_store, tmp_path / "s")
    path = tmp_path / "s" / "a" / "1" / MANIFEST_FILE
    d = json.loads(path.read_text())
    del d["input_spec"]
    path.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match="'input_spec' is missing"):
        ModelRegistry(tmp_path / "s").manifest("a")


def test_scan_lists_good_models_and_says_why_bad_ones_are_unreadable(tmp_path, good_store):
    shutil.copytree(good_store / "a" / "1", tmp_path / "a" / "1")
    shutil.copytree(good_store / "a" / "1", tmp_path / "a" / "2")
    shutil.copytree(good_store / "a" / "1", tmp_path / "b" / "1")
    (tmp_path / "a" / "2" / MANIFEST_FILE).write_text("{not json")
    d = json.loads((tmp_path / "b" / "1" / MANIFEST_FILE).read_text())
    d["architecture"]["tasks"] = []
    (tmp_path / "b" / "1" / MANIFEST_FILE).write_text(json.dumps(d))
    reg = ModelRegistry(tmp_path)
    found = {s.ref: s for s in reg.scan()}
    assert set(found) == {"a:1", "a:2", "b:1"}
    assert found["a:1"].manifest is not None and found["a:1"].error is None
    assert found["a:2"].manifest is None and "not readable JSON" in found["a:2"].error
    assert "architecture.tasks" in found["b:1"].error
    assert [m.ref for m in reg.list_models()] == ["a:1"]
