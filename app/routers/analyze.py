"""POST /analyze: raw station data in, a timeline of per-window predictions out.

The windows and spectrograms are built with the served model's InputSpec, exactly as training built
them, and predicted on the 8-bit image a PNG would hold, so a returned spectrogram PNG posted to
/predict gives the same probabilities.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from model_store import InputSpec, Manifest, StationSeries, read_series, supported_formats
from model_store.spectrogram import Window, conform_sampling, cut_windows, image_to_png, normalize, quantize, window_to_image
from model_store.stations import get_station

from ..analyses import KeptAnalysis, KeptWindow, image_url
from ..deps import AnalysesDep, DecoderDep, MetricsDep, ReadyModelDep, SettingsDep
from ..errors import ServiceError, error_responses
from ..explain import b64
from ..presenters import explain_request, explanations, model_ref, task_outputs
from ..schemas import AnalyzeResponse, AnalyzeSummary, StationInfo, WindowResult
from ..security import guarded

router = APIRouter(tags=["analyze"])


@dataclass
class _Prepared:
    series: StationSeries
    resampled: bool
    windows: list[Window]
    images: list[np.ndarray | None]


def _format(name: str | None) -> str | None:
    """The ``format`` field, any case; None to detect it from the content."""
    fmt = (name or "").strip().lower() or None
    if fmt is not None and fmt not in supported_formats():
        raise ServiceError(
            400, f"unknown format {fmt!r}: use one of {', '.join(supported_formats())}, or omit it to detect the format"
        )
    return fmt


def _read(data: bytes, filename: str | None, fmt: str | None) -> StationSeries:
    source = io.BytesIO(data)
    # the name appears in error messages: keep it short and printable
    name = "".join(c for c in (filename or "").rsplit("/", 1)[-1] if c.isprintable())[:64]
    source.name = name or "upload"
    return read_series(source, format=fmt)


def _prepare(series: StationSeries, spec: InputSpec, hop_s: float, max_windows: int) -> _Prepared:
    conformed = conform_sampling(series, spec)
    span_s = conformed.n_samples * spec.sample_interval_s
    if span_s < spec.window_s:
        raise ServiceError(
            422,
            f"the record covers {span_s / 3600:.2f} h; the model needs windows of {spec.window_s / 3600:g} h",
        )
    n_windows = int((span_s - spec.window_s) // hop_s) + 1
    if n_windows > max_windows:
        raise ServiceError(
            422, f"{n_windows} windows at a {hop_s / 3600:g} h hop exceed the limit of {max_windows}; "
            "use a larger hop_hours or a shorter file",
        )
    windows = cut_windows(conformed, spec, hop_s=hop_s)
    images = [None if w.data is None else quantize(window_to_image(w.data, spec)) for w in windows]
    return _Prepared(conformed, conformed is not series, windows, images)


def _station_info(series: StationSeries, override: str | None) -> StationInfo:
    code = (override or series.station or "").strip().upper()
    known = get_station(code) if code else None
    if known:
        return StationInfo(code=code, name=known.name, latitude=known.latitude, longitude=known.longitude)
    return StationInfo(code=code or "unknown", latitude=series.latitude, longitude=series.longitude)


@router.post(
    "/analyze", response_model=AnalyzeResponse, response_model_exclude_none=True, **guarded("post", cross_site=True),
    responses=error_responses(400, 403, 404, 408, 413, 415, 422, 503),
)
async def analyze(
    state: ReadyModelDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    decoder: DecoderDep,
    analyses: AnalysesDep,
    file: Annotated[UploadFile, File(description="station data: FRG-604RC day (.gz ok), IAGA-2002, CSV, ImagCDF, miniSEED")],
    format: Annotated[  # noqa: A002
        str | None, Form(max_length=16, description="a supported format name (any case); detected if omitted")
    ] = None,
    station: Annotated[
        str | None,
        Form(max_length=16, pattern=r"^[A-Za-z0-9_-]*$", description="station code (letters, digits, - and _), overriding the file's"),
    ] = None,
    hop_hours: Annotated[
        float | None, Form(gt=0, le=24, allow_inf_nan=False, description="hop between windows in hours (default: the model's)")
    ] = None,
    explain: Annotated[bool, Form(description="add Grad-CAM maps for every analysed window")] = False,
    include_spectrograms: Annotated[bool, Form(description="return each window's spectrogram PNG")] = False,
    model: Annotated[
        str | None, Form(max_length=80, description="served model name[:version] to use (default: the default model)")
    ] = None,
    image_links: Annotated[bool, Form(description=(
        "images as URLs instead of base64: every analysed window gets spectrogram_url and, with explain, each "
        "explanation overlay_url (GET them from /v2/analyses/...; kept in a bounded in-memory cache)"))] = False,
) -> AnalyzeResponse:
    analysis_id = str(uuid.uuid4())
    served = state.get(model) if model else state.default
    loaded = served.loaded
    spec, labels = loaded.input_spec, loaded.manifest.labels
    hop_s = hop_hours * 3600 if hop_hours else float(spec.hop_s)
    fmt = _format(format)
    data = await file.read()
    with metrics.timed("decode"):
        series = await decoder.run(_read, data, file.filename, fmt)
    with metrics.timed("preprocess"):
        prepared = await decoder.run(_prepare, series, spec, hop_s, settings.max_analyze_windows)

    valid = [i for i, img in enumerate(prepared.images) if img is not None]
    preds = {}
    if valid:
        x = np.stack([normalize(prepared.images[i], spec) for i in valid])
        request = explain_request(labels) if explain else None
        preds = dict(zip(valid, await served.batcher.submit(x, [request] * len(valid))))

    def build_windows() -> list[WindowResult]:
        results = []
        for i, w in enumerate(prepared.windows):
            r = WindowResult(
                index=i, start=w.start, end=w.end, valid_fraction=round(w.valid_fraction, 6),
                longest_gap_s=w.longest_gap_s, skipped_reason=w.skipped_reason,
            )
            if i in preds:
                r.outputs = task_outputs(preds[i], labels)
                r.precursor_probability = preds[i].precursor_probability
                r.alarm = preds[i].alarm
                link = (lambda name, i=i: image_url(analysis_id, i, name)) if image_links else None
                if link:
                    r.spectrogram_url = link("spectrogram")
                elif include_spectrograms:
                    r.spectrogram_png_base64 = b64(image_to_png(prepared.images[i], spec))
                if explain:
                    r.explanation = explanations(preds[i], loaded.manifest, prepared.images[i], link)
            results.append(r)
        return results

    windows = await run_in_threadpool(build_windows)
    if image_links:
        analyses.put(analysis_id, _kept(loaded.manifest, prepared, preds))
    analysed = [w for w in windows if w.outputs is not None]
    best = max(analysed, key=lambda w: w.precursor_probability, default=None)
    summary = AnalyzeSummary(
        windows_total=len(windows),
        windows_analyzed=len(analysed),
        windows_skipped=len(windows) - len(analysed),
        max_precursor_probability=best.precursor_probability if best else None,
        max_precursor_window=best.index if best else None,
        windows_in_alarm=sum(bool(w.alarm) for w in analysed),
        alarm_threshold=loaded.manifest.calibration.alarm_threshold,
        magnitude_labels=dict(Counter(w.outputs["magnitude"].label for w in analysed)),
        azimuth_labels=dict(Counter(w.outputs["azimuth"].label for w in analysed)),
    )
    return AnalyzeResponse(
        id=analysis_id,
        model=model_ref(loaded.manifest),
        station=_station_info(series, station),
        source_format=series.source_format,
        start=series.start,
        end=series.end,
        sampling_interval_s=series.sampling_interval_s,
        resampled_to_s=spec.sample_interval_s if prepared.resampled else None,
        window_hours=spec.window_s / 3600,
        hop_hours=hop_s / 3600,
        windows=windows,
        summary=summary,
        images_kept=analyses.describe() if image_links else None,
    )


def _kept(manifest: Manifest, prepared: _Prepared, preds: dict) -> KeptAnalysis:
    """What the image route needs to draw this analysis's PNGs later: 8-bit inputs and Grad-CAM maps."""
    windows: dict[int, KeptWindow | str] = {}
    for i, w in enumerate(prepared.windows):
        if i not in preds:
            windows[i] = w.skipped_reason or "not analysed"
            continue
        cams = {task: cam for task, (_, cam) in (preds[i].cams or {}).items()}
        pixels = np.rint(prepared.images[i] * 255.0).astype(np.uint8)
        windows[i] = KeptWindow(pixels, cams, preds[i].bearing_deg)
    return KeptAnalysis(manifest, windows)
