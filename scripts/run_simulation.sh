#!/usr/bin/env bash
# Set up .venv (idempotent) and render the demo scene into out/ with a report.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
aers_setup_venv dev
cd "$ROOT"
# The demo keeps its key, keyring and plugin store inside the checkout, never in yours.
export AERS_HOME="${AERS_HOME:-$ROOT/.aers-home}"

"$ROOT/scripts/demo_plugins.sh"
aers validate examples/demo.yaml
aers graph examples/demo.yaml
aers render examples/demo.yaml --out-dir out --report
echo "==> done: audio, metrics.json and the report are in $ROOT/out" >&2
