"""``analyze``: plan against the manifest, run the per-file tasks, judge each changed station, write it down.

The task graph is two stages, because a station's days depend on each other only through the baseline:

1. one task per input file (``--batch`` files per task), independent of every other: read, windows,
   spectrograms, the model (:func:`archive.task.analyze_files`). This is the expensive part and is spread over
   the workers; each worker loads the model once.
2. one task per station whose inputs changed: its rows in time order, each day judged against the rolling
   baseline of the days before it (:func:`archive.rolling.judge_station`). Cheap, and it needs the whole
   station, so it runs after stage 1.

Every output is written atomically; the manifest (:mod:`archive.store`) records what was read and written,
so an interrupted or repeated run picks up where the last one stopped and never writes a row twice.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from model_store import PACKAGED_STORE
from model_store.registry import ModelRegistry
from model_store.stations import Station, load_stations

from .engines import DaskEngine, LoopEngine, is_killed_worker
from .inputs import InputFile, checksum, discover
from .progress import Progress
from .rolling import RollingRules, judge_station, station_dir, station_fingerprint
from .store import ArchiveDir, new_run_id, write_json
from .task import DONE, FAILED, AnalyzeSettings, ModelMismatch, analyze_files

logger = logging.getLogger("archive")
FORMAT = 1
FLUSH_S = 5.0  # a manifest segment at least this often while files finish (and every FLUSH_FILES files)
FLUSH_FILES = 500


@dataclass
class AnalyzeOptions:
    input: str
    out: str
    model: str | None = None  # name[:version]; the store's default if None
    store: str | None = None  # None: the packaged store
    hop_hours: float | None = None
    engine: str = "dask"  # dask | loop
    scheduler: str | None = None
    workers: int | None = None  # LocalCluster worker processes (default: one per core)
    threads: int | None = None  # model threads per process (default: 1)
    batch: int = 1
    inference_path: str = "onnx"
    checksum: bool = False
    retry_failed: bool = False
    prune: bool = False
    exclude: Sequence[str] = ()
    station: str | None = None
    stations: dict[str, Station] | None = None  # a --stations table
    rolling: RollingRules = field(default_factory=RollingRules)
    allowed_failures: int = 3
    log_every: int = 100
    progress: bool | None = None  # None: on a terminal
    client: Any = None  # an existing distributed.Client (tests, notebooks)


def _needs_work(item: InputFile, entry: dict[str, Any] | None, settings_fp: str, archive: ArchiveDir,
                options: AnalyzeOptions) -> str | None:
    """Why ``item`` must be analysed (None: its latest entry still holds)."""
    if entry is None:
        return "new"
    if entry["settings"] != settings_fp:
        return "settings changed"
    if entry["status"] == FAILED and options.retry_failed:
        return "retrying a failure"
    if entry["size"] != item.size:
        return "changed"
    if options.checksum:
        if entry.get("checksum") != checksum(item.url):
            return "changed"
    elif entry["modified"] != item.modified or not item.modified:
        return "changed"
    if entry["status"] == DONE and not (archive.root / entry["part"]).exists():
        return "part missing"
    return None


def _batches(items: Sequence[InputFile], size: int) -> list[list[InputFile]]:
    return [list(items[i:i + size]) for i in range(0, len(items), max(1, size))]


def _failure(item: InputFile, settings_fp: str, stage: str, reason: str, error: str) -> dict[str, Any]:
    return {"url": item.url, "key": item.key, "size": item.size, "modified": item.modified, "settings": settings_fp,
            "status": FAILED, "stage": stage, "reason": reason, "error": error,
            "finished_at": datetime.now(timezone.utc)}


def _engine(options: AnalyzeOptions, cores: int) -> tuple[Any, int]:
    """The engine, and the model's threads in each of its processes: one unless told otherwise (the default
    model is small; a second thread per process slowed it down here, and a second process per core does not
    fight over cores: see the benchmark)."""
    threads = options.threads or 1
    if options.engine == "loop":
        return LoopEngine(threads), threads
    return DaskEngine(options.scheduler, options.workers or cores, options.allowed_failures, options.client), threads


def run_analyze(options: AnalyzeOptions) -> dict[str, Any]:
    """Analyse every input of ``options.input`` into ``options.out``; the run's summary."""
    t_start = time.perf_counter()
    started = datetime.now(timezone.utc)
    run_id = new_run_id()
    archive = ArchiveDir(Path(options.out))
    archive.lock()
    engine = None
    try:
        registry = ModelRegistry(Path(options.store) if options.store else PACKAGED_STORE)
        manifest = registry.manifest(options.model)
        labels = {task: list(names) for task, names in manifest.labels.items()}
        cores = os.cpu_count() or 1
        base = AnalyzeSettings(model_ref=manifest.ref, weights_sha256=manifest.weights_sha256, store=options.store,
                               hop_s=None if options.hop_hours is None else options.hop_hours * 3600,
                               inference_path=options.inference_path, station=options.station)
        settings_fp = base.fingerprint()
        config = {"format": FORMAT, "model": manifest.ref, "weights_sha256": manifest.weights_sha256,
                  "labels": labels, "input_spec": manifest.input_spec.to_dict(), "hop_s": base.hop_s,
                  "settings": settings_fp, "amplitude_estimator": base.amplitude_estimator,
                  "rolling": options.rolling.to_dict()}
        if {k: v for k, v in (archive.read_config() or {}).items() if k != "written_by"} != config:
            archive.write_config({**config, "written_by": run_id})

        # ---- plan
        inside = archive.root.resolve().as_posix() + "/"  # an archive kept inside its own input is not input
        items = [i for i in discover(options.input, options.exclude) if not i.url.startswith(inside)]
        if not items:
            raise FileNotFoundError(f"{options.input}: no input files")
        state = archive.load_manifest()
        archive.clean()  # temporary files of a killed run (parts are kept: the manifest may not know them yet)
        why: dict[str, int] = defaultdict(int)
        todo = []
        for item in items:
            reason = _needs_work(item, state.get(item.url), settings_fp, archive, options)
            if reason:
                todo.append(item)
                why[reason] += 1
        found = {i.url for i in items}
        missing = [url for url in state if url not in found]
        logger.info("%d input files, %d to analyse (%s), %d already done; %d in the manifest not found this time%s",
                    len(items), len(todo), ", ".join(f"{n} {k}" for k, n in why.items()) or "none",
                    len(items) - len(todo), len(missing), " (pruned)" if options.prune and missing else "")
        t_planned = time.perf_counter()

        # ---- stage 1: one task per file (or batch)
        entries_this_run: list[dict[str, Any]] = []
        if todo:
            engine, threads = _engine(options, cores)
            settings = replace(base, threads=threads)
            logger.info("engine: %s", engine.describe())
            entries_this_run = _stage_one(engine, todo, settings, archive, run_id, options, state)
        t_analysed = time.perf_counter()

        if options.prune:
            for url in missing:
                state.pop(url, None)

        # ---- stage 2: rolling baselines, per changed station
        rolling = _stage_two(engine, options, archive, state, labels)
        t_rolled = time.perf_counter()

        # ---- write down (a run that changed nothing rewrites nothing but its summary)
        changed = bool(entries_this_run) or (options.prune and bool(missing))
        if changed or not (archive.manifest_dir / "manifest.parquet").exists():
            archive.compact(state)
        if changed or not archive.failures_path.exists():
            failures = archive.write_failures(state)
        else:
            failures = sum(e["status"] == FAILED for e in state.values())
        removed = archive.clean(parts={e["part"] for e in state.values() if e["status"] == DONE and e.get("part")})
        summary = _summary(run_id, started, options, engine, items, todo, why, missing, entries_this_run, state,
                           failures, rolling, removed,
                           {"plan_s": t_planned - t_start, "analyse_s": t_analysed - t_planned,
                            "rolling_s": t_rolled - t_analysed, "total_s": time.perf_counter() - t_start})
        write_json(archive.summary_path, summary)
        write_json(archive.root / "runs" / f"{run_id}.json", summary)
        return summary
    finally:
        if engine is not None:
            engine.close()
        archive.unlock()


