#!/usr/bin/env bash
# Prints figures, asserts nothing about speed: the bundle size, native speed of the pure core
# (benches/core.rs), its hostile bodies in wasm (benches/wasm), then load on the real local
# runtime (tests/bench_e2e.rs: wrangler dev, loopback only), including each path under `wrk`
# next to a no-op worker (bench/noop.js) with CPU per request and storage operations per
# request. Installs what is missing (wrk: apt) and builds the worker first. BENCH_SECONDS sets
# each wrk run's length (default 10). About 5 minutes.
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

say "platform floor: every binding kind the worker uses, with the least logic (benches/floor)"
build_floor >"$ROOT/target/floor-build.log" 2>&1 || { cat "$ROOT/target/floor-build.log"; exit 1; }
sizes benches/floor/build/index_bg.wasm
echo "the worker's own logic: $(( $(gzip -9 -c build/index_bg.wasm | wc -c) \
  - $(gzip -9 -c benches/floor/build/index_bg.wasm | wc -c) )) bytes gzip -9 over the floor"

say "native core (cargo bench --bench core)"
cargo bench --bench core

say "hostile bodies in wasm, timed by V8 under Node (benches/wasm)"
# Built with the worker's own opt-level (this Cargo.toml's release profile).
opt_level="$(sed -n '/^\[profile.release\]/,/^\[/s/^opt-level = //p' Cargo.toml)"
(cd benches/wasm && cargo build --release --target wasm32-unknown-unknown \
  --target-dir "$ROOT/target" --config "profile.release.opt-level=$opt_level")
node benches/wasm/run.mjs target/wasm32-unknown-unknown/release/tiw_push_edge_wasm_bench.wasm

say "end to end on wrangler dev (tests/bench_e2e.rs)"
# One test at a time: they would load each other's figures.
cargo test --release --test bench_e2e -- --ignored --nocapture --test-threads 1
