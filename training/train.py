"""The training loop: the reference study's recipe, made honest and reproducible.

Model selection and early stopping use only the validation split handed in (carved from the training
side of any fold); the test side never reaches this module.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from model_store import Calibration, InputSpec, PrecursorNet, create_model
from model_store.config import DictConfig
from model_store.direction import physics_config
from model_store.labels import TASKS
from model_store.outputs import decide, serve

from .calibrate import fit_calibration
from .samples import PHYSICAL_AUGMENTATIONS, Augmenter, SampleSet, inverse_frequency_weights, to_batch
from .distributed import DistInfo
from .metrics import classification_metrics

logger = logging.getLogger(__name__)

RESUME_FILE = "last.pt"


@dataclass(frozen=True)
class TrainConfig(DictConfig):
    config_name = "training settings"

    """Defaults are the reference study's recipe, with physically sensible augmentations."""

    backbone: str = "convnext_tiny"
    head_hidden: int = 512
    dropout: float = 0.3
    drop_path_rate: float = 0.1
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 5
    patience: int = 10
    grad_clip: float = 1.0
    azimuth_loss_weight: float = 0.5
    class_weights: str = "inverse_frequency"  # or "none"
    augmentations: tuple[str, ...] = PHYSICAL_AUGMENTATIONS
    val_fraction: float = 0.15
    seed: int = 0
    bf16: bool = False
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default
    representation: str = "power"  # which of the dataset's spectrogram sets to train on
    azimuth_head: str = "sectors"  # sectors | bearing (von Mises on the cross-spectral direction finder)
    cam_stage: int = -1  # backbone stage Grad-CAM explains (-1: last; earlier stages give finer maps)

    def __post_init__(self) -> None:
        if self.class_weights not in ("inverse_frequency", "none"):
            raise ValueError("class_weights must be inverse_frequency or none")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be positive")


@dataclass
class TrainResult:
    model: PrecursorNet
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_val: dict[str, Any] = field(default_factory=dict)
    stopped: str = ""


@dataclass(frozen=True)
class LossWeights:
    """Class balance for each head, computed on the training side."""

    detection_pos: torch.Tensor | None
    magnitude: torch.Tensor | None
    azimuth: torch.Tensor | None

    @classmethod
    def from_data(cls, data: SampleSet, cfg: TrainConfig, model: PrecursorNet) -> LossWeights:
        if cfg.class_weights == "none":
            return cls(None, None, None)
        events = data.is_event
        n_event, n_normal = int(events.sum()), int((~events).sum())
        pos = torch.tensor(n_normal / n_event if n_event and n_normal else 1.0)
        k = model.config.event_classes
        return cls(pos, inverse_frequency_weights(data.magnitude[events], k["magnitude"]),
                   inverse_frequency_weights(data.azimuth[events], k["azimuth"]))

    def to(self, device: torch.device) -> LossWeights:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return LossWeights(move(self.detection_pos), move(self.magnitude), move(self.azimuth))


# ---------------------------------------------------------------------------- helpers
def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_model(cfg: TrainConfig, spec: InputSpec) -> PrecursorNet:
    if cfg.azimuth_head == "bearing" and spec.representation != "cross_spectral":
        raise ValueError("the bearing head needs a cross_spectral representation")
    return create_model(cfg.backbone, in_chans=spec.in_chans, tasks=TASKS, head_hidden=cfg.head_hidden,
                        dropout=cfg.dropout, drop_path_rate=cfg.drop_path_rate, azimuth_head=cfg.azimuth_head,
                        physics=physics_config(spec) if cfg.azimuth_head == "bearing" else None,
                        cam_stage=cfg.cam_stage)


