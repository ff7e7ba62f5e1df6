"""Stations and their baselines: ``GET /v2/stations``, ``GET /v2/stations/{code}``, and a station's baseline made
(``PUT /v2/stations/{code}/baseline``) from uploaded days of its own record, or deleted.

A baseline is made with every served model, through the same window pipeline ``/analyze`` runs
(:func:`model_store.baselines.make_baseline`), and stored in the station store (:mod:`model_store.baseline_store`)
that every replica reads; ``/analyze`` then judges the station's windows against it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated

from fastapi import APIRouter, File, Path, UploadFile
from starlette.concurrency import run_in_threadpool

from model_store.baseline_store import normal_code
from model_store.baselines import BaselineRules, SourceFile, StationBaseline, make_baseline
from model_store.series import StationSeries
from model_store.stations import get_station, load_stations
from model_store.windows import window_count

from ..deps import BaselinesDep, DecoderDep, MetricsDep, ModelStateDep, ReadyModelDep, SettingsDep
from ..errors import ServiceError, error_responses
from ..metrics import Metrics
from ..runtime.batching import thread_predictor
from ..runtime.decoding import UploadReader, upload_name
from ..runtime.state import ModelState
from ..schemas import BaselineSummary, StationDetail, StationSummary
from ..security import guarded
from ..settings import Settings
from ..validators import format_field
from .forms import FormatField

router = APIRouter(prefix="/v2/stations", tags=["stations"])

Code = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,16}$", description="station code (any case)")]
MAX_BASELINE_FILES = 31


def _table_position(code: str) -> tuple[float, float] | None:
    known = get_station(code)
    return (known.latitude, known.longitude) if known else None


def _read(reader: UploadReader, data: bytes, filename: str | None, fmt: str | None, metrics: Metrics
          ) -> tuple[SourceFile, StationSeries]:
    name = upload_name(filename)
    with metrics.timed("decode"):
        series = reader.read_series(data, name, fmt)
    return SourceFile.of(name, data, series.start, series.end), series


def _windows(state: ModelState, records: list[tuple[SourceFile, StationSeries]]) -> int:
    """Images the baseline will send to the models: every window of every file, once per served model."""
    total = 0
    for served in state.models.values():
        spec = served.loaded.input_spec
        for _, series in records:
            total += window_count(int(series.n_samples * series.sampling_interval_s / spec.sample_interval_s), spec)
    return total


def _rules(settings: Settings) -> BaselineRules:
    return BaselineRules(min_windows=settings.baseline_min_windows, false_alarm_rate=settings.baseline_false_alarm_rate)


@router.put(
    "/{code}/baseline", status_code=201, response_model=BaselineSummary, **guarded("post", cross_site=True),
    responses=error_responses(400, 403, 408, 413, 415, 422, 503),
)
async def put_baseline(
    code: Code,
    state: ReadyModelDep,
    settings: SettingsDep,
    decoder: DecoderDep,
    baselines: BaselinesDep,
    metrics: MetricsDep,
    files: Annotated[list[UploadFile], File(description=f"1 to {MAX_BASELINE_FILES} files of the station's own record "
                                                        "(any supported format, .gz or not): 3 days or more, 7-14 "
                                                        "recommended")],
    format: FormatField = None,  # noqa: A002
) -> BaselineSummary:
    """Make the station's next baseline from days of its own record, with every served model. Windows with too
    many missing samples, or whose emission-band power is unlike the station's other windows (a storm, an
    emission, an artefact), are left out and counted."""
    code = normal_code(code)
    if not 1 <= len(files) <= MAX_BASELINE_FILES:
        raise ServiceError(400, f"send 1 to {MAX_BASELINE_FILES} files; got {len(files)}")
    fmt = format_field(format)
    deadline = state.admission.deadline()
    state.admission.check()
    records = [await decoder.run(_read, decoder.reader, await f.read(), f.filename, fmt, metrics) for f in files]
    loop = asyncio.get_running_loop()
    ended = threading.Event()
    models = {ref: (served.loaded.input_spec, thread_predictor(served.batcher, loop, deadline, ended))
              for ref, served in state.models.items()}
    with state.admission.admit(_windows(state, records)):
        try:
            baseline = await run_in_threadpool(make_baseline, code, records, models, _rules(settings),
                                               _table_position(code))
        finally:
            ended.set()
    saved = await run_in_threadpool(baselines.store.save, baseline)
    baselines.forget(code)
    return BaselineSummary(**saved.summary())


@router.delete("/{code}/baseline", responses=error_responses(400, 403, 404), **guarded("post", cross_site=True))
async def delete_baseline(code: Code, baselines: BaselinesDep) -> dict[str, object]:
    """Delete every stored baseline of the station; its windows are judged by the model alone again."""
    code = normal_code(code)
    removed = await run_in_threadpool(baselines.store.delete, code)
    baselines.forget(code)
    if not removed:
        raise ServiceError(404, f"station {code} has no baseline")
    return {"station": code, "deleted_versions": removed}


@router.get("", response_model=list[StationSummary], response_model_exclude_none=True, **guarded("results"))
async def list_stations(baselines: BaselinesDep) -> list[StationSummary]:
    """Every station of the packaged table and every station with a baseline."""
    table = load_stations()
    with_baseline = await run_in_threadpool(baselines.store.stations)
    out = []
    for code in sorted(set(table) | set(with_baseline)):
        known = table.get(code)
        latest = await run_in_threadpool(baselines.latest, code) if code in with_baseline else None
        out.append(StationSummary(
            code=code, name=known.name if known else None,
            latitude=known.latitude if known else (latest.latitude if latest else None),
            longitude=known.longitude if known else (latest.longitude if latest else None),
            in_station_table=known is not None, baseline_version=latest.version if latest else None,
            baseline_created_at=latest.created_at if latest else None))
    return out


@router.get("/{code}", response_model=StationDetail, responses=error_responses(400, 404), **guarded("results"))
async def station(code: Code, baselines: BaselinesDep, state: ModelStateDep) -> StationDetail:
    """A station's coordinates and its latest baseline (version, days, windows used and dropped and why, when it
    was made, its sha256, and per model the quiet-window score quantiles and the alarm threshold)."""
    code = normal_code(code)
    known = get_station(code)
    latest: StationBaseline | None = await run_in_threadpool(baselines.latest, code)
    if known is None and latest is None:
        raise ServiceError(404, f"station {code} is not in the station table and has no baseline")
    missing = [ref for ref in state.models if latest is not None and not latest.has_model(ref)]
    return StationDetail(
        code=code, name=known.name if known else None,
        latitude=known.latitude if known else latest.latitude, longitude=known.longitude if known else latest.longitude,
        in_station_table=known is not None, baseline=BaselineSummary(**latest.summary()) if latest else None,
        served_models_without_scores=missing)
