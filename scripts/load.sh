#!/usr/bin/env bash
# The long form of tests/load_faults.rs: many rooms of random callback histories, shuffled,
# concurrent and re-sent by a Tencent-like sender, queued delivery to a loopback origin that
# fails some deliveries, and the local runtime killed and restarted (abrupt, then after the
# delivery queue drained, alternately). Fails when a room differs from the core's merge of
# the accepted events or an accepted event never reaches the origin; prints the figures
# (throughput, answers by code, retries, dropped and lost events, duplicates, wall time).
#
# Knobs, with this script's defaults (the suite's short form: 200 rooms, 4 events, 2 restarts):
#   LOAD_ROOMS=500 LOAD_EVENTS=8 LOAD_CONCURRENCY=8 LOAD_RESTARTS=2 LOAD_REDELIVER_PERCENT=20
#   LOAD_RETRY_MS=500 LOAD_ORIGIN_FAIL_PERCENT=10 LOAD_SEED=<random; printed, to replay a run>
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
cd "$ROOT"

export LOAD_ROOMS="${LOAD_ROOMS:-500}" LOAD_EVENTS="${LOAD_EVENTS:-8}" \
  LOAD_RESTARTS="${LOAD_RESTARTS:-2}"

say "building the worker"
build_worker

say "load with faults: $LOAD_ROOMS rooms x $LOAD_EVENTS events, $LOAD_RESTARTS restart(s)"
cargo test --release --test load_faults -- --nocapture --test-threads 1
