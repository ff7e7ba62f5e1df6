"""Runs a loaded model on batches: served probabilities, decisions, bearing and, on request, Grad-CAM.

Probabilities are composed and calibrated by :mod:`model_store.outputs` with the calibration stored in
the model's manifest, and labels and alarm follow its one decision rule, so a response can never show a
Normal label beside a precursor probability above one half, nor an alarm beside a Normal label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..checkpoint import LoadedModel
from ..outputs import bearing_parameters, serve, served_log_probs
from .backends import Backend, EagerBackend
from .explain import grad_cam


@dataclass(frozen=True)
class ExplainRequest:
    """Which class to explain per task; None means the served label."""

    targets: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Prediction:
    probabilities: dict[str, np.ndarray]  # served (calibrated) probabilities per task, Normal last
    labels: dict[str, int]  # served label per task (Normal when P(event) < 0.5)
    precursor_probability: float  # P(event)
    alarm: bool  # P(event) >= the model's alarm threshold
    bearing_deg: float | None = None  # bearing head: most probable bearing given an event ...
    bearing_uncertainty_deg: float | None = None  # ... and its circular standard deviation (von Mises + outliers)
    bearing_kappa: float | None = None  # ... and the von Mises part's concentration |m| (outputs.bearing_summary)
    cams: dict[str, tuple[int, np.ndarray]] | None = None  # task -> (explained class index, raw map)


@dataclass
class BatchResult:
    predictions: list[Prediction]
    inference_s: float
    explain_s: float


class InferenceEngine:
    """Callable from several threads at once (the service's inference threads): a batch keeps no state in the
    engine, ONNX Runtime's ``run`` may be called concurrently, and each Grad-CAM pass builds its own graph.

    ``backend`` runs the network (ONNX Runtime or eager torch, :mod:`.backends`); Grad-CAM takes the
    explained stage's feature map from it and runs the rest of the network in torch, with gradients.
    """

    def __init__(self, loaded: LoadedModel, backend: Backend | None = None) -> None:
        self.loaded = loaded
        self.model = loaded.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.backend = backend or EagerBackend(self.model, channels_last=False)
        self.calibration = loaded.manifest.calibration
        self.azimuth_head = self.model.config.azimuth_head

    def predict(self, inputs: list[np.ndarray], explain: list[ExplainRequest | None] | None = None) -> list[Prediction]:
        """Predictions of normalised inputs (Grad-CAM where ``explain`` asks): the pipeline's ``Predict``."""
        return self.run(inputs, explain or [None] * len(inputs)).predictions

    def run(self, inputs: list[np.ndarray], explain: list[ExplainRequest | None]) -> BatchResult:
        """Predict normalised inputs, each (C, H, W); stacked into one batch here, on the caller's thread."""
        x = torch.from_numpy(np.stack(inputs).astype(np.float32, copy=False))
        wanted = [i for i, e in enumerate(explain) if e is not None]
        t0 = time.perf_counter()
        if not wanted:
            raw = self.backend.forward(x)
            with torch.inference_mode():
                preds = self._predictions(raw, None, len(x))
            return BatchResult(preds, time.perf_counter() - t0, 0.0)

        features = self.backend.cam_features(x).detach().requires_grad_(True)
        with torch.enable_grad():
            raw = self.model.heads_from_cam_features(features, x)
            params = bearing_parameters(raw, self.calibration) if self.azimuth_head == "bearing" else None
            logp = served_log_probs(raw, self.calibration, self.azimuth_head, params)
            preds = self._predictions({k: v.detach() for k, v in raw.items()},
                                      {k: v.detach() for k, v in logp.items()}, len(x),
                                      None if params is None else (params[0].detach(), params[1].detach()))
            t1 = time.perf_counter()
            rows = torch.tensor(wanted)
            cams: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            for task, task_logp in logp.items():
                targets = torch.tensor([
                    explain[i].targets.get(task) if explain[i].targets.get(task) is not None else preds[i].labels[task]
                    for i in wanted
                ])
                scores = task_logp[rows].gather(1, targets[:, None])  # log P(class): the served score
                maps = grad_cam(features, scores)[rows].numpy()
                cams[task] = (targets.numpy(), maps)
        t2 = time.perf_counter()
        for k, i in enumerate(wanted):
            preds[i].cams = {task: (int(cams[task][0][k]), cams[task][1][k]) for task in cams}
        return BatchResult(preds, t1 - t0, t2 - t1)

    def _predictions(
        self, raw: dict[str, torch.Tensor], logp: dict[str, torch.Tensor] | None, n: int,
        params: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> list[Prediction]:
        """Predictions from the raw head outputs (:func:`model_store.outputs.serve`)."""
        s = serve(raw, self.calibration, self.azimuth_head, logp, params)
        d = s.decisions
        return [
            Prediction(
                probabilities={t: p[i] for t, p in s.probabilities.items()},
                labels={t: int(v[i]) for t, v in d.labels.items()},
                precursor_probability=float(d.precursor_probability[i]),
                alarm=bool(d.alarm[i]),
                bearing_deg=None if s.bearing_deg is None else float(s.bearing_deg[i]),
                bearing_uncertainty_deg=None if s.bearing_uncertainty_deg is None else float(s.bearing_uncertainty_deg[i]),
                bearing_kappa=None if s.bearing_kappa is None else float(s.bearing_kappa[i]),
            )
            for i in range(n)
        ]
