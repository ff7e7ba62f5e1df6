"""Command line: python -m training {simulate,sim-coverage,build-dataset,train,cv,export,...}."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_store import PACKAGED_STORE, InputSpec, ModelStoreError
from model_store.baselines import BaselineRules
from model_store.catalog import write_catalog
from model_store.fileio import atomic_write_bytes, atomic_write_text
from model_store.stations import STATION_COLUMNS, read_stations

from . import network_eval
from .config import load_yaml
from .samples import SampleSet
from .dataset import BuildConfig, build_real, build_sim
from .simulate import World
from .train import TrainConfig, train
from .writers import to_frg604rc, to_iaga2002

logger = logging.getLogger("training")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (refuses 0, negatives, fractions and NaN with exit code 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except for flags and options whose default comes from the config."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


# options that mean the same in every command that takes them
SHARED_OPTIONS: dict[str, dict[str, Any]] = {
    "--data": {"required": True, "help": "dataset directory from build-dataset"},
    "--run": {"required": True, "help": "run directory of 'train'"},
}


def _parser(sub, name: str, func, *shared: str, **kwargs) -> argparse.ArgumentParser:
    """The subcommand ``name`` that runs ``func``, taking the ``shared`` options first."""
    p = sub.add_parser(name, formatter_class=_Help, **kwargs)
    p.set_defaults(func=func)
    for option in shared:
        p.add_argument(option, **SHARED_OPTIONS[option])
    return p


def _sim_config(args: argparse.Namespace):
    config = BuildConfig.from_dict(load_yaml(args.config)).simulator
    if args.days is not None:
        config = type(config).from_dict({**config.to_dict(), "days": args.days})
    return config


def _write_layout(world: World, path: Path) -> None:
    """The world's station layout as a stations file (code, name, latitude, longitude)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(STATION_COLUMNS)
    for st in world.stations.values():
        writer.writerow([st.code, st.name, f"{st.latitude:.6f}", f"{st.longitude:.6f}"])
    atomic_write_text(path, buf.getvalue())


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write a simulated world as raw station files plus its station layout, catalogue, Kp and ground truth."""
    world = World(_sim_config(args))
    config = world.config
    out = Path(args.out)
    for day in range(config.days):
        for code, series in world.simulate_day(day).items():
            if args.format == "frg604rc":
                name, data = f"S{series.start:%y%m%d}.{code}", to_frg604rc(series)
            else:
                name = f"{code.lower()}{series.start:%Y%m%d}vsec.sec"
                data = to_iaga2002(series, world.stations[code].name)
            atomic_write_bytes(out / "raw" / code / name, data)
        logger.info("day %d/%d written", day + 1, config.days)
    _write_layout(world, out / "stations.csv")
    write_catalog(world.events, out / "catalog.csv")
    world.kp.write(out / "kp.csv")
    atomic_write_text(out / "ground_truth.json", json.dumps(world.ground_truth(), indent=1, sort_keys=True))
    logger.info("world with %d events, %d precursor injections written to %s; events seen at 0/1/2/3+ stations: %s",
                len(world.events), len(world.injections), out, world.coverage()["events"])
    return 0


def cmd_sim_coverage(args: argparse.Namespace) -> int:
    """How many events of a simulated world are seen at 0, 1, 2 and 3+ stations (ground truth only: no
    station-day is simulated)."""
    print(json.dumps(World(_sim_config(args)).coverage(), indent=2))
    return 0


def cmd_build_dataset(args: argparse.Namespace) -> int:
    config = BuildConfig.from_dict(load_yaml(args.config))
    if args.source == "sim":
        info = build_sim(config, args.out, progress=not args.quiet, workers=args.workers)
    else:
        stations = read_stations(args.stations) if args.stations else None
        info = build_real(config, args.data, args.catalog, args.out, kp=args.kp, progress=not args.quiet,
                          stations=stations)
    print(json.dumps(info["summary"], indent=2))
    return 0


@dataclass
class LoadedData:
    info: dict[str, Any]
    spec: InputSpec
    samples: SampleSet
    calibration_normals: SampleSet


def _load_data(data_dir: str, representation: str) -> LoadedData:
    from model_store.labels import TASKS

    from .samples import load_samples
    from .dataset import load_input_specs, read_calibration_normals, read_samples

    info = json.loads((Path(data_dir) / "dataset.json").read_text())
    specs = load_input_specs(info)
    if representation not in specs:
        raise ValueError(f"dataset {data_dir} has no {representation!r} spectrograms (it has: {', '.join(specs)})")
    spec = specs[representation]
    samples = load_samples(data_dir, read_samples(data_dir), TASKS, spec, representation)
    normals = load_samples(data_dir, read_calibration_normals(data_dir), TASKS, spec, representation)
    return LoadedData(info, spec, samples, normals)


def _train_config(path: str | None, overrides: dict) -> TrainConfig:
    section = dict(load_yaml(path).get("train") or {})
    section.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(section)


def cmd_train(args: argparse.Namespace) -> int:
    """Train on a dataset (validation carved by event), calibrate on the validation side, save a
    model_store checkpoint in OUT/checkpoint."""
    from model_store import save_checkpoint

    from .folds import carve_validation
    from .distributed import setup, teardown
    from .train import calibrate_on

    dist = setup()
    cfg = _train_config(args.config, {"epochs": args.epochs})
    data = _load_data(args.data, cfg.representation)
    samples = data.samples
    fit_idx, val_idx = carve_validation(samples.rows, np.arange(len(samples)), "group_event", cfg.val_fraction, cfg.seed)
    if dist.is_main:
        logger.info("training %s on %d windows, validating on %d (%s data, %s)", cfg.backbone, len(fit_idx),
                    len(val_idx), data.info["trained_on"], cfg.representation)
    out = Path(args.out)
    val = samples.subset(val_idx)
    result = train(cfg, samples.subset(fit_idx), val, data.spec, out_dir=out, resume=args.resume,
                   dist=dist, progress=not args.quiet)
    if dist.is_main:
        calibration = calibrate_on(result.model, val, data.calibration_normals, data.spec, cfg.azimuth_head,
                                   fitted_on="validation split of the training run")
        atomic_write_text(out / "history.json", json.dumps(result.history, indent=1) + "\n")
        save_checkpoint(
            result.model, out / "checkpoint", name=args.name, version="run", input_spec=data.spec,
            provenance=_provenance(data.info, args.data),
            training={"config": cfg.to_dict(), "best_epoch": result.best_epoch, "stopped": result.stopped,
                      "fit_windows": int(len(fit_idx)), "validation_windows": int(len(val_idx)),
                      "world_size": dist.world_size},
            metrics={"validation": result.best_val},
            calibration=calibration,
            background_reference=data.info.get("backgrounds", {}).get(cfg.representation, {}).get("reference"),
        )
        logger.info("best epoch %d (%s); calibration %s; checkpoint in %s", result.best_epoch, result.stopped,
                    calibration.to_dict(), out / "checkpoint")
    teardown(dist)
    return 0


def _provenance(info: dict, data_dir: str) -> dict:
    return {
        "trained_on": info["trained_on"],
        "dataset": Path(data_dir).name,
        "dataset_summary": info["summary"],
        "simulator": info["config"]["simulator"] if info["trained_on"] == "simulated" else None,
        "labels": info["config"]["labels"],
        "description": (
            "Trained on windows from the project's physics-informed simulator only; it has never seen a real "
            "precursor. Research tool, not an earthquake warning system."
            if info["trained_on"] == "simulated" else "Trained on real station archives labelled from a catalogue."
        ),
    }


def cmd_cv(args: argparse.Namespace) -> int:
    from .cv import run_cv
    from .cv_report import write_report

    cv = dict(load_yaml(args.config).get("cv") or {})
    cfg = _train_config(args.config, {"epochs": args.epochs})
    data = _load_data(args.data, cfg.representation)
    report = run_cv(
        data.samples, data.spec, cfg, scheme=args.scheme or cv.get("scheme", "loeo"), k=args.folds or cv.get("folds", 5),
        max_folds=args.max_folds or cv.get("max_folds"), shuffled_control_folds=cv.get("shuffled_control_folds", 1)
        if args.controls else 0, seed=cfg.seed, progress=not args.quiet, calibration_normals=data.calibration_normals,
    )
    report["dataset"] = {"name": Path(args.data).name, "summary": data.info["summary"]}
    write_report(report, args.out)
    logger.info("report written to %s", Path(args.out) / "report.md")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Copy a trained checkpoint into a model store, adding report summaries to its metrics."""
    from model_store import ModelRegistry, load_checkpoint

    loaded = load_checkpoint(Path(args.run) / "checkpoint")
    m = loaded.manifest
    metrics = dict(m.metrics)
    if args.metrics:
        extra = json.loads(Path(args.metrics).read_text())
        if not isinstance(extra, dict):
            raise ValueError(f"--metrics {args.metrics}: expected a JSON object of report summaries, "
                             f"got a JSON {type(extra).__name__}")
        metrics.update(extra)
    manifest = ModelRegistry(args.store).save(
        loaded.model, args.name, input_spec=m.input_spec, provenance=m.provenance, training=m.training,
        metrics=metrics, calibration=m.calibration, make_default=args.default, version=args.version,
        background_reference=m.background_reference,
    )
    logger.info("exported %s to %s%s", manifest.ref, args.store, " (default)" if args.default else "")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a trained checkpoint (with its own calibration) on another dataset, e.g. an independent world."""
    from model_store import load_checkpoint

    from .evaluate import ServedOutputs, score
    from .train import predict_raw

    loaded = load_checkpoint(Path(args.run) / "checkpoint")
    cfg = TrainConfig.from_dict(loaded.manifest.training["config"])
    data = _load_data(args.data, cfg.representation)
    if data.spec != loaded.input_spec:
        raise ValueError(f"dataset {args.data} was rendered with another {cfg.representation} spec than the model's")
    raw = predict_raw(loaded.model, data.samples.images, data.spec)
    outputs = ServedOutputs.from_raw(raw, loaded.manifest.calibration, loaded.model.config.azimuth_head)
    report = {"model": loaded.manifest.ref, "dataset": {"name": Path(args.data).name, "summary": data.info["summary"]},
              **score(data.samples.rows, data.samples.magnitude, data.samples.azimuth, outputs)}
    atomic_write_text(Path(args.out), json.dumps(report, indent=2, default=float) + "\n")
    logger.info("evaluation of %s on %s written to %s", loaded.manifest.ref, args.data, args.out)
    return 0


def cmd_station_eval(args: argparse.Namespace) -> int:
    """Stations never seen in training, judged with and without their own baselines (training/station_eval.py)."""
    from model_store import ModelRegistry, load_checkpoint
    from model_store.inference import InferenceConfig, InferenceEngine, select_backend

    from .station_eval import StationEvalConfig, run

    config = BuildConfig.from_dict(load_yaml(args.config))
    overrides = {k: v for k, v in {"days": args.days, "baseline_days": args.baseline_days,
                                   "stations": tuple(args.stations) if args.stations else None}.items() if v is not None}
    evaluation = StationEvalConfig.from_dict({**load_yaml(args.config).get("station_eval", {}), **overrides})
    models = {f"run {run}": load_checkpoint(Path(run) / "checkpoint") for run in args.runs or ()}
    for ref in args.models or ():
        loaded = ModelRegistry(args.model_store).load(ref)
        models[loaded.manifest.ref] = loaded
    if not models:
        raise ValueError("give --models and/or --runs")
    engines = {name: InferenceEngine(loaded, select_backend(loaded, InferenceConfig(path="onnx"))[0])
               for name, loaded in models.items()}
    report = run(config.simulator, config.labels, engines, evaluation)
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    for ref, modes in report["models"].items():
        for mode, m in modes.items():
            logger.info("%s %s: quiet windows in alarm %s (worst station %s), event windows in alarm %s, sector "
                        "accuracy %s", ref, mode, m["quiet_in_alarm"], m["worst_station_quiet_in_alarm"],
                        m["events_in_alarm"], m["event_sector_accuracy"])
    return 0


def cmd_ceilings(args: argparse.Namespace) -> int:
    """Magnitude ceilings of one station from a simulated dataset's ground truth."""
    from .ceilings import ceilings

    report = ceilings(args.data, k=args.folds)
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


