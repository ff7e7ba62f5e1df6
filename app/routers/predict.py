"""POST /predict: one spectrogram PNG in, both heads' probabilities (and Grad-CAM) out.

The PNG is answered by the served model it is meant for (``model_store.png.choose_input`` over
``ModelState.candidates()``): a seed-style
power spectrogram by the power-only model, a two-panel cross-spectral PNG by the direction-aware one,
or the model named in the ``model`` field. The response says which model answered and why.

One image is admitted to the inference queue before anything is decoded (503 with Retry-After when it is
full); decoding, choosing the model and normalising happen in one worker thread.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from model_store.png import DecodedImage
from model_store.spectrogram import normalize

from ..deps import DecoderDep, MetricsDep, ReadyModelDep
from ..errors import error_responses
from ..metrics import Metrics
from ..presenters import explain_request, explanations, json_response, model_ref, task_outputs
from ..runtime.decoding import UploadReader, upload_name
from ..runtime.state import ModelState, ServedModel
from ..schemas import InputInfo, PredictResponse
from ..security import guarded

router = APIRouter(tags=["predict"])


def _decode(
    reader: UploadReader, data: bytes, filename: str | None, state: ModelState, model: str | None, metrics: Metrics
) -> tuple[ServedModel, str, DecodedImage, np.ndarray]:
    """PNG bytes -> the model that answers, why, the decoded image and the model input (one worker thread; the
    PNG itself is decoded by a decode worker, see :mod:`app.runtime.decoding`)."""
    t0 = time.perf_counter()
    candidates = [state.get(model)] if model else state.candidates()
    chosen = reader.decode_png(data, [(m.ref, m.loaded.input_spec) for m in candidates], named=bool(model),
                               name=upload_name(filename, "the PNG"))
    served = candidates[chosen.index]
    t1 = time.perf_counter()
    x = normalize(chosen.decoded.image, served.loaded.input_spec)
    metrics.observe_stage("decode", t1 - t0)
    metrics.observe_stage("preprocess", time.perf_counter() - t1)
    return served, chosen.why, chosen.decoded, x


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
) -> Response:
    deadline = state.admission.deadline()
    with state.admission.admit(1):
        served, selected_by, decoded, x = await decoder.run(_decode, decoder.reader, await file.read(), file.filename,
                                                            state, model, metrics)
        loaded = served.loaded
        spec, labels = loaded.input_spec, loaded.manifest.labels
        request = explain_request(labels, magnitude=target_magnitude, azimuth=target_azimuth) if explain else None
        (pred,) = await served.batcher.submit([x], [request], deadline)
    height, width = decoded.original_size
    note = (f"resized from {width}x{height} to {spec.png_size[1]}x{spec.png_size[0]}" if decoded.resized else None)

    def respond() -> Response:
        return json_response(PredictResponse(
            id=str(uuid.uuid4()),
            model=model_ref(loaded.manifest, selected_by),
            input=InputInfo(width=width, height=height, resized=decoded.resized, note=note),
            outputs=task_outputs(pred, labels),
            precursor_probability=pred.precursor_probability,
            alarm=pred.alarm,
            alarm_threshold=loaded.manifest.calibration.alarm_threshold,
            explanation=explanations(pred, loaded.manifest, decoded.image) if explain else None,
        ))

    # overlays are PNG encodes: off the event loop; a plain answer is cheaper to build than a thread hop
    return await run_in_threadpool(respond) if explain else respond()
