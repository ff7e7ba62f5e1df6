"""ONNX graphs of a model, for a faster runtime than eager torch (``pip install '.[fast]'``).

Two graphs, both with a dynamic batch dimension:

* ``forward``: input -> the raw head outputs (``detection``, ``magnitude``, ``azimuth``), the direction
  finder included (it reads the input, so it is part of the graph); what a prediction needs.
* ``cam``: input -> the feature map Grad-CAM explains (:meth:`PrecursorNet.cam_features`); the rest of the
  network then runs in torch, so gradients can be taken from the heads back to that map.

Exported with torch's ``torch.export``-based exporter (needs ``onnx`` and ``onnxscript``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .model import PrecursorNet

GRAPHS = ("forward", "cam")
FORWARD_OUTPUTS = ("detection", "magnitude", "azimuth")
INPUT_NAME = "x"
# Changing how graphs are made must change cached graphs' keys: bump this with any change here.
EXPORT_FORMAT = 1


class _Forward(nn.Module):
    def __init__(self, model: PrecursorNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x)
        return tuple(out[name] for name in FORWARD_OUTPUTS)


class _Cam(nn.Module):
    def __init__(self, model: PrecursorNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.cam_features(x)


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's optimiser logs every pass at INFO (hundreds of lines): keep warnings and errors only."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def output_names(graph: str) -> tuple[str, ...]:
    return FORWARD_OUTPUTS if graph == "forward" else ("features",)


def export_graph(model: PrecursorNet, graph: str, example: torch.Tensor) -> bytes:
    """The serialised ONNX model of one graph (``forward`` or ``cam``) of an eval-mode ``model``.

    ``example`` is an input of the model's shape (any batch size of at least 2, so the batch stays dynamic).
    """
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}")
    if model.training:
        raise ValueError("export an eval-mode model (dropout and drop-path off)")
    module = (_Forward if graph == "forward" else _Cam)(model).eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            module, (example,), dynamo=True, input_names=[INPUT_NAME], output_names=list(output_names(graph)),
            dynamic_shapes={"x": {0: batch}}, optimize=True, verbose=False,
        )
    return program.model_proto.SerializeToString()
