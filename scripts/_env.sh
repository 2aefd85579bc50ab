# Shared setup for scripts/run_simulation.sh and scripts/test.sh (sourced, not run).
# Creates .venv on first use and re-installs the package only when pyproject.toml changed,
# so both scripts are idempotent and fast on a second run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${AERS_PYTHON:-$(command -v python3.11 || command -v python3)}"

aers_setup_venv() {
    local extras="${1:-dev}"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "==> creating $VENV with $PYTHON_BIN" >&2
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    local stamp="$VENV/.aers-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing aers-host[$extras] into $VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$extras]" >&2
        touch "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
    # Compile the numba kernels once so the first render does not pay the JIT.
    "$VENV/bin/aers" doctor --warm --quiet >&2
}
