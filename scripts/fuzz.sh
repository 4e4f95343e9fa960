#!/usr/bin/env bash
# Coverage-guided fuzzing of the pure core (fuzz/, libFuzzer through cargo-fuzz), on stable
# Rust: with `--sanitizer none` cargo-fuzz passes rustc only stable `-C` flags (SanitizerCoverage
# instrumentation, `--cfg fuzzing`, debug assertions), so neither nightly nor RUSTC_BOOTSTRAP
# is needed. Installs cargo-fuzz once (into CARGO_HOME), then runs each target in turn.
#
#   scripts/fuzz.sh                      every target, FUZZ_SECONDS (default 30) each
#   scripts/fuzz.sh callback merge       only these targets
#   FUZZ_SECONDS=600 nice -n 10 scripts/fuzz.sh    the long run (10 minutes per target)
#
# Seeds come from fuzz/corpus/<target>/ (checked in, never written); what libFuzzer finds
# grows fuzz/target/corpus/<target>/ and is reused by the next run. A crash leaves its input in
# fuzz/artifacts/<target>/ (replay: cargo fuzz run --sanitizer none <target> <file>), and
# the script ends non-zero after running the other targets. Logs: fuzz/target/logs/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cd "$ROOT/fuzz"

CARGO_FUZZ_VERSION="0.13.2"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
TARGETS=(callback merge stored_room request_parsers tencent_answer replay)
[ "$#" -gt 0 ] && TARGETS=("$@")

if ! cargo fuzz --version 2>/dev/null | grep -qw "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (a few minutes, once)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# Per target: the largest input worth trying (a callback body may be 64 KiB) and a
# dictionary of the format's names.
options() {
  case "$1" in
    callback) echo "-max_len=65536 -dict=dictionaries/callback.dict" ;;
    stored_room) echo "-max_len=16384 -dict=dictionaries/stored_room.dict" ;;
    tencent_answer) echo "-max_len=16384 -dict=dictionaries/tencent_answer.dict" ;;
    replay) echo "-max_len=8192 -dict=dictionaries/replay.dict" ;;
    *) echo "-max_len=4096" ;;
  esac
}

say "building the fuzz targets ($(rustc --version))"
cargo fuzz build --sanitizer none

mkdir -p target/logs
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  say "fuzzing $target for ${SECONDS_EACH}s"
  mkdir -p "target/corpus/$target" "corpus/$target"
  log="target/logs/$target.log"
  # -rss_limit_mb bounds the whole process and -timeout one input. One allocation is capped
  # at 16 MiB by fuzz/src/lib.rs (-malloc_limit_mb says the same, but libFuzzer enforces it
  # only under a sanitizer, which hooks malloc).
  # shellcheck disable=SC2046
  if cargo fuzz run --sanitizer none "$target" "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 -malloc_limit_mb=16 -timeout=10 \
    -print_final_stats=1 $(options "$target") >"$log" 2>&1; then
    status="ok"
  else
    status="FAILED (see fuzz/$log and fuzz/artifacts/$target/)"
    failed+=("$target")
  fi
  last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")"
  summary+=("$(printf '%-16s %6ss %12s execs  cov %6s  ft %6s  corpus %-12s peak rss %s MB  %s' \
    "$target" "$SECONDS_EACH" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$status")")
done

say "summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  say "failed: ${failed[*]}"
  exit 1
fi
