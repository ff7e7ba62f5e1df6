"""Command line: ``python -m archive {analyze,network,skill}`` (docs/archive.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Help that shows a default where there is one worth showing (and the text does not give it already)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _stations(path: str | None):
    if not path:
        return None
    from model_store.stations import read_stations

    return read_stations(path)


def cmd_analyze(args: argparse.Namespace) -> int:
    from model_store.baselines import BaselineRules

    from .rolling import RollingRules
    from .runner import AnalyzeOptions, run_analyze

    rules = RollingRules(args.baseline_days, args.baseline_min_days,
                         BaselineRules(min_windows=args.baseline_min_windows, outlier_mad=args.outlier_mad,
                                       false_alarm_rate=args.false_alarm_rate))
    options = AnalyzeOptions(
        input=args.input, out=args.out, model=args.model, store=args.store, hop_hours=args.hop_hours,
        engine=args.engine, scheduler=args.scheduler, workers=args.workers, threads=args.threads, batch=args.batch,
        inference_path=args.inference_path, checksum=args.checksum, retry_failed=args.retry_failed, prune=args.prune,
        exclude=args.exclude, station=args.station, stations=_stations(args.stations), rolling=rules,
        allowed_failures=args.allowed_failures, log_every=args.log_every,
        progress=False if args.no_progress else None)
    summary = run_analyze(options)
    print(json.dumps({k: summary[k] for k in ("files", "windows", "station_days_now", "rates", "timing_s")}, indent=1))
    return 0


def cmd_network(args: argparse.Namespace) -> int:
    from model_store.network import MagnitudeModel, NetworkConfig

    from .network import run_network

    config = None
    if args.config or args.detection_p_value is not None:
        values = json.loads(Path(args.config).read_text()) if args.config else {}
        if args.detection_p_value is not None:
            values["detection_p_value"] = args.detection_p_value
        if "detection_p_value" not in values:
            archive = json.loads((Path(args.out) / "archive.json").read_text())
            values["detection_p_value"] = archive["rolling"]["baseline"]["false_alarm_rate"]
        config = NetworkConfig.from_dict(values)
    model = MagnitudeModel.from_dict(json.loads(Path(args.magnitude_model).read_text())) if args.magnitude_model else None
    summary = run_network(args.out, config, _stations(args.stations), model)
    print(json.dumps({k: summary[k] for k in ("windows", "candidates", "fixes", "no_fix", "detection")}, indent=1))
    return 0


def cmd_skill(args: argparse.Namespace) -> int:
    from model_store.skill import TargetRule

    from .skill import run_skill

    rule = TargetRule(min_magnitude=args.min_magnitude, radius=args.radius, radius_km=args.radius_km,
                      lead_min_hours=args.lead_hours[0], lead_max_hours=args.lead_hours[1])
    result = run_skill(args.out, args.catalog, network=args.network, score=args.score, rule=rule,
                       stations=_stations(args.stations), report=args.report, n_boot=args.n_boot, seed=args.seed,
                       random_alarm_repeats=args.random_alarm_repeats, cluster_days=args.cluster_days,
                       shift_days=args.shift_days)
    op = result.get("operating_point") or {}
    print(json.dumps({"targets": result["n_targets"], "ass": result["ass"], "ass_interval": result["ass_interval"],
                      "random_ass_interval": result["random"]["interval"],
                      "probability_gain": op.get("probability_gain"), "gain_interval": op.get("gain_interval"),
                      "report": str(Path(args.report) if args.report else
                                    Path(args.out) / ("skill_network" if args.network else "skill"))}, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m archive", description=__doc__, formatter_class=_Help)
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", formatter_class=_Help,
                       help="every station file under INPUT through the /analyze pipeline, into a Parquet dataset")
    a.set_defaults(func=cmd_analyze)
    a.add_argument("input", help="a folder, a glob (quote it) or an fsspec URL of either")
    a.add_argument("--out", required=True, help="the archive's folder (created; a rerun resumes it)")
    a.add_argument("--model", help="model name[:version] (default: the store's default model)")
    a.add_argument("--store", help="model store folder (default: the packaged store, as each worker has it)")
    a.add_argument("--hop-hours", type=float, help="hop between windows (default: the model's)")
    a.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) to attach to; "
                                        "default: start a LocalCluster here")
    a.add_argument("--engine", choices=("dask", "loop"), default="dask",
                   help="dask, or the plain in-process loop (no crash containment)")
    a.add_argument("--workers", type=_positive_int, help="LocalCluster worker processes (default: one per core)")
    a.add_argument("--threads", type=_positive_int, default=1,
                   help="model (torch / ONNX Runtime) threads per process")
    a.add_argument("--batch", type=_positive_int, default=1, help="files per task")
    a.add_argument("--inference-path", choices=("onnx", "eager"), default="onnx",
                   help="ONNX Runtime (checked against eager at load) or eager torch")
    a.add_argument("--checksum", action="store_true",
                   help="tell changed inputs by their SHA-256 (reads every input on this machine) instead of size "
                        "and modification time")
    a.add_argument("--retry-failed", action="store_true", help="analyse inputs that failed before again")
    a.add_argument("--prune", action="store_true",
                   help="drop the rows of inputs in the manifest that INPUT no longer lists")
    a.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave out matching files")
    a.add_argument("--station", help="station code for files that name none")
    a.add_argument("--stations", help="station table CSV (code, name, latitude, longitude); before the files' "
                                      "headers and the packaged table")
    a.add_argument("--baseline-days", type=_positive_int, default=14, help="rolling baseline: days before each day")
    a.add_argument("--baseline-min-days", type=_positive_int, default=3, help="... of which at least this many")
    a.add_argument("--baseline-min-windows", type=_positive_int, default=10, help="... holding this many kept windows")
    a.add_argument("--outlier-mad", type=float, default=5.0, help="baseline windows beyond this many scaled MADs of "
                                                                  "their local-time band's band power are dropped")
    a.add_argument("--false-alarm-rate", type=float, default=0.05, help="alarm: background p-value at most this")
    a.add_argument("--allowed-failures", type=int, default=3,
                   help="LocalCluster: worker deaths a task may cause before it is given up (then tried once alone)")
    a.add_argument("--log-every", type=_positive_int, default=100, help="a log line every this many files")
    a.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")

    n = sub.add_parser("network", formatter_class=_Help,
                       help="coincident detections across stations -> source fixes and magnitudes")
    n.set_defaults(func=cmd_network)
    n.add_argument("out", help="an archive folder made by analyze")
    n.add_argument("--stations", help="station table CSV (default: the positions the rows carry)")
    n.add_argument("--detection-p-value", type=float,
                   help="a station detects at background p-value <= this (default: the archive's false-alarm rate)")
    n.add_argument("--config", help="JSON of model_store.network.NetworkConfig settings")
    n.add_argument("--magnitude-model", help="JSON of a fitted MagnitudeModel (training/network_fit.py)")

    s = sub.add_parser("skill", formatter_class=_Help, help="alarms against an earthquake catalogue (Molchan, ASS, gain)")
    s.set_defaults(func=cmd_skill)
    s.add_argument("out", help="an archive folder made by analyze")
    s.add_argument("--catalog", required=True, help="catalogue CSV: BMKG layout or USGS ComCat")
    s.add_argument("--network", action="store_true", help="score the network alarms (run network first)")
    s.add_argument("--score", choices=("background", "probability"), default="background",
                   help="station rows: 1 - background p-value (rolling baseline) or P(event)")
    s.add_argument("--stations", help="station table CSV (default: the positions the rows carry)")
    s.add_argument("--min-magnitude", type=float, default=4.0, help="targets: events of at least this magnitude")
    s.add_argument("--radius", choices=("detection", "dobrovolsky", "fixed"), default="detection",
                   help="target radius: (M - 4.5) x 40 km, 10^(0.43 M) km, or --radius-km")
    s.add_argument("--radius-km", type=float, default=100.0, help="the fixed radius")
    s.add_argument("--lead-hours", type=float, nargs=2, default=(0.0, 48.0), metavar=("MIN", "MAX"),
                   help="a window speaks for (end + MIN, end + MAX]")
    s.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    s.add_argument("--seed", type=int, default=0, help="of the bootstrap and the random-alarm control")
    s.add_argument("--random-alarm-repeats", type=int, default=200, help="random circular shifts of the alarms")
    s.add_argument("--cluster-days", type=float, help="bootstrap by time blocks of this many days instead of by event")
    s.add_argument("--shift-days", type=float, action="append", help="catalogue shift control(s) (default: half the span)")
    s.add_argument("--report", help="report folder (default: OUT/skill, OUT/skill_network)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from model_store.errors import ModelStoreError

    from .store import ArchiveLocked
    from .task import ModelMismatch

    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, ArchiveLocked, ModelMismatch, ModelStoreError) as exc:
        logging.getLogger("archive").error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
