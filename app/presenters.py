"""Turn engine predictions into response objects (shared by /predict and /analyze)."""

from __future__ import annotations

import numpy as np

from model_store import NORMAL, Manifest

from .engine import ExplainRequest, Prediction
from .errors import ServiceError
from .explain import b64, overlay_png
from .schemas import RESEARCH_NOTICE, Explanation, ModelRef, TaskOutput

PRECURSOR_TASK = "magnitude"


def model_ref(manifest: Manifest) -> ModelRef:
    notice = RESEARCH_NOTICE
    if manifest.trained_on == "simulated":
        notice = "Trained on simulated data only. " + notice
    elif manifest.trained_on == "untrained":
        notice = "Untrained weights: outputs are meaningless. " + notice
    return ModelRef(name=manifest.name, version=manifest.version, trained_on=manifest.trained_on, notice=notice)


def task_outputs(pred: Prediction, labels: dict[str, tuple[str, ...]]) -> dict[str, TaskOutput]:
    out = {}
    for task, probs in pred.probabilities.items():
        names = labels[task]
        out[task] = TaskOutput(
            label=names[int(np.argmax(probs))],
            probabilities={name: float(p) for name, p in zip(names, probs)},
        )
    return out


def precursor_probability(pred: Prediction, labels: dict[str, tuple[str, ...]]) -> float:
    names = labels[PRECURSOR_TASK]
    return float(1.0 - pred.probabilities[PRECURSOR_TASK][names.index(NORMAL)])


def explanations(pred: Prediction, labels: dict[str, tuple[str, ...]], image: np.ndarray) -> dict[str, Explanation]:
    assert pred.cams is not None
    out = {}
    for task, (target, cam) in pred.cams.items():
        out[task] = Explanation(
            target_class=labels[task][target],
            map_shape=list(cam.shape),
            map=np.round(cam.astype(np.float64), 6).tolist(),
            overlay_png_base64=b64(overlay_png(image, cam)),
        )
    return out


def explain_request(labels: dict[str, tuple[str, ...]], **targets: str | None) -> ExplainRequest:
    """Requested target classes by task (e.g. magnitude='Large'); unknown names are a 400."""
    resolved: dict[str, int | None] = {}
    for task, name in targets.items():
        if name is None or name == "":
            resolved[task] = None
            continue
        if name not in labels[task]:
            raise ServiceError(400, f"unknown {task} class {name!r}; choose from {', '.join(labels[task])}")
        resolved[task] = labels[task].index(name)
    return ExplainRequest(resolved)
