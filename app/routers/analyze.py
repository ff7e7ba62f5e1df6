"""POST /analyze: raw station data in, a timeline of per-window predictions out.

The record goes through the one window pipeline (:mod:`model_store.pipeline`): read (by a decode worker),
conformed to the served model's InputSpec, cut into windows, made into spectrograms and predicted on the
8-bit image a PNG would hold (so a returned spectrogram PNG posted to /predict gives the same answer), a
chunk of ``max_batch_size`` windows at a time, the next chunk's spectrograms made while the current one is
predicted. The pipeline runs in a worker thread; its chunks are made in the decoding threads (at most
``max_parallel_decodes`` at once, all requests together) and predicted by the shared batcher.

Cost is bounded by the limits: the hop is rounded to whole samples and must be at least ``MIN_HOP_S``; the
window count is computed from that rounded hop before anything is cut; a request holds at most two chunks of
window data and images at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, TypeVar

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from model_store import InputSpec, StationSeries
from model_store.background import Background
from model_store.baselines import BaselineError, StationBaseline
from model_store.checkpoint import LoadedModel
from model_store.inference import ExplainRequest, Prediction
from model_store.pipeline import Chunk, Predict, RecordPlan, Submit, WindowOutcome, plan_record, run_plan
from model_store.png import image_to_png
from model_store.stations import get_station
from model_store.windows import window_step

from ..deps import AnalysesDep, BaselinesDep, DecoderDep, MetricsDep, ReadyModelDep, SettingsDep
from ..errors import ServiceError, error_responses
from ..metrics import Metrics
from ..overlays import b64
from ..presenters import explain_request, explanations, json_response, model_ref, task_outputs
from ..runtime.admission import Deadline
from ..runtime.analyses import KeptAnalysis, KeptWindow, image_url
from ..runtime.baselines import BaselineCache, Judgement
from ..runtime.batching import RequestEnded, thread_predictor
from ..runtime.decoding import Decoder, UploadReader, upload_name
from ..runtime.errors import ModelNotServed
from ..runtime.state import ModelState, ServedModel
from ..schemas import AnalyzeResponse, AnalyzeSummary, BaselineSummary, StationInfo, WindowResult
from ..security import guarded
from ..validators import format_field
from .forms import BaselineField, FormatField, HopHoursField, ModelField

router = APIRouter(tags=["analyze"])
T = TypeVar("T")

MIN_HOP_S = 600.0  # 10 minutes: the smallest hop_hours accepted (after rounding to whole samples)


def _hop_s(hop_hours: float | None, spec: InputSpec) -> float:
    """The hop in seconds, rounded to whole samples as windows are cut; below ``MIN_HOP_S`` is a 400."""
    if hop_hours is None:
        return window_step(spec) * spec.sample_interval_s
    hop_s = window_step(spec, hop_hours * 3600) * spec.sample_interval_s
    if hop_s < MIN_HOP_S:
        raise ServiceError(
            400, f"hop_hours must be at least {MIN_HOP_S / 3600:.4g} ({MIN_HOP_S / 60:g} minutes), the smallest hop "
            f"this service cuts windows at; got {hop_hours:g} ({hop_s:g} s after rounding to whole samples)",
        )
    return hop_s


def _read(reader: UploadReader, data: bytes, filename: str | None, fmt: str | None, metrics: Metrics) -> StationSeries:
    """The upload read by a decode worker (:mod:`app.runtime.decoding`)."""
    with metrics.timed("decode"):
        return reader.read_series(data, upload_name(filename), fmt)


def _background(loaded: LoadedModel, baseline: StationBaseline | None, longitude: float | None) -> Background | None:
    """What a station-relative model's input is made against: the station's baseline when it has one for this
    input, else the model's own reference (the training stations' median); None for other models."""
    spec = loaded.input_spec
    if spec.background != "station":
        return None
    spectra = baseline.spectra.get(spec.absolute.fingerprint) if baseline is not None else None
    if spectra is not None:
        return Background.from_spectra(spectra, spec, longitude,
                                       f"station {baseline.station}'s baseline (version {baseline.version})")
    return loaded.reference_background(longitude)


def _station_baseline(baselines: BaselineCache, code: str | None, choice: str | None) -> StationBaseline | None:
    """The latest baseline of the record's station, unless the form said ``baseline=none``."""
    if (choice or "latest").lower() == "none" or not (code or "").strip():
        return None
    try:
        return baselines.latest(code)
    except BaselineError:  # a code the station store cannot hold has no baseline
        return None


