"""Runs the loaded model on batches: probabilities per task and, on request, Grad-CAM maps."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from model_store import LoadedModel

from .explain import grad_cam


@dataclass(frozen=True)
class ExplainRequest:
    """Which class to explain per task; None means the predicted class."""

    targets: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Prediction:
    probabilities: dict[str, np.ndarray]
    cams: dict[str, tuple[int, np.ndarray]] | None = None  # task -> (explained class index, raw map)


@dataclass
class BatchResult:
    predictions: list[Prediction]
    inference_s: float
    explain_s: float


class InferenceEngine:
    """Not thread-safe: one caller at a time (the batcher's single worker thread)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tasks = list(loaded.manifest.labels)

    def run(self, inputs: np.ndarray, explain: list[ExplainRequest | None]) -> BatchResult:
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        t0 = time.perf_counter()
        with torch.no_grad():
            features = self.model.forward_features(x)
        wanted = [i for i, e in enumerate(explain) if e is not None]
        if not wanted:
            with torch.no_grad():
                logits = self.model.forward_heads(features)
            probs = {t: torch.softmax(v, dim=1).numpy() for t, v in logits.items()}
            t1 = time.perf_counter()
            return BatchResult([self._prediction(probs, i) for i in range(len(x))], t1 - t0, 0.0)

        features = features.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model.forward_heads(features)
            probs = {t: torch.softmax(v.detach(), dim=1).numpy() for t, v in logits.items()}
            t1 = time.perf_counter()
            rows = torch.tensor(wanted)
            cams: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for task, task_logits in logits.items():
                targets = torch.tensor(
                    [
                        explain[i].targets.get(task) if explain[i].targets.get(task) is not None
                        else int(task_logits[i].argmax())
                        for i in wanted
                    ]
                )
                scores = task_logits[rows].gather(1, targets[:, None])
                maps = grad_cam(features, scores)[rows].numpy()
                cams[task] = (targets.numpy(), maps)
        t2 = time.perf_counter()
        preds = [self._prediction(probs, i) for i in range(len(x))]
        for k, i in enumerate(wanted):
            preds[i].cams = {task: (int(cams[task][0][k]), cams[task][1][k]) for task in cams}
        return BatchResult(preds, t1 - t0, t2 - t1)

    @staticmethod
    def _prediction(probs: dict[str, np.ndarray], i: int) -> Prediction:
        return Prediction({t: p[i] for t, p in probs.items()})