def _stage_one(engine: Any, todo: list[InputFile], settings: AnalyzeSettings, archive: ArchiveDir, run_id: str,
               options: AnalyzeOptions, state: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    progress = Progress(len(todo), options.log_every, options.progress)
    recorded: list[dict[str, Any]] = []
    unflushed: list[dict[str, Any]] = []
    last_flush = time.monotonic()
    fp = settings.fingerprint()

    def record(entry: dict[str, Any], attempts: int = 1) -> None:
        nonlocal last_flush
        entry.update(run_id=run_id, attempts=attempts)
        old = state.get(entry["url"])
        if entry["status"] == FAILED and old is not None and old.get("part"):
            (archive.root / old["part"]).unlink(missing_ok=True)  # its old rows must not outlive it
        state[entry["url"]] = entry
        recorded.append(entry)
        unflushed.append(entry)
        progress.update(entry)
        if len(unflushed) >= FLUSH_FILES or time.monotonic() - last_flush >= FLUSH_S:
            archive.append(run_id, unflushed)
            unflushed.clear()
            last_flush = time.monotonic()

    def handle(batch: list[InputFile], result: Any, suspects: list[InputFile] | None, attempts: int) -> None:
        if isinstance(result, ModelMismatch):
            raise result
        if isinstance(result, BaseException):
            if suspects is not None and is_killed_worker(result):
                suspects.extend(batch)
                return
            stage = "worker" if is_killed_worker(result) else "analyze"
            reason = (f"the worker process died every time it analysed this file ({result}); the reader or the "
                      "model crashed on it, or it needed more memory than a worker has"
                      if stage == "worker" else f"{type(result).__name__}: {result}")
            for item in batch:
                record(_failure(item, fp, stage, f"{item.name}: {reason}", type(result).__name__), attempts)
            return
        for entry in result:
            record(entry, attempts)

    try:
        suspects: list[InputFile] = []
        for batch, result in engine.map(analyze_files, _batches(todo, options.batch), settings, str(archive.root),
                                        name="analyze"):
            handle(batch, result, suspects, 1)
        if suspects:
            logger.warning("%d file(s) were on a worker that died repeatedly; trying each alone", len(suspects))
            for batch, result in engine.one_at_a_time(analyze_files, [[s] for s in suspects], settings,
                                                      str(archive.root), name="alone"):
                handle(batch, result, None, 2)
    finally:
        archive.append(run_id, unflushed)  # what finished is recorded, even when the run stops here
        progress.close()
    return recorded


def _station_positions(options: AnalyzeOptions, station: str) -> tuple[tuple[float, float] | None, ...]:
    given = options.stations.get(station) if options.stations else None
    packaged = load_stations().get(station)
    return (None if given is None else (given.latitude, given.longitude),
            None if packaged is None else (packaged.latitude, packaged.longitude))


def _stage_two(engine: Any, options: AnalyzeOptions, archive: ArchiveDir, state: dict[str, dict[str, Any]],
               labels: dict[str, list[str]]) -> dict[str, Any]:
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in state.values():
        if e["status"] == DONE and e.get("station"):
            by_station[e["station"]].append(e)
    previous = json.loads(archive.rolling_state_path.read_text()) if archive.rolling_state_path.exists() else {}
    current: dict[str, str] = {}
    jobs = []
    for station, entries in sorted(by_station.items()):
        given, packaged = _station_positions(options, station)
        fp = station_fingerprint(entries, options.rolling, (given, packaged))
        current[station] = fp
        if previous.get(station) != fp or not station_dir(archive.windows, station).exists():
            parts = [str(archive.root / e["part"]) for e in sorted(entries, key=lambda e: e["url"])]
            jobs.append((station, parts, given, packaged))
    gone = [s for s in previous if s not in by_station]
    for station in gone:
        shutil.rmtree(station_dir(archive.windows, station), ignore_errors=True)
    results = []
    if jobs:
        runner = engine if engine is not None else LoopEngine()
        logger.info("judging %d station(s) against rolling baselines", len(jobs))
        for job, result in runner.map(_judge, jobs, str(archive.windows), options.rolling, labels, name="rolling"):
            if isinstance(result, BaseException):
                current.pop(job[0], None)  # judged again next run
                logger.error("station %s: rolling baselines failed: %s", job[0], result)
                results.append({"station": job[0], "error": f"{type(result).__name__}: {result}"})
            else:
                results.append(result)
    if current != previous:
        write_json(archive.rolling_state_path, current)
    return {"stations": len(by_station), "judged_now": len(jobs), "removed": gone, "results": results}


def _judge(job: tuple, windows: str, rules: RollingRules, labels: dict[str, list[str]]) -> dict[str, Any]:
    station, parts, given, packaged = job
    return judge_station(station, parts, windows, rules, labels, given, packaged)


def _summary(run_id: str, started: datetime, options: AnalyzeOptions, engine: Any, items: list[InputFile],
             todo: list[InputFile], why: dict[str, int], missing: list[str], this_run: list[dict[str, Any]],
             state: dict[str, dict[str, Any]], failures: int, rolling: dict[str, Any], removed: dict[str, int],
             timing: dict[str, float]) -> dict[str, Any]:
    done_now = [e for e in this_run if e["status"] == DONE]
    failed_now = [e for e in this_run if e["status"] == FAILED]
    windows_now = sum(int(e.get("windows") or 0) for e in done_now)
    days_now = sum((e["last_end"] - e["first_start"]).total_seconds() / 86400 for e in done_now)
    done_all = [e for e in state.values() if e["status"] == DONE]
    analyse_s = timing["analyse_s"]
    judged = [r for r in rolling["results"] if "error" not in r]
    return {
        "run_id": run_id, "started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
        "input": options.input, "out": str(options.out),
        "engine": engine.describe() if engine is not None else {"kind": "none (nothing to analyse)"},
        "files": {"found": len(items), "analysed_now": len(todo), "why": dict(why),
                  "already_done": len(items) - len(todo), "done_now": len(done_now), "failed_now": len(failed_now),
                  "failures_total": failures, "in_manifest_not_found": len(missing), "pruned": options.prune},
        "windows": {"written_now": windows_now, "total": sum(int(e.get("windows") or 0) for e in done_all),
                    "analysed_total": sum(int(e.get("analysed") or 0) for e in done_all)},
        "station_days_now": round(days_now, 3),
        "rates": {"files_per_s": len(todo) / analyse_s if todo and analyse_s > 0 else None,
                  "station_days_per_s": days_now / analyse_s if done_now and analyse_s > 0 else None,
                  "windows_per_s": windows_now / analyse_s if done_now and analyse_s > 0 else None},
        "rolling": {"stations": rolling["stations"], "judged_now": rolling["judged_now"],
                    "removed": rolling["removed"], "rules": options.rolling.to_dict(),
                    "windows_judged": sum(r.get("judged", 0) for r in judged),
                    "windows_without_baseline": sum(r.get("without_baseline", 0) for r in judged),
                    "alarms": sum(r.get("alarms", 0) for r in judged),
                    "duplicates_dropped": sum(r.get("duplicates_dropped", 0) for r in judged),
                    "errors": [r for r in rolling["results"] if "error" in r],
                    "positions": {r["station"]: r.get("position_source") for r in judged}},
        "failures_by_stage": _count(failed_now, "stage"),
        "removed": removed,
        "timing_s": {k: round(v, 3) for k, v in timing.items()},
    }


def _count(entries: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for e in entries:
        out[str(e.get(key))] += 1
    return dict(out)


__all__ = ["AnalyzeOptions", "run_analyze"]
