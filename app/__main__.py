"""python -m app (or precursor-serve): serve the service with uvicorn, one worker; scale with replicas."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from .log import configure_logging
from .server import serve
from .settings import ENV_PREFIX, Settings, default_text, get_settings


def settings_help() -> str:
    lines = ["settings (environment variables, default in brackets):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  {ENV_PREFIX}{name.upper()} [{default_text(name)}]")
        lines.append(f"      {field.description}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Serve the magnetometer precursor service (one uvicorn worker; scale with replicas).",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        sys.exit(f"invalid settings:\n{exc}")
    configure_logging(settings)
    serve(settings, args.host, args.port)


if __name__ == "__main__":
    main()
