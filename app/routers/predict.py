"""POST /predict: one spectrogram PNG in, both heads' probabilities (and Grad-CAM) out."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from model_store.spectrogram import normalize, png_to_image

from ..deps import DecoderDep, MetricsDep, ReadyModelDep
from ..errors import error_responses
from ..presenters import explain_request, explanations, model_ref, precursor_probability, task_outputs
from ..schemas import InputInfo, PredictResponse
from ..security import guarded

router = APIRouter(tags=["predict"])


@router.post(
    "/predict", response_model=PredictResponse, response_model_exclude_none=True, **guarded("post", cross_site=True),
    responses=error_responses(400, 403, 408, 413, 415, 422, 503),
)
async def predict(
    state: ReadyModelDep,
    metrics: MetricsDep,
    decoder: DecoderDep,
    file: Annotated[UploadFile, File(description="spectrogram PNG, at most 4096 pixels a side (resized to the model's input)")],
    explain: Annotated[bool, Form(description="add Grad-CAM maps and overlays")] = False,
    target_magnitude: Annotated[
        str | None, Form(max_length=32, description="magnitude class to explain (default: predicted)")
    ] = None,
    target_azimuth: Annotated[
        str | None, Form(max_length=32, description="azimuth class to explain (default: predicted)")
    ] = None,
) -> PredictResponse:
    loaded = state.loaded
    spec, labels = loaded.input_spec, loaded.manifest.labels
    request = explain_request(labels, magnitude=target_magnitude, azimuth=target_azimuth) if explain else None
    data = await file.read()
    with metrics.timed("decode"):
        decoded = await decoder.run(png_to_image, data, spec)
    with metrics.timed("preprocess"):
        x = normalize(decoded.image, spec)[None]
    (pred,) = await state.batcher.submit(x, [request])
    height, width = decoded.original_size
    note = f"resized from {width}x{height} to {spec.image_width}x{spec.image_height}" if decoded.resized else None
    return PredictResponse(
        id=str(uuid.uuid4()),
        model=model_ref(loaded.manifest),
        input=InputInfo(width=width, height=height, resized=decoded.resized, note=note),
        outputs=task_outputs(pred, labels),
        precursor_probability=precursor_probability(pred, labels),
        explanation=explanations(pred, labels, decoded.image) if explain else None,
    )
