"""The multi-task network: any timm backbone plus one classification head per task.

Each head follows the reference study: LayerNorm -> Dropout -> Linear(features, 512) -> GELU ->
Dropout -> Linear(512, classes). ``forward`` returns logits per task; ``forward_features`` returns
the last-stage feature map (used by Grad-CAM) and ``forward_heads`` maps it to logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import timm
import torch
from torch import nn

from .labels import TASKS


@dataclass(frozen=True)
class ModelConfig:
    """Architecture, stored in every checkpoint so it can be rebuilt without code changes."""

    backbone: str = "convnext_tiny"
    in_chans: int = 3
    tasks: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(TASKS))
    head_hidden: int = 512
    dropout: float = 0.3
    drop_path_rate: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tasks"] = {k: list(v) for k, v in self.tasks.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        data["tasks"] = {k: tuple(v) for k, v in data.get("tasks", TASKS).items()}
        return cls(**data)


def _head(in_features: int, hidden: int, n_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(in_features),
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_classes),
    )


class PrecursorNet(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = timm.create_model(
            config.backbone,
            pretrained=False,
            num_classes=0,
            in_chans=config.in_chans,
            drop_path_rate=config.drop_path_rate,
        )
        n_features = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.heads = nn.ModuleDict(
            {
                task: _head(n_features, config.head_hidden, len(labels), config.dropout)
                for task, labels in config.tasks.items()
            }
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage feature map ``(B, C, h, w)``."""
        return self.backbone.forward_features(x)

    def forward_heads(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.backbone.forward_head(features, pre_logits=True)
        return {task: head(pooled) for task, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_heads(self.forward_features(x))


def create_model(
    backbone: str = "convnext_tiny",
    in_chans: int = 3,
    tasks: dict[str, tuple[str, ...]] | None = None,
    **kwargs: Any,
) -> PrecursorNet:
    """Build a randomly initialised model (no weights are ever downloaded)."""
    return PrecursorNet(ModelConfig(backbone=backbone, in_chans=in_chans, tasks=dict(tasks or TASKS), **kwargs))