def cmd_real_check(args: argparse.Namespace) -> int:
    """Real quiet days (no alarm expected) and injection-recovery on real backgrounds for a trained model."""
    from model_store import load_checkpoint

    from . import real_check

    loaded = load_checkpoint(Path(args.run) / "checkpoint")
    sim = BuildConfig.from_dict(load_yaml(args.config)).simulator
    report = real_check.run(loaded, args.real, sim)
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    q = report["quiet_days"]
    logger.info("real quiet days: %d alarms in %d windows (max P(event) %.3f, threshold %.3f)", q["alarms"],
                len(q["windows"]), q["max_precursor_probability"], q["alarm_threshold"])
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """A station's baseline from days of its own record, offline: the artifact PUT /v2/stations/{code}/baseline
    makes, through the same code (model_store.baselines), with every model of the model store."""
    from model_store import ModelRegistry, read_series
    from model_store.baseline_store import BaselineStore, normal_code
    from model_store.baselines import BaselineRules, SourceFile, make_baseline
    from model_store.inference import InferenceConfig, load_engine
    from model_store.stations import get_station

    registry = ModelRegistry(args.model_store)
    refs = args.models or [registry.manifest(name).ref for name in registry.names()]
    engines = {ref: load_engine(args.model_store, ref, InferenceConfig(path="eager"))[0] for ref in refs}
    records = []
    for path in args.files:
        data, series = Path(path).read_bytes(), read_series(path, format=args.format)
        records.append((SourceFile.of(Path(path).name, data, series.start, series.end), series))
    code = normal_code(args.station)
    known = get_station(code)
    rules = BaselineRules(min_windows=args.min_windows, false_alarm_rate=args.false_alarm_rate)
    baseline = make_baseline(code, records, {ref: (e.loaded.input_spec, e.predict) for ref, e in engines.items()},
                             rules, (known.latitude, known.longitude) if known else None)
    saved = BaselineStore(args.store).save(baseline)
    logger.info("station %s: baseline version %s from %d of %d windows (%s)", code, saved.version,
                saved.windows["used"], saved.windows["total"], ", ".join(saved.days))
    print(json.dumps(saved.summary(), indent=2))
    return 0


