#!/usr/bin/env bash
# Set up .venv (idempotent) and run lint, the security scan and the whole test suite with coverage.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
aers_setup_venv dev
cd "$ROOT"

echo "==> ruff (style + bandit-equivalent S rules)" >&2
ruff check aers_host tests benchmarks scripts plugins
echo "==> mypy" >&2
mypy
# The dashboard's browser tests drive Debian's Chromium (never a downloaded browser). As
# root this script installs it system-wide with apt-get, and says so first; without root,
# or with AERS_NO_CHROMIUM=1, it changes nothing and those tests skip, naming the reason.
if [ -x /usr/bin/chromium ]; then
    echo "==> browser tests: using /usr/bin/chromium" >&2
elif [ "$(id -u)" = 0 ] && [ -z "${AERS_NO_CHROMIUM:-}" ]; then
    echo "==> browser tests: installing Debian's chromium package system-wide" \
         "(apt-get install chromium; AERS_NO_CHROMIUM=1 skips this)" >&2
    apt-get install -y -q chromium >/dev/null || {
        apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
    } || echo "==> browser tests: chromium could not be installed; they will be skipped" >&2
else
    echo "==> browser tests: no /usr/bin/chromium (install Debian's chromium as root to run" \
         "them); they will be skipped" >&2
fi
# The LV2 tests use Debian's lilv (Turtle), LV2 headers, LSP plugins and lv2apply (reference).
if [ ! -x /usr/bin/lv2apply ] || [ ! -d /usr/lib/lv2/lsp-plugins.lv2 ] || [ ! -f /usr/include/lv2/core/lv2.h ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "==> installing Debian's liblilv-0-0 lv2-dev lilv-utils lsp-plugins-lv2 for the LV2 tests" >&2
        pkgs="liblilv-0-0 liblilv-dev lv2-dev lilv-utils lsp-plugins-lv2"
        (DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs >/dev/null; })
    else
        echo "==> LV2 packages missing and not root: the LV2 tests will skip, naming the package" >&2
    fi
fi
# The JACK tests run a private jackd (dummy backend); without it they skip and say why.
if ! command -v jackd >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "==> installing Debian's jackd2 for the JACK tests" >&2
        (DEBIAN_FRONTEND=noninteractive apt-get install -y -q jackd2 >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q jackd2 >/dev/null; })
    else
        echo "==> jackd missing and not root: the JACK tests will skip (apt install jackd2)" >&2
    fi
fi
echo "==> pytest with coverage" >&2
rm -f .coverage .coverage.*
python -m pytest --cov --cov-report=term --cov-fail-under=80 "$@"
