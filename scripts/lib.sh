# Shared by the scripts: the tool environment, and an idempotent installer of what is missing.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKER_BUILD_VERSION="0.8.7"
# The contract test (tests/contract.rs) runs these from a Python venv in target/schemathesis.
SCHEMATHESIS_VENV="$ROOT/target/schemathesis"
SCHEMATHESIS_PACKAGES="schemathesis==4.32.5 openapi-spec-validator==0.9.0"
# The wasm-bindgen CLI must equal the exact `wasm-bindgen = "=V"` pin in Cargo.toml.
WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml")"

# Where `cargo install` puts binaries: $CARGO_HOME/bin, ~/.cargo/bin when CARGO_HOME is unset
# (the official Rust images set CARGO_HOME=/usr/local/cargo). Installs below pass --root, so
# they land here even when CARGO_INSTALL_ROOT or cargo's install.root point elsewhere.
CARGO_ROOT="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$ROOT/node_modules/.bin:$CARGO_ROOT/bin:$PATH"
# worker-build would download these from GitHub; use the local ones instead.
export WASM_BINDGEN_BIN="$CARGO_ROOT/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
# Keep wrangler offline and quiet.
export WRANGLER_SEND_METRICS=false DO_NOT_TRACK=1 CLOUDFLARE_CF_FETCH_ENABLED=false \
  WRANGLER_HIDE_BANNER=true

say() { printf '==> %s\n' "$*" >&2; }

# Installs whatever is missing; a second run does nothing but check.
ensure_tools() {
  command -v cargo >/dev/null || { say "cargo not found: install Rust (https://rustup.rs)"; return 1; }
  command -v npm >/dev/null || { say "npm not found: install Node.js and npm"; return 1; }

  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! worker-build --version 2>/dev/null | grep -qw "$WORKER_BUILD_VERSION"; then
    say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
    cargo install worker-build --version "$WORKER_BUILD_VERSION" --force --root "$CARGO_ROOT"
  fi
  if ! "$WASM_BINDGEN_BIN" --version 2>/dev/null | grep -qw "$WASM_BINDGEN_VERSION"; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force --root "$CARGO_ROOT"
  fi
  # npm ci when node_modules is missing or older than the lock file.
  if [ ! -f "$ROOT/node_modules/.package-lock.json" ] \
    || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    say "installing npm packages (wrangler, Node 22, binaryen, esbuild, playwright-core)"
    (cd "$ROOT" && npm ci --no-audit --no-fund)
  fi
}

# Installs Debian packages (as root, or with sudo).
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "$* missing and sudo is not available: install them with apt"; return 1; }
    sudo="sudo"
  fi
  say "installing $* (apt, once)"
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# The browser end-to-end test drives Debian's Chromium (playwright-core brings no browser).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  apt_install chromium
}

# The contract test checks the live worker against static/openapi.json with schemathesis, in
# a venv of its own (target/schemathesis); a stamp names the packages it was made with.
ensure_schemathesis() {
  local venv="$SCHEMATHESIS_VENV"
  if "$venv/bin/python" -c '' 2>/dev/null \
    && [ "$(cat "$venv/.installed" 2>/dev/null)" = "$SCHEMATHESIS_PACKAGES" ]; then
    return 0
  fi
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv
  fi
  say "installing $SCHEMATHESIS_PACKAGES (pip, into target/schemathesis, once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # one word per package
  "$venv/bin/pip" install --quiet --disable-pip-version-check $SCHEMATHESIS_PACKAGES
  printf '%s' "$SCHEMATHESIS_PACKAGES" >"$venv/.installed"
}

# Tencent's Python SDK signer for the stub of Tencent's API (tests/support/tencent_stub.py), in
# a venv under target/: it checks the worker's TC3 signatures with Tencent's own code.
TENCENT_SDK_VERSION="3.1.195"
TENCENT_VENV="$ROOT/target/py-venv"
ensure_tencent_sdk() {
  local python="$TENCENT_VENV/bin/python"
  if "$python" -c "import importlib.metadata as m, tencentcloud.common.sign; \
      assert m.version('tencentcloud-sdk-python-common') == '$TENCENT_SDK_VERSION'" 2>/dev/null; then
    return 0
  fi
  command -v python3 >/dev/null || { say "python3 not found: install Python 3 with venv"; return 1; }
  say "installing tencentcloud-sdk-python-common $TENCENT_SDK_VERSION into target/py-venv (once)"
  python3 -m venv "$TENCENT_VENV" || { say "python3 -m venv failed: install the python3-venv package"; return 1; }
  "$python" -m pip install --quiet --disable-pip-version-check \
    "tencentcloud-sdk-python-common==$TENCENT_SDK_VERSION"
}

# The wasm features worker-build 0.8.7 enables for its own wasm-opt run (rustc's defaults for
# wasm32-unknown-unknown plus exception handling), so this pass emits nothing workerd lacks.
WASM_FEATURES=(--enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling)

# Builds the worker into build/ (what wrangler.toml's [build] runs too). worker-build 0.8.7
# forces `--debuginfo` on its wasm-opt run, which keeps the `name` section (~150 KB raw); by
# the time it is done wasm-bindgen has run and nothing reads names, so a second pass drops
# them and the producers section, and optimises for size once more (figures: README,
# "Benchmarks").
build_worker() {
  (cd "$ROOT" && worker-build --release) || return
  strip_wasm "$ROOT/build/index_bg.wasm"
}

# build_worker's second wasm-opt pass, on one wasm file in place.
strip_wasm() {
  "$WASM_OPT_BIN" "$1" "${WASM_FEATURES[@]}" -Oz --strip-debug --strip-producers \
    -o "$1.tmp" && mv "$1.tmp" "$1"
}

# Builds benches/floor (the platform floor of the worker's size) the way build_worker builds
# the worker, into benches/floor/build/.
build_floor() {
  (cd "$ROOT/benches/floor" && CARGO_TARGET_DIR="$ROOT/target/floor" worker-build --release) \
    || return
  strip_wasm "$ROOT/benches/floor/build/index_bg.wasm"
}