def multitask_loss(out: dict[str, torch.Tensor], event: torch.Tensor, mag: torch.Tensor, az: torch.Tensor,
                   bearing: torch.Tensor, weights: LossWeights, azimuth_weight: float, azimuth_head: str) -> torch.Tensor:
    """Detection on every window; magnitude and azimuth on the event windows only (given an event)."""
    loss = F.binary_cross_entropy_with_logits(out["detection"][:, 0].float(), event.float(),
                                              pos_weight=weights.detection_pos)
    if event.any():
        loss = loss + F.cross_entropy(out["magnitude"][event].float(), mag[event], weight=weights.magnitude)
        if azimuth_head == "sectors":  # the bearing head has nothing to learn: its confidence is calibrated
            loss = loss + azimuth_weight * F.cross_entropy(out["azimuth"][event].float(), az[event],
                                                           weight=weights.azimuth)
    else:  # a batch of Normal windows: the event heads still join the graph (DDP reduces every parameter)
        loss = loss + 0.0 * out["magnitude"].sum() + (0.0 * out["azimuth"].sum() if azimuth_head == "sectors" else 0.0)
    return loss


def _targets(data: SampleSet, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
    event = torch.from_numpy(data.is_event[idx])
    bearing = torch.from_numpy(np.nan_to_num(data.bearing[idx]).astype(np.float32))
    return tuple(t.to(device) for t in (event, torch.from_numpy(data.magnitude[idx]),
                                        torch.from_numpy(data.azimuth[idx]), bearing))


@torch.no_grad()
def predict_raw(model: torch.nn.Module, images: np.ndarray, spec: InputSpec, batch_size: int = 64,
                bf16: bool = False) -> dict[str, np.ndarray]:
    """Raw head outputs (and, for the bearing head, the direction finder's vector) for uint8 images."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {}
    if len(images) == 0:  # the keys and shapes of a real batch, with no rows
        return {k: v[:0] for k, v in predict_raw(model, np.zeros((1, *images.shape[1:]), np.uint8), spec).items()}
    for i in range(0, len(images), batch_size):
        x = to_batch(images[i : i + batch_size], spec)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            raw = model(x)
        if getattr(model, "direction_finder", None) is not None:
            raw = {**raw, "physics": model.physics(x)[0]}
        for k, v in raw.items():
            out.setdefault(k, []).append(v.float().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}



def calibrate_on(model: PrecursorNet, val: SampleSet, normals: SampleSet | None, spec: InputSpec,
                 azimuth_head: str, fitted_on: str = "validation") -> Calibration:
    """The served calibration of a trained model, fitted on its validation windows (and held-out Normal
    windows for the alarm threshold): the one place `train` and every cross-validation fold calibrate."""
    extra = (predict_raw(model, normals.images, spec)["detection"][:, 0]
             if normals is not None and len(normals) else None)
    return fit_calibration(predict_raw(model, val.images, spec), val.is_event, val.magnitude, val.azimuth,
                           val.bearing, azimuth_head, normal_detection_logits=extra, fitted_on=fitted_on)

def served_probabilities(raw: dict[str, np.ndarray], calibration: Calibration, azimuth_head: str) -> dict[str, np.ndarray]:
    """The served probabilities of raw head outputs (:func:`model_store.outputs.serve`, as the service serves them)."""
    return serve({k: torch.from_numpy(v) for k, v in raw.items() if k != "physics"}, calibration, azimuth_head).probabilities


def _evaluate(model: PrecursorNet, data: SampleSet, spec: InputSpec, weights: LossWeights, cfg: TrainConfig) -> dict[str, Any]:
    raw = predict_raw(model, data.images, spec, bf16=cfg.bf16)
    idx = np.arange(len(data))
    loss = float(multitask_loss({k: torch.from_numpy(v) for k, v in raw.items()}, *_targets(data, idx, torch.device("cpu")),
                                weights, cfg.azimuth_loss_weight, cfg.azimuth_head))
    probs = served_probabilities(raw, Calibration(), cfg.azimuth_head)
    decisions = decide(probs, Calibration())
    mag = classification_metrics(data.magnitude, decisions.labels["magnitude"], TASKS["magnitude"])
    az = classification_metrics(data.azimuth, decisions.labels["azimuth"], TASKS["azimuth"])
    return {"loss": loss, "magnitude_balanced_accuracy": mag["balanced_accuracy"],
            "azimuth_balanced_accuracy": az["balanced_accuracy"], "magnitude_accuracy": mag["accuracy"]}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def _unwrap(model: torch.nn.Module) -> PrecursorNet:
    return model.module if isinstance(model, DistributedDataParallel) else model


# ---------------------------------------------------------------------------- the loop
def train(cfg: TrainConfig, train_set: SampleSet, val_set: SampleSet, spec: InputSpec, *,
          out_dir: str | Path | None = None, resume: bool = False, dist: DistInfo | None = None,
          progress: bool = False) -> TrainResult:
    dist = dist or DistInfo()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    rng = np.random.default_rng([cfg.seed, dist.rank])
    model = build_model(cfg, spec).to(dist.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(train_set) // (cfg.batch_size * dist.world_size))
    warmup, total = cfg.warmup_epochs * steps_per_epoch, cfg.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
    weights = LossWeights.from_data(train_set, cfg, model)
    augmenter = Augmenter(cfg.augmentations, spec, rng) if cfg.augmentations else None
    result = TrainResult(model=model)
    best_loss, best_state, bad_epochs, start_epoch = math.inf, None, 0, 0

    out = Path(out_dir) if out_dir else None
    if out and resume and (out / RESUME_FILE).is_file():
        state = torch.load(out / RESUME_FILE, weights_only=True)  # our own file; still no pickled code
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best_loss, bad_epochs = state["epoch"] + 1, state["best_loss"], state["bad_epochs"]
        best_state, result.history, result.best_epoch = state["best_model"], state["history"], state["best_epoch"]
        result.best_val = state["best_val"]
        logger.info("resuming at epoch %d from %s", start_epoch + 1, out / RESUME_FILE)
    if dist.enabled:
        model = DistributedDataParallel(model)

    for epoch in range(start_epoch, cfg.epochs):
        # ---- train: each rank takes an equal shard of one shared permutation
        model.train()
        perm = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_set))
        perm = perm[: steps_per_epoch * cfg.batch_size * dist.world_size][dist.rank :: dist.world_size]
        t0, losses = time.monotonic(), []
        batches = range(0, len(perm), cfg.batch_size)
        for i in tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not (progress and dist.is_main)):
            idx = np.sort(perm[i : i + cfg.batch_size])
            x = to_batch(train_set.images[idx], spec, augmenter).to(dist.device)
            with torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                outputs = model(x)
            loss = multitask_loss(outputs, *_targets(train_set, idx, dist.device), weights.to(dist.device),
                                  cfg.azimuth_loss_weight, cfg.azimuth_head)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())

        # ---- validate (every rank computes the same numbers, so decisions agree)
        val = _evaluate(_unwrap(model), val_set, spec, weights, cfg)
        record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
                  "val_loss": val["loss"], "val_magnitude_bal_acc": val["magnitude_balanced_accuracy"],
                  "val_azimuth_bal_acc": val["azimuth_balanced_accuracy"], "lr": scheduler.get_last_lr()[0],
                  "seconds": round(time.monotonic() - t0, 1)}
        result.history.append(record)
        if dist.is_main:
            logger.info("epoch %d/%d train_loss %.4f val_loss %.4f val_mag_bal_acc %.3f val_az_bal_acc %.3f (%.0f s)",
                        epoch + 1, cfg.epochs, record["train_loss"], val["loss"], record["val_magnitude_bal_acc"],
                        record["val_azimuth_bal_acc"], record["seconds"])

        # ---- select on validation loss only; stop early on patience
        if val["loss"] < best_loss:
            best_loss, bad_epochs, result.best_epoch, result.best_val = val["loss"], 0, epoch + 1, val
            best_state = copy.deepcopy(_unwrap(model).state_dict())
        else:
            bad_epochs += 1
        if out and dist.is_main:
            out.mkdir(parents=True, exist_ok=True)
            _save_state(out / RESUME_FILE, {
                "model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch, "best_loss": best_loss, "bad_epochs": bad_epochs,
                "best_model": best_state, "history": result.history, "best_epoch": result.best_epoch,
                "best_val": result.best_val,
                "config": cfg.to_dict(),
            })
        if bad_epochs >= cfg.patience:
            result.stopped = f"early stop: no validation improvement for {cfg.patience} epochs"
            break
    else:
        result.stopped = "all epochs run"

    final = _unwrap(model)
    if best_state is not None:
        final.load_state_dict(best_state)
    if result.best_val == {} and result.history:
        result.best_val = {"loss": best_loss}
    final.eval()
    result.model = final
    return result
