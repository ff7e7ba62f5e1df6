"""The multi-task network: any timm backbone plus a detection head and two heads given an event.

Heads follow the reference study's shape: LayerNorm -> Dropout -> Linear(features, hidden) -> GELU ->
Dropout -> Linear(hidden, outputs). They are factorised (see :mod:`model_store.outputs`):

* ``detection``: one logit, event window vs Normal;
* ``magnitude``: one logit per event class (Large, Medium, Moderate), trained on event windows only;
* ``azimuth``: ``sectors`` = eight compass-sector logits, or ``bearing`` = the unit vector of the
  non-learned direction finder on the cross-spectral panel (:mod:`model_store.direction`) with its two
  quality features; the served distribution is a von Mises around it mixed with a uniform part, whose
  concentration and outlier share come from the calibration's confidence map (fitted on validation
  windows, :mod:`model_store.outputs`). The direction is physics; the confidence is calibrated. Needs a
  cross_spectral input. (A learnt correction of the direction and a learnt concentration were tried: on
  800 training windows the correction pulled bearings towards each station's usual directions, losing 14
  points of sector accuracy, and the learnt concentration stayed far too low after early stopping.)

``forward_features`` returns the last-stage feature map (Grad-CAM uses it); ``forward_heads`` maps it
(and, for the bearing head, the input) to raw outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import timm
import torch
from torch import nn

from .direction import DirectionFinder, PhysicsConfig
from .labels import NORMAL, TASKS

AZIMUTH_HEADS = ("sectors", "bearing")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture, stored in every checkpoint so it can be rebuilt without code changes."""

    backbone: str = "convnext_tiny"
    in_chans: int = 3
    tasks: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(TASKS))
    head_hidden: int = 512
    dropout: float = 0.3
    drop_path_rate: float = 0.1
    azimuth_head: str = "sectors"
    physics: PhysicsConfig | None = None
    cam_stage: int = -1  # backbone stage whose output Grad-CAM explains (-1: the last)

    def __post_init__(self) -> None:
        if set(self.tasks) != set(TASKS):
            raise ValueError(f"tasks must be {sorted(TASKS)}, got {sorted(self.tasks)}")
        for task, labels in self.tasks.items():
            if len(labels) < 2 or labels[-1] != NORMAL or len(set(labels)) != len(labels):
                raise ValueError(f"{task} labels must be distinct event classes followed by {NORMAL!r}")
        if len(self.tasks["azimuth"]) != 9 and self.azimuth_head == "bearing":
            raise ValueError("the bearing head serves the eight compass sectors plus Normal")
        if self.azimuth_head not in AZIMUTH_HEADS:
            raise ValueError(f"azimuth_head must be one of {AZIMUTH_HEADS}")
        if (self.azimuth_head == "bearing") != (self.physics is not None):
            raise ValueError("the bearing head needs the physics settings of a cross_spectral input, and only it")
        if self.in_chans < 1 or self.head_hidden < 1 or not 0 <= self.dropout < 1:
            raise ValueError("in_chans and head_hidden must be positive and dropout in [0, 1)")
        if self.cam_stage < -1:
            raise ValueError("cam_stage must be -1 (the last stage) or a stage index")

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone, "in_chans": self.in_chans,
            "tasks": {k: list(v) for k, v in self.tasks.items()}, "head_hidden": self.head_hidden,
            "dropout": self.dropout, "drop_path_rate": self.drop_path_rate, "azimuth_head": self.azimuth_head,
            "physics": None if self.physics is None else self.physics.to_dict(), "cam_stage": self.cam_stage,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise ValueError("architecture must be an object")
        data = dict(data)
        tasks = data.get("tasks", TASKS)
        if not isinstance(tasks, dict) or not all(isinstance(v, (list, tuple)) for v in tasks.values()):
            raise ValueError("architecture.tasks must map task names to label lists")
        data["tasks"] = {str(k): tuple(str(x) for x in v) for k, v in tasks.items()}
        if data.get("physics") is not None:
            data["physics"] = PhysicsConfig.from_dict(data["physics"])
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown architecture fields {sorted(unknown)}")
        return cls(**data)

    @property
    def event_classes(self) -> dict[str, int]:
        """Number of event classes per task (the served labels minus Normal)."""
        return {task: len(labels) - 1 for task, labels in self.tasks.items()}


def _head(in_features: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(in_features),
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_out),
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
        n = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        hidden, drop, events = config.head_hidden, config.dropout, config.event_classes
        self.heads = nn.ModuleDict({
            "detection": _head(n, hidden, 1, drop),
            "magnitude": _head(n, hidden, events["magnitude"], drop),
        })
        if config.azimuth_head == "bearing":
            assert config.physics is not None
            # nothing here is learnt by gradient descent: the direction is the finder's, and how far to trust
            # it in a window (concentration, outlier share) is the calibration's confidence map, fitted on
            # validation windows from the finder's quality and the detection logit (model_store.outputs)
            self.direction_finder = DirectionFinder(config.physics)
        else:
            self.direction_finder = None
            self.heads["azimuth"] = _head(n, hidden, events["azimuth"], drop)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last-stage feature map ``(B, C, h, w)``."""
        return self.backbone.forward_features(x)

    def _staged(self) -> bool:
        return all(hasattr(self.backbone, a) for a in ("stem", "stages", "norm_pre"))

    def cam_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map Grad-CAM explains: the output of backbone stage ``config.cam_stage``."""
        if self.config.cam_stage == -1 or not self._staged():
            return self.forward_features(x)
        return self.backbone.stages[: self.config.cam_stage + 1](self.backbone.stem(x))

    def heads_from_cam_features(self, features: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs from :meth:`cam_features` (the rest of the backbone, then the heads)."""
        if self.config.cam_stage != -1 and self._staged():
            features = self.backbone.norm_pre(self.backbone.stages[self.config.cam_stage + 1 :](features))
        return self.forward_heads(features, x)

    def physics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The direction finder's vector and quality features (bearing head only)."""
        assert self.direction_finder is not None, "this model has no cross-spectral input"
        return self.direction_finder(x)

    def forward_heads(self, features: torch.Tensor, x: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        pooled = self.backbone.forward_head(features, pre_logits=True)
        out = {"detection": self.heads["detection"](pooled), "magnitude": self.heads["magnitude"](pooled)}
        if self.direction_finder is None:
            out["azimuth"] = self.heads["azimuth"](pooled)
            return out
        if x is None:
            raise ValueError("the bearing head needs the input as well as the features")
        vector, quality = self.physics(x)
        unit = vector / (vector.norm(dim=1, keepdim=True) + 1e-12)
        out["azimuth"] = torch.cat([unit, quality], dim=1).to(pooled.dtype)  # (north, east, power, consistency)
        return out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_heads(self.forward_features(x), x)


def create_model(
    backbone: str = "convnext_tiny",
    in_chans: int = 3,
    tasks: dict[str, tuple[str, ...]] | None = None,
    **kwargs: Any,
) -> PrecursorNet:
    """Build a randomly initialised model (no weights are ever downloaded)."""
    return PrecursorNet(ModelConfig(backbone=backbone, in_chans=in_chans, tasks=dict(tasks or TASKS), **kwargs))
