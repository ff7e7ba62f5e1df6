#!/usr/bin/env bash
# The service as one more row of the shared side-by-side harness (../shared/bench/compare.sh): it serves a
# model of the peers' shape (convnext_atto, 224x224 RGB PNG in; an untrained seeded model, so the harness's
# answer column reads DIFFERS while the timings compare the same work) on the settings of this environment
# (PRECURSOR_INFERENCE_PATH etc. pass through). Run from the project root after `make test` built .venv:
#
#   benchmarks/compare_peers.sh                     # service, naive, TorchServe b8, BentoML; 1 and 16 clients
#   ROUNDS=2 DURATION=15 benchmarks/compare_peers.sh
#   PEERS="service naive" benchmarks/compare_peers.sh
#
# Every other variable of compare.sh (CONCURRENCIES, DURATION, WARMUP, ROUNDS, RESULTS) applies. With the service
# among the peers it ends with the serving targets (python -m benchmarks peer-targets), kept in $RESULTS/targets.json.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESS="${HARNESS:-../shared/bench}"
PY="${PY:-.venv/bin/python}"
SCRATCH="${SCRATCH:-${TMPDIR:-/tmp}/precursor-bench}"
RUN_DIR="$SCRATCH/service-run"
STORE="${SERVICE_STORE:-$SCRATCH/service-store}"
PORT="${SERVICE_PORT:-8000}"
mkdir -p "$RUN_DIR"
"$PY" -m benchmarks peer-store --out "$STORE" >/dev/null

export PEERS="${PEERS:-service naive torchserve_b8 bentoml}"
export SERVICE_URL="http://127.0.0.1:$PORT/predict"
export SERVICE_READY_URL="http://127.0.0.1:$PORT/readyz"
export SERVICE_PID_FILE="$RUN_DIR/pid"
export SERVICE_START="PRECURSOR_MODEL_STORE='$STORE' PRECURSOR_MODELS='[]' PRECURSOR_LOG_LEVEL=WARNING nohup '$PY' -m app --host 127.0.0.1 --port $PORT >'$RUN_DIR/service.log' 2>&1 & echo \$! >'$SERVICE_PID_FILE'"
# wait for the process to exit: it drains for up to PRECURSOR_SHUTDOWN_TIMEOUT_S and holds the port meanwhile,
# so a next round started at once (rounds alternate the order) could not bind it
export SERVICE_STOP="pid=\$(cat '$SERVICE_PID_FILE'); kill \$pid; while kill -0 \$pid 2>/dev/null; do sleep 0.2; done"
export RESULTS="${RESULTS:-$SCRATCH/peers-results/${BACKBONE:-convnext_atto}-$(date +%Y%m%d-%H%M%S)}"
"$HARNESS/compare.sh" "$@"
# the serving targets of this run: the service against BentoML and naive, and against the in-process forward of
# the same model, measured right after (written to $RESULTS/targets.json)
case " $PEERS " in *" service "*) "$PY" -m benchmarks peer-targets --store "$STORE" --results "$RESULTS" ;; esac
