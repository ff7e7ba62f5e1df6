"""``python -m app``: run the service with uvicorn (one worker; scale with replicas)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from .main import create_app
from .settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, workers=1, log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
