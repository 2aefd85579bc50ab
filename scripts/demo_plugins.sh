#!/usr/bin/env bash
# Sign and install the example plugins so the demo graph can use them (idempotent).
#
# Needs `aers` on PATH (scripts/run_simulation.sh sets that up). Uses $AERS_HOME when set,
# else .aers-home/ in the repository, so the demo never touches your real keyring. A local
# demo key is generated on first run (private part under $AERS_HOME/keys, never in keys/),
# trusted for `all`, and used to sign every example in manifests/ from a scratch copy.
# Re-running re-signs and re-installs: the same version with the same files is accepted,
# a newer version upgrades, an older one is refused (rollback).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AERS_HOME="${AERS_HOME:-$ROOT/.aers-home}"
KEY_DIR="$AERS_HOME/keys"
KEY="$KEY_DIR/aers-demo.key.pem"
PUB="$KEY_DIR/aers-demo.pub.pem"

if [ ! -f "$KEY" ]; then
    echo "==> generating the local demo signing key in $KEY_DIR" >&2
    aers keys generate aers-demo --out "$KEY_DIR" >/dev/null
fi
# Trusting again is harmless (same key id, same scope), so this stays idempotent.
aers keys trust "$PUB" --scope all --name aers-demo >/dev/null

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for source in "$ROOT"/manifests/*.json; do
    name="$(basename "$source" .json)"
    if [ ! -d "$ROOT/plugins/$name" ]; then
        echo "==> skipping $name: no plugins/$name folder" >&2
        continue
    fi
    dir="$WORK/$name"
    # Copy the sources only: build products and caches are made fresh below.
    mkdir -p "$dir"
    (cd "$ROOT/plugins/$name" && find . -type f ! -path '*/__pycache__/*' ! -name '*.so' \
        ! -name '.*' -exec cp --parents {} "$dir/" \;)
    cp "$source" "$dir/manifest.in.json"
    if grep -q '"kind": *"native"' "$source"; then
        echo "==> building $name" >&2
        aers plugin build "$dir" >/dev/null
    fi
    aers plugin sign "$dir" --key "$KEY"
    aers plugin install "$dir"
done
aers plugin list
