#!/bin/sh
# One uvicorn worker per container (2 cores); scale with replicas. Settings come from PRECURSOR_* variables.
set -e
exec python -m app --host 0.0.0.0 --port "${PORT:-8000}" "$@"
