#!/usr/bin/env bash
# Runs the worker locally on wrangler's local runtime (workerd) with local KV: no Cloudflare
# account needed. Installs what is missing first. `PORT=8788 bash scripts/dev.sh` serves on
# another port; extra arguments go to `wrangler dev` (e.g. --log-level debug).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
cd "$ROOT"
if [ ! -f .dev.vars ]; then
  cp .dev.vars.example .dev.vars
  say "created .dev.vars from .dev.vars.example (local secrets; never committed)"
fi
exec wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to .wrangler/state "$@"