def _model_for(state: ModelState, baseline_model: str | None, named: ServedModel | None,
               reference: StationBaseline | None) -> tuple[ServedModel, str | None]:
    """The model that answers, and why: the one the form names; for a station with a baseline that has its
    scores, the baseline model (a station-relative model reads the station's windows against its background);
    else the default model."""
    if named is not None:
        return named, "the model field"
    if reference is not None and baseline_model:
        try:
            candidate = state.get(baseline_model)
        except ModelNotServed:
            candidate = None
        if candidate is not None and reference.has_model(candidate.ref):
            return candidate, (f"station {reference.station}'s baseline (PRECURSOR_BASELINE_MODEL: the model for "
                               "stations with a baseline)")
    return state.default, None


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
    baselines: BaselinesDep,
    file: Annotated[UploadFile, File(description="station data: FRG-604RC day (.gz ok), IAGA-2002, CSV, ImagCDF, miniSEED")],
    format: FormatField = None,  # noqa: A002
    station: Annotated[
        str | None,
        Form(max_length=16, pattern=r"^[A-Za-z0-9_-]*$", description="station code (letters, digits, - and _), overriding the file's"),
    ] = None,
    hop_hours: HopHoursField = None,
    explain: Annotated[bool, Form(description="add Grad-CAM maps for every analysed window")] = False,
    include_spectrograms: Annotated[bool, Form(description="return each window's spectrogram PNG")] = False,
    model: ModelField = None,
    baseline: BaselineField = None,
    image_links: Annotated[bool, Form(description=(
        "images as URLs instead of base64: every analysed window gets spectrogram_url and, with explain, each "
        "explanation overlay_url (GET them from /v2/analyses/...; kept in a bounded in-memory cache)"))] = False,
) -> Response:
    analysis_id = str(uuid.uuid4())
    deadline = state.admission.deadline()
    state.admission.check()  # a full queue refuses before anything is decoded
    named = state.get(model) if model else None
    _hop_s(hop_hours, (named or state.default).loaded.input_spec)  # a bad hop is refused before decoding
    fmt = format_field(format)
    series = await decoder.run(_read, decoder.reader, await file.read(), file.filename, fmt, metrics)
    reference = await run_in_threadpool(_station_baseline, baselines, station or series.station, baseline)
    served, selected_by = _model_for(state, settings.baseline_model, named, reference)
    loaded = served.loaded
    spec, labels = loaded.input_spec, loaded.manifest.labels
    hop_s = _hop_s(hop_hours, spec)
    request = explain_request(labels) if explain else None
    judge = Judgement.of(reference, loaded.manifest)
    info = _station_info(series, station)
    background = _background(loaded, reference, info.longitude)
    plan = await decoder.run(plan_record, series, spec, hop_s, settings.max_analyze_windows, background)
    kept: dict[int, KeptWindow | str] = {}  # with image_links: what the image route needs later
    loop = asyncio.get_running_loop()
    ended = threading.Event()

    def present(o: WindowOutcome) -> WindowResult:
        r = window_result(o, labels, judge)
        if o.prediction is None:
            if image_links:
                kept[o.index] = o.window.skipped_reason or "not analysed"
            return r
        pred, image = o.prediction, o.image
        link = (lambda name, i=o.index: image_url(analysis_id, i, name)) if image_links else None
        if link:
            r.spectrogram_url = link("spectrogram")
            kept[o.index] = _kept_window(image, pred)
        elif include_spectrograms:
            r.spectrogram_png_base64 = b64(image_to_png(image, spec))
        if explain:
            r.explanation = explanations(pred, loaded.manifest, image, link)
        return r

    predict = thread_predictor(served.batcher, loop, deadline, ended)
    submit = chunk_submitter(state, decoder, metrics, loop, deadline, ended)

    def timeline(release: Callable[[int], None]) -> list[WindowResult]:
        return run_timeline(plan, spec, predict, submit, settings.max_batch_size, present, release, loop, request)

    with state.admission.admit(plan.n_windows) as ticket:
        try:
            windows = await run_in_threadpool(timeline, ticket.release)
        finally:
            ended.set()
    if image_links:
        analyses.put(analysis_id, KeptAnalysis(loaded.manifest, kept))

    summary = summarize(windows, judge, background)
    body = AnalyzeResponse(
        id=analysis_id,
        model=model_ref(loaded.manifest, selected_by),
        station=info,
        source_format=series.source_format,
        start=series.start,
        end=series.end,
        sampling_interval_s=series.sampling_interval_s,
        resampled_to_s=spec.sample_interval_s if plan.resampled else None,
        window_hours=spec.window_s / 3600,
        hop_hours=plan.hop_s / 3600,
        baseline=BaselineSummary(**judge.baseline.summary()) if judge.baseline else None,
        windows=windows,
        summary=summary,
        images_kept=analyses.describe() if image_links else None,
    )
    return await run_in_threadpool(json_response, body)


