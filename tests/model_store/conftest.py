"""A real (tiny, untrained) model and its engine for the model_store tests that run the window pipeline."""

from __future__ import annotations

import pytest
import torch

from model_store import InputSpec, create_model
from model_store.inference import InferenceConfig, InferenceEngine, select_backend
from model_store.registry import ModelRegistry

TINY_SPEC = InputSpec(image_height=32, image_width=32)


@pytest.fixture(scope="session")
def engine(tmp_path_factory) -> InferenceEngine:
    """convnext_atto on the reference study's power input at 32x32, eager."""
    torch.manual_seed(0)
    registry = ModelRegistry(tmp_path_factory.mktemp("store"))
    registry.save(create_model("convnext_atto", head_hidden=16), "tiny", input_spec=TINY_SPEC,
                  provenance={"trained_on": "untrained", "description": "test"}, make_default=True)
    loaded = registry.load("tiny")
    return InferenceEngine(loaded, select_backend(loaded, InferenceConfig(path="eager"))[0])
