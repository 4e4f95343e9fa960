#!/usr/bin/env bash
# Prints figures, asserts nothing about speed: the bundle size, native speed of the pure core
# (benches/core.rs), then load on the real local runtime (tests/bench_e2e.rs: wrangler dev,
# loopback only), including each path under `wrk` next to a no-op worker (bench/noop.js) with
# CPU per request and storage operations per request. Installs what is missing (wrk: apt) and
# builds the worker first. BENCH_SECONDS sets each wrk run's length (default 10). About 4
# minutes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
cd "$ROOT"

if ! command -v wrk >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing wrk (apt, once)"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk
fi

say "building the worker"
build_worker

# Bytes of a file as stored and after gzip -9 (roughly what the upload limit counts).
sizes() {
  printf '%-24s %10d bytes raw %10d bytes gzip -9\n' \
    "$1" "$(wc -c <"$1")" "$(gzip -9 -c "$1" | wc -c)"
}
say "bundle size"
sizes build/index_bg.wasm
sizes build/index.js
sizes build/worker/shim.mjs

say "native core (cargo bench --bench core)"
cargo bench --bench core

say "end to end on wrangler dev (tests/bench_e2e.rs)"
# One test at a time: they would load each other's figures.
cargo test --release --test bench_e2e -- --ignored --nocapture --test-threads 1
