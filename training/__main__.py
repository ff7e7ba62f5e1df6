"""Command line: ``python -m training {simulate,build-dataset,train,cv}``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


from .catalog import atomic_write_bytes, atomic_write_text, write_catalog
from .config import load_yaml
from .dataset import BuildConfig, build_real, build_sim
from .simulate import World
from .writers import to_frg604rc, to_iaga2002

logger = logging.getLogger("training")


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write a simulated world as raw station files plus catalogue, Kp and ground truth."""
    config = BuildConfig.from_dict(load_yaml(args.config)).simulator
    if args.days:
        config = type(config).from_dict({**config.to_dict(), "days": args.days})
    world = World(config)
    out = Path(args.out)
    for day in range(config.days):
        for code, series in world.simulate_day(day).items():
            if args.format == "frg604rc":
                name, data = f"S{series.start:%y%m%d}.{code}", to_frg604rc(series)
            else:
                name, data = f"{code.lower()}{series.start:%Y%m%d}vsec.sec", to_iaga2002(series)
            atomic_write_bytes(out / "raw" / code / name, data)
        logger.info("day %d/%d written", day + 1, config.days)
    write_catalog(world.events, out / "catalog.csv")
    world.kp.write(out / "kp.csv")
    atomic_write_text(out / "ground_truth.json", json.dumps(world.ground_truth(), indent=1, sort_keys=True))
    logger.info("world with %d events, %d precursor injections written to %s", len(world.events),
                len(world.injections), out)
    return 0


def cmd_build_dataset(args: argparse.Namespace) -> int:
    config = BuildConfig.from_dict(load_yaml(args.config))
    if args.source == "sim":
        info = build_sim(config, args.out, progress=not args.quiet)
    else:
        if not args.data or not args.catalog:
            raise SystemExit("--source real needs --data DIR and --catalog CSV")
        info = build_real(config, args.data, args.catalog, args.out, kp=args.kp, progress=not args.quiet)
    print(json.dumps(info["summary"], indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write a simulated world as raw station files")
    s.add_argument("--config", help="YAML with a 'simulator' section (configs/sim_default.yaml)")
    s.add_argument("--out", required=True)
    s.add_argument("--days", type=int, help="override the number of days")
    s.add_argument("--format", choices=("frg604rc", "iaga2002"), default="frg604rc")
    s.set_defaults(func=cmd_simulate)

    b = sub.add_parser("build-dataset", help="label windows and write spectrogram PNGs + metadata")
    b.add_argument("--source", choices=("sim", "real"), required=True)
    b.add_argument("--config", help="YAML with simulator/labels/dataset/input_spec sections")
    b.add_argument("--out", required=True)
    b.add_argument("--data", help="directory of station files (real source)")
    b.add_argument("--catalog", help="earthquake catalogue CSV (real source)")
    b.add_argument("--kp", help="Kp CSV (optional)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build_dataset)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        logger.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
