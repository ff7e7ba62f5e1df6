"""POST /predict: one spectrogram PNG in, both heads' probabilities (and Grad-CAM) out.

The PNG is answered by the served model it is meant for (see ``ModelState.for_png``): a seed-style
power spectrogram by the power-only model, a two-panel cross-spectral PNG by the direction-aware one,
or the model named in the ``model`` field. The response says which model answered and why.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from model_store.spectrogram import normalize, png_to_image, read_png

from ..deps import DecoderDep, MetricsDep, ReadyModelDep
from ..errors import error_responses
from ..presenters import explain_request, explanations, model_ref, task_outputs
from ..schemas import InputInfo, PredictResponse
from ..security import guarded

router = APIRouter(tags=["predict"])


@router.post(
    "/predict", response_model=PredictResponse, response_model_exclude_none=True, **guarded("post", cross_site=True),
    responses=error_responses(400, 403, 404, 408, 413, 415, 422, 503),
)
async def predict(
    state: ReadyModelDep,
    metrics: MetricsDep,
    decoder: DecoderDep,
    file: Annotated[UploadFile, File(description="spectrogram PNG, at most 4096 pixels a side (resized to the model's input)")],
    explain: Annotated[bool, Form(description="add Grad-CAM maps and overlays")] = False,
    target_magnitude: Annotated[
        str | None, Form(max_length=32, description="magnitude class to explain (default: the served label)")
    ] = None,
    target_azimuth: Annotated[
        str | None, Form(max_length=32, description="azimuth class to explain (default: the served label)")
    ] = None,
    model: Annotated[
        str | None, Form(max_length=80, description="served model name[:version] to use (default: the one the PNG fits)")
    ] = None,
) -> PredictResponse:
    data = await file.read()
    with metrics.timed("decode"):
        png = await decoder.run(read_png, data)
    served, selected_by = (state.get(model), "the model field") if model else state.for_png(png)
    loaded = served.loaded
    spec, labels = loaded.input_spec, loaded.manifest.labels
    request = explain_request(labels, magnitude=target_magnitude, azimuth=target_azimuth) if explain else None
    with metrics.timed("decode"):
        decoded = await decoder.run(png_to_image, png, spec)
    with metrics.timed("preprocess"):
        x = normalize(decoded.image, spec)[None]
    (pred,) = await served.batcher.submit(x, [request])
    height, width = decoded.original_size
    note = (f"resized from {width}x{height} to {spec.png_size[1]}x{spec.png_size[0]}" if decoded.resized else None)
    return PredictResponse(
        id=str(uuid.uuid4()),
        model=model_ref(loaded.manifest, selected_by),
        input=InputInfo(width=width, height=height, resized=decoded.resized, note=note),
        outputs=task_outputs(pred, labels),
        precursor_probability=pred.precursor_probability,
        alarm=pred.alarm,
        alarm_threshold=loaded.manifest.calibration.alarm_threshold,
        explanation=explanations(pred, loaded.manifest, decoded.image) if explain else None,
    )