def cmd_model_report(args: argparse.Namespace) -> int:
    """Merge the reports of `make model` into one document and the metrics each manifest carries."""
    from .model_report import write_model_report

    write_model_report(Path(args.runs), Path(args.out))
    return 0


def cmd_sim_check(args: argparse.Namespace) -> int:
    """Compare real station files with the simulated background; optionally measure station traits."""
    from . import sim_check
    from .simulate import World

    if args.measure_traits:
        print(json.dumps(sim_check.measure_traits(sim_check.real_windows(args.real)), indent=2))
        return 0
    config = BuildConfig.from_dict(load_yaml(args.config))
    report = sim_check.compare(args.real, World(config.simulator), config.labels, args.days)
    text = sim_check.render_markdown(report)
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")
    return 0


def _station_model(args: argparse.Namespace):
    from .network_eval import ModelSource

    if args.run:
        return ModelSource(run=args.run)
    return ModelSource(store=args.model_store, ref=args.model)


def cmd_network_fit(args: argparse.Namespace) -> int:
    """Fit the network model (bearing calibration, magnitude model) on a simulated dense array, through the chain
    POST /analyze/network runs; written as JSON, to be stored by network-export."""
    from model_store.network import NetworkConfig

    from .network_eval import fit

    config = NetworkConfig.from_dict({**_chain_config().to_dict(), **args.network})
    artifact = fit(args.config, args.days, _station_model(args), config, args.format, args.workers)
    atomic_write_text(Path(args.out), json.dumps(artifact.to_dict(), indent=1, sort_keys=True) + "\n")
    f = artifact.fit
    logger.info("network model fitted on %d located event windows of %d events (%s): magnitude balanced accuracy "
                "%.3f cross-validated, ceiling %.3f; bearing calibration scale %.2f, floor %.2f deg; written to %s",
                f["located_event_windows"], f["events"], f["classes"], f["cross_validated_balanced_accuracy"],
                f["ceiling_cross_validated_balanced_accuracy"] or float("nan"), artifact.bearing_calibration.scale,
                artifact.bearing_calibration.floor_deg, args.out)
    return 0


