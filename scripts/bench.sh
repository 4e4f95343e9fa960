#!/usr/bin/env bash
# Prints figures, asserts nothing about speed: the bundle size, native speed of the pure core
# (benches/core.rs), its hostile bodies in wasm (benches/wasm), then load on the real local
# runtime (tests/bench_e2e.rs: wrangler dev, loopback only). Installs what is missing and
# builds the worker first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
cd "$ROOT"

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

say "hostile bodies in wasm, timed by V8 under Node (benches/wasm)"
# Built with the worker's own opt-level (this Cargo.toml's release profile).
opt_level="$(sed -n '/^\[profile.release\]/,/^\[/s/^opt-level = //p' Cargo.toml)"
(cd benches/wasm && cargo build --release --target wasm32-unknown-unknown \
  --target-dir "$ROOT/target" --config "profile.release.opt-level=$opt_level")
node benches/wasm/run.mjs target/wasm32-unknown-unknown/release/tiw_push_edge_wasm_bench.wasm

say "end to end on wrangler dev (tests/bench_e2e.rs)"
cargo test --release --test bench_e2e -- --ignored --nocapture
