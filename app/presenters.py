"""Turn engine predictions into response objects (shared by /predict and /analyze)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from fastapi.responses import Response
from pydantic import BaseModel

from model_store import Manifest
from model_store.direction import DirectionFinder
from model_store.inference.engine import ExplainRequest, Prediction
from model_store.spectrogram import normalize

from .errors import ServiceError
from .overlays import b64, overlay_png
from .schemas import RESEARCH_NOTICE, Explanation, ModelRef, TaskOutput


def model_ref(manifest: Manifest, selected_by: str | None = None) -> ModelRef:
    notice = RESEARCH_NOTICE
    if manifest.trained_on == "simulated":
        notice = "Trained on simulated data only. " + notice
    elif manifest.trained_on == "untrained":
        notice = "Untrained weights: outputs are meaningless. " + notice
    return ModelRef(name=manifest.name, version=manifest.version, trained_on=manifest.trained_on,
                    representation=manifest.input_spec.representation, notice=notice, selected_by=selected_by)


def task_outputs(pred: Prediction, labels: dict[str, tuple[str, ...]]) -> dict[str, TaskOutput]:
    out = {}
    for task, probs in pred.probabilities.items():
        names = labels[task]
        out[task] = TaskOutput(
            label=names[pred.labels[task]],
            probabilities={name: float(p) for name, p in zip(names, probs)},
        )
    if pred.bearing_deg is not None and "azimuth" in out:
        out["azimuth"].bearing_deg = round(pred.bearing_deg, 2)
        out["azimuth"].bearing_uncertainty_deg = round(float(pred.bearing_uncertainty_deg or 0.0), 2)
    return out


def direction_evidence_png(image: np.ndarray, manifest: Manifest, bearing_deg: float | None) -> bytes | None:
    """The direction-evidence overlay of a direction-aware model's bearing (None for other models): the
    direction finder's own per-cell vectors projected on the bearing (:meth:`DirectionFinder.evidence`)."""
    physics = manifest.architecture.physics
    if physics is None or bearing_deg is None:
        return None
    x = torch.from_numpy(normalize(image, manifest.input_spec)[None])
    with torch.inference_mode():
        evidence = DirectionFinder(physics).evidence(x, torch.tensor([bearing_deg]))[0].numpy()
    return overlay_png(image, evidence)


def explanations(
    pred: Prediction, manifest: Manifest, image: np.ndarray, link: Callable[[str], str] | None = None
) -> dict[str, Explanation]:
    """Each head's Grad-CAM (and the bearing's direction evidence) with the overlays as base64 PNGs, or,
    with ``link`` (image name -> URL, see :mod:`app.runtime.analyses`), as URLs of images rendered on request."""
    assert pred.cams is not None
    labels = manifest.labels
    out = {}
    for task, (target, cam) in pred.cams.items():
        out[task] = Explanation(
            target_class=labels[task][target],
            map_shape=list(cam.shape),
            map=np.round(cam.astype(np.float64), 6).tolist(),
        )
        if link:
            out[task].overlay_url = link(f"overlay-{task}")
        else:
            out[task].overlay_png_base64 = b64(overlay_png(image, cam))
    if "azimuth" in out and manifest.architecture.physics is not None and pred.bearing_deg is not None:
        if link:
            out["azimuth"].direction_evidence_url = link("direction-evidence")
        else:
            out["azimuth"].direction_evidence_png_base64 = b64(
                direction_evidence_png(image, manifest, pred.bearing_deg))
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


def json_response(body: BaseModel) -> Response:
    """The response body serialised once by pydantic (no second validation, no ``json.dumps`` of a dict);
    for a large body call it in a worker thread, off the event loop."""
    return Response(body.model_dump_json(exclude_none=True), media_type="application/json")
