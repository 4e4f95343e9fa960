#!/usr/bin/env bash
# Runs every test: formatting and lints, native unit and property tests, the client's types
# (tsc), then end-to-end tests against the real local runtime (wrangler dev + workerd + local
# KV), a real origin server, headless Chromium, schemathesis against static/openapi.json, and
# an offline `wrangler deploy --dry-run`.
# Installs what is missing first (idempotent).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_schemathesis
ensure_chromium
ensure_tencent_sdk
cd "$ROOT"

say "cargo fmt --check"
cargo fmt --check
say "cargo clippy (native and wasm32)"
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --lib -- -D warnings

say "tsc: static/client.d.ts against tests/types/usage.ts"
tsc --noEmit -p tests/types

say "building the worker"
build_worker

say "cargo test (unit, property and end-to-end)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test -- --test-threads "${TEST_THREADS:-3}" 2>&1 | tee "$log"
# One total over every test binary (unit, property, end-to-end, browser, contract, ops, setup).
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
