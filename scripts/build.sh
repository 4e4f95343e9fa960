#!/usr/bin/env bash
# Builds the worker into build/; wrangler.toml's [build] command.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_worker