def window_result(o: WindowOutcome, labels: dict[str, tuple[str, ...]], judge: Judgement) -> WindowResult:
    """A window as /analyze gives it, without images or explanations: where it is, how complete, and (if it was
    predicted) the served outputs, P(event), and the alarm and background p-value as ``judge`` decides them."""
    w = o.window
    r = WindowResult(index=o.index, start=w.start, end=w.end, valid_fraction=round(w.valid_fraction, 6),
                     longest_gap_s=w.longest_gap_s, skipped_reason=w.skipped_reason)
    if o.prediction is None:
        return r
    pred = o.prediction
    r.outputs = task_outputs(pred, labels)
    r.precursor_probability = pred.precursor_probability
    r.background_p_value, r.alarm = judge.window(pred)
    return r


def summarize(windows: list[WindowResult], judge: Judgement, background: Background | None = None) -> AnalyzeSummary:
    """A timeline's summary: counts, the most likely window, alarms and the rule behind them, the background a
    station-relative input was made against, label counts."""
    analysed = [w for w in windows if w.outputs is not None]
    best = max(analysed, key=lambda w: w.precursor_probability, default=None)
    return AnalyzeSummary(
        windows_total=len(windows),
        windows_analyzed=len(analysed),
        windows_skipped=len(windows) - len(analysed),
        max_precursor_probability=best.precursor_probability if best else None,
        max_precursor_window=best.index if best else None,
        windows_in_alarm=sum(bool(w.alarm) for w in analysed),
        alarm_threshold=judge.threshold,
        alarm_rule=judge.rule,
        false_alarm_rate=judge.false_alarm_rate,
        input_background=background.source if background else None,
        magnitude_labels=dict(Counter(w.outputs["magnitude"].label for w in analysed)),
        azimuth_labels=dict(Counter(w.outputs["azimuth"].label for w in analysed)),
    )


def chunk_submitter(state: ModelState, decoder: Decoder, metrics: Metrics, loop: asyncio.AbstractEventLoop,
                    deadline: Deadline, ended: threading.Event) -> Callable[[Callable[[], Chunk]], Future[Chunk]]:
    """The pipeline's ``submit`` for a request: each chunk's spectrograms are made in the decoding threads (at
    most ``max_parallel_decodes`` at once, all requests together), none once the request ended or its deadline
    passed."""

    def submit(make: Callable[[], Chunk]) -> Future[Chunk]:
        if ended.is_set():
            raise RequestEnded()
        if deadline.expired():  # do not make spectrograms that an inference thread would drop
            raise state.admission.expired(deadline)
        return asyncio.run_coroutine_threadsafe(decoder.run(_timed, make, metrics), loop)

    return submit


def run_timeline(plan: RecordPlan, spec: InputSpec, predict: Predict, submit: Submit, chunk_size: int,
                 present: Callable[[WindowOutcome], T], release: Callable[[int], None],
                 loop: asyncio.AbstractEventLoop, explain: ExplainRequest | None = None) -> list[T]:
    """Every window of ``plan`` through the pipeline (in a worker thread), each presented as it is predicted;
    the admitted images are given back (``release``, on the event loop) a chunk at a time."""
    results: list[T] = []
    for chunk in run_plan(plan, spec, predict, chunk_size=chunk_size, explain=explain, submit=submit):
        results += [present(o) for o in chunk]
        loop.call_soon_threadsafe(release, len(chunk))
    return results


def _timed(make: Callable[[], Chunk], metrics: Metrics) -> Chunk:
    t0 = time.perf_counter()
    chunk = make()
    metrics.observe_stage("preprocess", time.perf_counter() - t0)
    return chunk


def _kept_window(image: np.ndarray, pred: Prediction) -> KeptWindow:
    """What the image route needs to draw a window's PNGs later: its 8-bit input and Grad-CAM maps."""
    cams = {task: cam for task, (_, cam) in (pred.cams or {}).items()}
    return KeptWindow(np.rint(image * 255.0).astype(np.uint8), cams, pred.bearing_deg)
