"""The ONNX graph of a model, for a faster runtime than eager torch (``pip install '.[fast]'``).

One graph with a dynamic batch dimension: input -> the raw head outputs (``detection``, ``magnitude``,
``azimuth``; the direction finder included: it reads the input, so it is part of the graph) and the
feature map Grad-CAM explains (``features``, :meth:`PrecursorNet.cam_features`, an intermediate of the
same pass). A prediction reads the head outputs; Grad-CAM reads ``features`` and runs the rest of the
network in torch, so gradients can be taken from the heads back to that map. One graph rather than two
keeps one copy of the weights in the runtime.

Exported with torch's ``torch.export``-based exporter (needs ``onnx`` and ``onnxscript``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .model import PrecursorNet

FORWARD_OUTPUTS = ("detection", "magnitude", "azimuth")
FEATURES_OUTPUT = "features"
OUTPUTS = (*FORWARD_OUTPUTS, FEATURES_OUTPUT)
INPUT_NAME = "x"
# Changing how graphs are made must change cached graphs' keys: bump this with any change here.
EXPORT_FORMAT = 2  # 1: separate forward and cam graphs


class _Served(nn.Module):
    """The raw head outputs and the Grad-CAM feature map of one pass (as ``cam_features`` then
    ``heads_from_cam_features``; the service checks it against the eager ``forward`` at load)."""

    def __init__(self, model: PrecursorNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.model.cam_features(x)
        out = self.model.heads_from_cam_features(features, x)
        return (*(out[name] for name in FORWARD_OUTPUTS), features)


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


def export_graph(model: PrecursorNet, example: torch.Tensor) -> bytes:
    """The serialised ONNX model of an eval-mode ``model`` (outputs: :data:`OUTPUTS`).

    ``example`` is an input of the model's shape (any batch size of at least 2, so the batch stays dynamic).
    """
    if model.training:
        raise ValueError("export an eval-mode model (dropout and drop-path off)")
    module = _Served(model).eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            module, (example,), dynamo=True, input_names=[INPUT_NAME], output_names=list(OUTPUTS),
            dynamic_shapes={"x": {0: batch}}, optimize=True, verbose=False,
        )
    return program.model_proto.SerializeToString()