def _chain_config():
    from model_store.network_pipeline import CHAIN_NETWORK_CONFIG

    return CHAIN_NETWORK_CONFIG


def cmd_network_eval(args: argparse.Namespace) -> int:
    """Measure the network stage (a fitted network model) on another dense-array world, the same layout without
    precursors, and the BMKG layout, through the chain POST /analyze/network runs."""
    from model_store.network_store import NetworkArtifact

    from .network_eval import evaluate

    artifact = NetworkArtifact.from_dict(json.loads(Path(args.network).read_text()))
    report = evaluate(artifact, _station_model(args), world_config=args.config, days=args.days,
                      quiet_days=args.quiet_days, bmkg_config=args.bmkg_config or None, bmkg_days=args.bmkg_days,
                      fmt=args.format, workers=args.workers)
    atomic_write_text(Path(args.out), json.dumps(report, indent=1, default=float) + "\n")
    loc = report["dense_array"]["localisation"]
    logger.info("network evaluation written to %s: median localisation error %s km at 2 stations, %s km at 3+; "
                "ellipse coverage %s", args.out, loc["2"].get("median_error_km"), loc["3+"].get("median_error_km"),
                report["dense_array"].get("ellipse_coverage_all_fixes"))
    return 0


def cmd_network_export(args: argparse.Namespace) -> int:
    """Store a fitted network model in the network store, tied to the station model (name:version) of the model
    store whose features it was fitted on (refused if the weights, input or calibration differ)."""
    from dataclasses import replace

    from model_store import ModelRegistry
    from model_store.network_store import NetworkArtifact, NetworkStore, network_store_of, station_model_identity

    from .network_eval import headline

    artifact = NetworkArtifact.from_dict(json.loads(Path(args.network).read_text()))
    manifest = ModelRegistry(args.model_store).manifest(args.model)
    if not artifact.fits(manifest):
        raise ValueError(f"{args.network} was fitted on another station model than {manifest.ref} (weights, input "
                         "description or calibration differ): fit it again with this model")
    evaluation = headline(json.loads(Path(args.evaluation).read_text())) if args.evaluation else {}
    store = args.store or network_store_of(args.model_store)
    saved = NetworkStore(store).save(replace(artifact, station_model=station_model_identity(manifest),
                                                  evaluation=evaluation))
    logger.info("network model %s for %s stored in %s", saved.version, manifest.ref, store)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training", description=__doc__, formatter_class=_Help
    )
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="logging level")
    sub = p.add_subparsers(dest="command", required=True)

    s = _parser(sub, "simulate", cmd_simulate, help="write a simulated world as raw station files")
    s.add_argument("--config", help="YAML with a 'simulator' section (configs/sim_default.yaml)")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--days", type=positive_int, help="override the config's number of days")
    s.add_argument("--format", choices=("frg604rc", "iaga2002"), default="frg604rc", help="raw file format")

    sc = _parser(sub, "sim-coverage", cmd_sim_coverage,
                 help="count the events a simulated world's stations see (0/1/2/3+ stations)")
    sc.add_argument("--config", help="YAML with a 'simulator' section (configs/sim_dense_array.yaml)")
    sc.add_argument("--days", type=positive_int, help="override the config's number of days")

    b = _parser(sub, "build-dataset", cmd_build_dataset, help="label windows and write spectrogram PNGs + metadata")
    b.add_argument("--source", choices=("sim", "real"), required=True, help="simulated world or real archives")
    b.add_argument("--config", help="YAML with simulator/labels/dataset/input_spec sections")
    b.add_argument("--out", required=True, help="dataset directory")
    b.add_argument("--data", help="directory of station files (real source)")
    b.add_argument("--catalog", help="earthquake catalogue CSV (real source)")
    b.add_argument("--kp", help="Kp CSV (optional)")
    b.add_argument("--stations", help="station layout CSV (code, name, latitude, longitude) for the real source, e.g. "
                                      "a simulated world's stations.csv (default: the packaged BMKG table, then the "
                                      "file's own header)")
    b.add_argument("--quiet", action="store_true", help="no progress bar (progress is logged every 50 days)")
    b.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                   help="processes simulating days in parallel (simulated source; the result does not depend on it)")

    t = _parser(sub, "train", cmd_train, "--data", help="train a model on a dataset (torchrun-compatible)")
    t.add_argument("--config", help="YAML with a 'train' section (configs/default_model.yaml)")
    t.add_argument("--out", required=True, help="run directory (resume state, history, checkpoint)")
    t.add_argument("--name", default="precursor", help="model name written into the checkpoint")
    t.add_argument("--epochs", type=positive_int, help="override the config's number of epochs")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    t.add_argument("--quiet", action="store_true", help="no per-batch progress bars (epochs are still logged)")

    c = _parser(sub, "cv", cmd_cv, "--data",
                help="grouped cross-validation with baselines and a shuffled-label control")
    c.add_argument("--scheme", choices=("loeo", "loso", "time"), help="split by event, station or time (default: the config's)")
    c.add_argument("--config", help="YAML with 'train' and 'cv' sections")
    c.add_argument("--out", required=True, help="report directory")
    c.add_argument("--folds", type=positive_int, help="number of folds (default: the config's cv.folds)")
    c.add_argument("--max-folds", type=positive_int, help="run only the first N folds (the report says how many)")
    c.add_argument("--epochs", type=positive_int, help="epochs per fold (default: the config's)")
    c.add_argument("--no-controls", dest="controls", action="store_false", help="skip the shuffled-label control")
    c.add_argument("--quiet", action="store_true", help="no per-batch progress bars (folds and epochs are still logged)")

    v = _parser(sub, "evaluate", cmd_evaluate, "--run", "--data",
                help="score a trained checkpoint on another dataset (e.g. an independent world)")
    v.add_argument("--out", required=True, help="report JSON to write")

    se = _parser(sub, "station-eval", cmd_station_eval,
                 help="stations never seen in training, judged with and without their own baselines")
    se.add_argument("--config", required=True, help="YAML with simulator and labels sections (and station_eval)")
    se.add_argument("--models", nargs="+", help="name[:version] of models in --model-store")
    se.add_argument("--model-store", default=str(PACKAGED_STORE), help="where --models are")
    se.add_argument("--runs", nargs="+", help="run directories of 'train' (their checkpoint)")
    se.add_argument("--days", type=positive_int, help="days evaluated (default: the config's station_eval.days)")
    se.add_argument("--baseline-days", type=positive_int, help="days of another period each baseline is made from")
    se.add_argument("--stations", nargs="+", help="a subset of the world's stations")
    se.add_argument("--out", required=True, help="JSON to write")

    g = _parser(sub, "ceilings", cmd_ceilings, help="magnitude ceilings of one station from simulated ground truth")
    g.add_argument("--data", required=True, help="a simulated dataset")
    g.add_argument("--folds", type=positive_int, default=5, help="event-grouped folds")
    g.add_argument("--out", required=True, help="JSON to write")

    r = _parser(sub, "real-check", cmd_real_check, "--run",
                help="real quiet days and injection-recovery on real backgrounds")
    r.add_argument("--real", nargs="+", required=True, help="real station files (quiet days)")
    r.add_argument("--config", required=True, help="the simulator config whose emissions are injected")
    r.add_argument("--out", required=True, help="JSON to write")

    bl = _parser(sub, "baseline", cmd_baseline,
                 help="a station's baseline from days of its own record (see docs: station baselines)")
    bl.add_argument("--store", required=True, help="the station store (the service's PRECURSOR_STATION_STORE)")
    bl.add_argument("--station", required=True, help="the station's code")
    bl.add_argument("files", nargs="+", help="days of the station's record, any supported format (.gz or not)")
    bl.add_argument("--format", help="the files' format (default: detected)")
    bl.add_argument("--model-store", default=str(PACKAGED_STORE), help="the models to make scores for")
    bl.add_argument("--models", nargs="+", help="name[:version] of the models (default: every model name, newest)")
    bl.add_argument("--min-windows", type=positive_int, default=BaselineRules.min_windows,
                    help="usable windows needed")
    bl.add_argument("--false-alarm-rate", type=float, default=BaselineRules.false_alarm_rate,
                    help="alarm when background_p_value is at most this")

    mr = _parser(sub, "model-report", cmd_model_report, help="merge the reports of `make model` (see the Makefile)")
    mr.add_argument("--runs", required=True, help="the run directory holding every report")
    mr.add_argument("--out", required=True, help="directory for report.md, figures and manifest metrics")

    k = _parser(sub, "sim-check", cmd_sim_check, help="compare real station files with the simulated background")
    k.add_argument("--real", nargs="+", required=True, help="real station files")
    k.add_argument("--config", help="YAML with simulator and labels sections (not needed with --measure-traits)")
    k.add_argument("--days", type=positive_int, default=30, help="simulated days to compare")
    k.add_argument("--out", help="write the comparison as JSON")
    k.add_argument("--measure-traits", action="store_true", help="print the station traits measured on the files")

    def station_model_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--run", help="a training run whose checkpoint is the station model (else --model-store)")
        parser.add_argument("--model-store", default=str(PACKAGED_STORE), help="model store of the station model")
        parser.add_argument("--model", help="name[:version] of the station model (default: the store's default)")
        parser.add_argument("--format", choices=("frg604rc", "iaga2002"), default="frg604rc",
                            help="the files each simulated station-day is written as and read back from (FRG-604RC "
                                 "with a stations table: 40x faster to write than IAGA-2002 with its header)")
        parser.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                            help="processes running days in parallel (the result does not depend on it)")

    nf = _parser(sub, "network-fit", cmd_network_fit,
                 help="fit the network model (bearing calibration, magnitude) on a simulated dense array")
    nf.add_argument("--config", default=str(network_eval.FIT_WORLD), help="the fitting world")
    nf.add_argument("--days", type=positive_int, default=180, help="days of the world (those with an event at 2+ "
                                                                     "stations are run)")
    nf.add_argument("--network", type=json.loads, default={}, help="NetworkConfig fields as JSON (over the chain's)")
    nf.add_argument("--out", required=True, help="JSON to write (network-export stores it)")
    station_model_options(nf)

    ne = _parser(sub, "network-eval", cmd_network_eval,
                 help="measure the network stage on another dense array, without precursors, and on the BMKG layout")
    ne.add_argument("--network", required=True, help="a network model's JSON (network-fit's output)")
    ne.add_argument("--config", default=str(network_eval.EVAL_WORLD), help="the evaluation world")
    ne.add_argument("--days", type=positive_int, default=90, help="days of the evaluation world")
    ne.add_argument("--quiet-days", type=int, default=50,
                    help="days of the evaluation layout without precursors (storm days first); 0: none")
    ne.add_argument("--bmkg-config", default=str(network_eval.BMKG_WORLD), help="a BMKG-layout world ('': none)")
    ne.add_argument("--bmkg-days", type=int, default=10, help="its days through the chain")
    ne.add_argument("--out", required=True, help="JSON to write")
    station_model_options(ne)

    nx = _parser(sub, "network-export", cmd_network_export,
                 help="store a fitted network model, tied to a stored station model")
    nx.add_argument("--network", required=True, help="network-fit's JSON")
    nx.add_argument("--evaluation", help="network-eval's JSON (its headline figures are stored with the model)")
    nx.add_argument("--model-store", default=str(PACKAGED_STORE), help="model store of the station model")
    nx.add_argument("--model", help="name[:version] of the station model (default: the store's default)")
    nx.add_argument("--store", help="the network model store (default: the model store's _network directory)")

    e = _parser(sub, "export", cmd_export, "--run", help="put a trained checkpoint into a model store")
    e.add_argument("--store", required=True, help="model store directory (model_store/models)")
    e.add_argument("--name", required=True, help="model name in the store")
    e.add_argument("--metrics", help="JSON object of report summaries to add to the manifest's metrics")
    e.add_argument("--version", help="version to store it as (default: the next number)")
    e.add_argument("--default", action="store_true", help="make it the store's default model")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "build-dataset" and args.source == "real" and not (args.data and args.catalog):
        parser.error("build-dataset --source real needs --data DIR and --catalog CSV")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, OSError, KeyError, ModelStoreError) as exc:
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
