"""Grad-CAM: where in the input a class score comes from.

The gradient of a class score is taken with respect to the backbone's feature map at the explained stage with
``torch.autograd.grad`` (only the rest of the network is differentiated; no parameter gradients, no hooks):
weights are the spatially averaged gradients, the map is ReLU(sum_k w_k A_k).
"""

from __future__ import annotations

import torch


def grad_cam(features: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Grad-CAM of ``scores`` (one per sample, summed) w.r.t. ``features`` (B, C, h, w) -> (B, h, w).

    Samples are independent in eval mode, so the gradient of the sum gives each sample its own map.
    """
    (grads,) = torch.autograd.grad(scores.sum(), features, retain_graph=True)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * features).sum(dim=1)).detach()
