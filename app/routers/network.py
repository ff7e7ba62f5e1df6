"""POST /analyze/network: several stations' records of the same day(s) in; each station's timeline as /analyze
gives it and, per common window, the network's answer: a source fix with its 95% ellipse (or null with the
reason), each station's distance from it, and magnitude class probabilities. GET /v2/network: the network
model in use and what it can know.

Each record is read by a decode worker, placed (an uploaded stations table, else its own header and the
packaged station table), padded to the hop grid from UTC midnight so every station's windows start at the same
instants, and run through the same window pipeline, batcher and admission as /analyze (its pieces, imported
from :mod:`app.routers.analyze`), judged by the station's baseline where it has one. The common windows then
go through :func:`model_store.network_pipeline.network_timeline`, the library the network evaluation
(``python -m training network-eval``) runs too. Limits are /analyze's, counted over all stations' windows.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from model_store.network import MAGNITUDE_STATEMENT
from model_store.network_pipeline import (
    NamedRecord,
    NetworkWindow,
    StationWindow,
    align_to_hop,
    check_same_days,
    hop_origin,
    network_timeline,
    station_positions,
    station_window,
)
from model_store.pipeline import RecordPlan, TooManyWindowsError, WindowOutcome, plan_record
from model_store.stations import Station, get_station, parse_stations

from ..deps import BaselinesDep, DecoderDep, MetricsDep, NetworkModelsDep, ReadyModelDep, SettingsDep
from ..errors import ServiceError, error_responses
from ..metrics import Metrics
from ..presenters import json_response, model_ref
from ..runtime.baselines import Judgement
from ..runtime.batching import thread_predictor
from ..runtime.decoding import UploadReader, upload_name
from ..schemas import (
    BaselineSummary,
    NetworkDocument,
    NetworkResponse,
    NetworkStation,
    NetworkSummary,
    NetworkWindowResult,
    StationInfo,
    WindowResult,
)
from ..security import guarded
from ..validators import format_field
from .analyze import _background, _hop_s, _station_baseline, chunk_submitter, run_timeline, summarize, window_result
from .forms import BaselineField, FormatField, HopHoursField, ModelField

router = APIRouter(tags=["network"])

MIN_FILES = 2
MAX_FILES = 32  # stations in one request
MAX_STATIONS_TABLE_BYTES = 256 * 1024

WHAT_IT_CAN_KNOW = {
    "detection": "A station detects in a window when its timeline shows an alarm: with a station baseline, its "
                 "background_p_value at most the baseline's false-alarm rate; without one, P(event) at the model's "
                 "operating point. A network alarm needs at least two coincident detections and a consistent fix.",
    "source": "The fix is the maximum-likelihood crossing of the detecting stations' bearings (von Mises errors, "
              "weighted by the bearing head's kappa as the network model's bearing calibration trusts it), with the "
              "95% ellipse of the likelihood. Stations whose bearings do not meet are refused as a source, in plain "
              "words; where emissions overlap, further sources are fixed from other stations. Two stations' "
              "crossing fits them exactly: nothing tests that they see one source.",
    "magnitude": MAGNITUDE_STATEMENT,
    "simulated": "Every fitted part (bearing calibration, magnitude model) and every figure comes from simulated "
                 "worlds; on real data they are a hypothesis, not a measurement.",
}


def _stations_table(data: bytes, name: str) -> dict[str, Station]:
    if len(data) > MAX_STATIONS_TABLE_BYTES:
        raise ServiceError(413, f"the stations table {name} is larger than {MAX_STATIONS_TABLE_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ServiceError(422, f"the stations table {name} is not UTF-8 text") from None
    try:
        return parse_stations(text, name)
    except ValueError as exc:
        raise ServiceError(422, f"the stations table {exc}") from None


def _read(reader: UploadReader, data: bytes, filename: str | None, fmt: str | None, metrics: Metrics) -> NamedRecord:
    name = upload_name(filename)
    with metrics.timed("decode"):
        return NamedRecord(name, reader.read_series(data, name, fmt))


def _plan(record: NamedRecord, spec, hop_s: float, origin, background) -> tuple[RecordPlan, float]:
    aligned = align_to_hop(record.series, hop_s, origin)
    padded = (record.series.start - aligned.start).total_seconds()
    return plan_record(aligned, spec, hop_s, background=background), max(padded, 0.0)


def _position_source(code: str, uploaded: dict[str, Station]) -> str:
    if code in uploaded:
        return "stations_table"
    return "station_table" if get_station(code) else "file_header"


@router.post(
    "/analyze/network", response_model=NetworkResponse, **guarded("post", cross_site=True),
    responses=error_responses(400, 403, 404, 408, 413, 415, 422, 503),
)
async def analyze_network(
    state: ReadyModelDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    decoder: DecoderDep,
    baselines: BaselinesDep,
    network: NetworkModelsDep,
    files: Annotated[list[UploadFile], File(description=(
        f"{MIN_FILES} to {MAX_FILES} station files of the same UTC day (or days), one per station, any supported "
        "format (.gz ok); each must name its station (IAGA-2002, FRG-604RC, ImagCDF and miniSEED headers do)"))],
    stations: Annotated[UploadFile | None, File(description=(
        "optional CSV (code, name, latitude, longitude) placing stations that are not in the packaged table; it "
        "wins over the files' headers"))] = None,
    format: FormatField = None,  # noqa: A002
    hop_hours: HopHoursField = None,
    model: ModelField = None,
    baseline: BaselineField = None,
) -> Response:
    """Analyse several stations' records together: each station's timeline (as /analyze gives it) and, for every
    common window, the network's answer (alarm, source fix with its 95% ellipse or null with the reason,
    magnitude). Refuses files of different days, a station sent twice and a station without coordinates (422,
    naming them)."""
    analysis_id = str(uuid.uuid4())
    deadline = state.admission.deadline()
    state.admission.check()  # a full queue refuses before anything is decoded
    if not MIN_FILES <= len(files) <= MAX_FILES:
        raise ServiceError(400, f"send {MIN_FILES} to {MAX_FILES} station files (one per station) in 'files'; got "
                                f"{len(files)}: a network needs at least two stations")
    served = state.get(model) if model else state.default
    loaded = served.loaded
    spec, labels = loaded.input_spec, loaded.manifest.labels
    hop_s = _hop_s(hop_hours, spec)
    fmt = format_field(format)
    uploaded = _stations_table(await stations.read(), upload_name(stations.filename, "stations.csv")) if stations else {}
    datas = [(await f.read(), f.filename) for f in files]
    records = list(await asyncio.gather(*(decoder.run(_read, decoder.reader, data, name, fmt, metrics)
                                          for data, name in datas)))
    del datas
    positions = station_positions(records, uploaded)
    check_same_days(records)
    origin = hop_origin(records)
    codes = list(positions)
    judges: dict[str, Judgement] = {}
    references = {}
    for code in codes:
        references[code] = await run_in_threadpool(_station_baseline, baselines, code, baseline)
        judges[code] = Judgement.of(references[code], loaded.manifest)
    # a station-relative model reads each station against its own background, as /analyze makes it
    planned = [await decoder.run(_plan, r, spec, hop_s, origin,
                                 _background(loaded, references[code], positions[code].longitude))
               for r, code in zip(records, codes)]
    total = sum(p.n_windows for p, _ in planned)
    if total > settings.max_analyze_windows:
        raise TooManyWindowsError(
            f"{total} windows over {len(records)} stations at a {hop_s / 3600:g} h hop exceed the limit of "
            f"{settings.max_analyze_windows}; use a larger hop, shorter records or fewer stations")
    choice = await run_in_threadpool(network.for_model, loaded.manifest)

    loop = asyncio.get_running_loop()
    ended = threading.Event()
    predict = thread_predictor(served.batcher, loop, deadline, ended)
    submit = chunk_submitter(state, decoder, metrics, loop, deadline, ended)
    magnitude_labels = labels["magnitude"]

    def timelines(release: Callable[[int], None]) -> list[list[tuple[WindowResult, StationWindow]]]:
        out = []
        for code, (plan, _) in zip(codes, planned):
            judge, place = judges[code], positions[code]

            def present(o: WindowOutcome, judge: Judgement = judge, place: Station = place
                        ) -> tuple[WindowResult, StationWindow]:
                r = window_result(o, labels, judge)
                return r, station_window(place, o, spec, magnitude_labels, r.alarm, r.background_p_value)

            out.append(run_timeline(plan, spec, predict, submit, settings.max_batch_size, present, release, loop))
        return out

    with state.admission.admit(total) as ticket:
        try:
            per_station = await run_in_threadpool(timelines, ticket.release)
        finally:
            ended.set()

    def stage() -> list[NetworkWindow]:
        t0 = time.perf_counter()
        artifact = choice.artifact
        out = network_timeline({code: [sw for _, sw in rows] for code, rows in zip(codes, per_station)}, origin,
                               hop_s, choice.config, artifact.magnitude if artifact else None,
                               artifact.bearing_calibration if artifact else None)
        metrics.observe_stage("network", time.perf_counter() - t0)
        return out

    common = await run_in_threadpool(stage)
    body = await run_in_threadpool(
        _body, analysis_id, loaded, spec, hop_s, origin, choice, records, codes, positions, uploaded, planned,
        references, judges, per_station, common)
    return await run_in_threadpool(json_response, body)


def _body(analysis_id, loaded, spec, hop_s, origin, choice, records, codes, positions, uploaded, planned, references,
          judges, per_station, common) -> NetworkResponse:
    station_bodies = []
    for record, code, (plan, padded), rows in zip(records, codes, planned, per_station):
        place, series = positions[code], record.series
        known = get_station(code)
        windows = [r for r, _ in rows]
        station_bodies.append(NetworkStation(
            file=record.name,
            station=StationInfo(code=code, name=(known.name if known and code not in uploaded else place.name) or None,
                                latitude=place.latitude, longitude=place.longitude),
            position_from=_position_source(code, uploaded), source_format=series.source_format,
            start=series.start, end=series.end, sampling_interval_s=series.sampling_interval_s,
            resampled_to_s=spec.sample_interval_s if plan.resampled else None, padded_s=round(padded, 3),
            baseline=BaselineSummary(**references[code].summary()) if judges[code].baseline else None,
            windows=windows, summary=summarize(windows, judges[code])))
    results = [NetworkWindowResult.model_validate(w.to_dict()) for w in common]
    detecting = [len(w.network.stations_detecting) for w in results]
    return NetworkResponse(
        id=analysis_id, model=model_ref(loaded.manifest), window_hours=spec.window_s / 3600, hop_hours=hop_s / 3600,
        hop_origin=origin, network_model=_artifact_ref(choice.artifact), network_model_reason=choice.reason or None,
        network_settings=choice.config.to_dict(), stations=station_bodies, windows=results,
        summary=NetworkSummary(
            stations=len(codes), windows_total=len(results),
            windows_in_alarm=sum(w.network.alarm for w in results),
            sources_fixed=sum((w.network.source is not None) + len(w.network.other_sources) for w in results),
            most_detecting_window=max(range(len(results)), key=detecting.__getitem__) if results and max(detecting)
            else None))


def _artifact_ref(artifact) -> dict | None:
    if artifact is None:
        return None
    return {"version": artifact.version, "sha256": artifact.sha256, "station_model": artifact.station_model.get("ref"),
            "amplitude_estimator": artifact.amplitude_estimator,
            "magnitude_classes": list(artifact.magnitude.classes),
            "bearing_calibration": {"scale": round(artifact.bearing_calibration.scale, 4),
                                    "floor_deg": round(artifact.bearing_calibration.floor_deg, 3)}}


@router.get("/v2/network", response_model=NetworkDocument, responses=error_responses(503))
async def network_document(state: ReadyModelDep, network: NetworkModelsDep, settings: SettingsDep) -> Response:
    """The network stage: the network model /analyze/network uses with the default station model (what it was
    fitted on, its evaluation's headline figures), its settings, and what it can know, in plain words."""
    manifest = state.default.loaded.manifest
    choice = await run_in_threadpool(network.for_model, manifest)
    body = NetworkDocument(
        station_model=manifest.ref,
        network_model=choice.artifact.summary() if choice.artifact else None,
        network_model_reason=choice.reason or None,
        network_settings=choice.config.to_dict(),
        what_it_can_know=WHAT_IT_CAN_KNOW,
        limits={"files": [MIN_FILES, MAX_FILES], "max_windows_all_stations": settings.max_analyze_windows,
                "stations_table_bytes": MAX_STATIONS_TABLE_BYTES},
    )
    return json_response(body)


__all__ = ["router"]
