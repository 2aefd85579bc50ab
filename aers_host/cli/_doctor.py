"""``aers doctor``: what this machine gives AERS, and warming the JIT cache at setup."""

from __future__ import annotations

import platform
import shutil
import time
from typing import Annotated

import typer
from rich.table import Table

from ._app import app, out_console, print_json


def warm_kernels() -> float:
    """Compile every numba kernel once (cached on disk); return the seconds it took."""
    from .. import metrics
    from .._builtins import BUILTIN_TYPES
    from ..dsp import warm_kernels as warm_node_types
    from ..graph import _kernels

    t0 = time.perf_counter()
    _kernels.warm()
    warm_node_types(BUILTIN_TYPES)
    metrics.warm_kernels()
    return time.perf_counter() - t0


def _checks() -> dict[str, str]:
    import ctypes.util

    import numba
    import numpy

    from .._denormals import flush_supported

    checks = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "c++ compiler": shutil.which("g++") or "missing: native plugins cannot be built",
        "lilv (LV2)": ctypes.util.find_library("lilv-0")
        or "missing: apt-get install liblilv-0-0 to adopt and discover LV2 plugins",
        "denormals": "flushed to zero per block (FTZ/DAZ)"
        if flush_supported()
        else f"left to the CPU ({platform.machine()}: no FTZ switch here)",
    }
    try:
        from ..sandbox import probe_fences
    except ImportError:
        checks["sandbox"] = "not available in this build"
    else:
        for fence, status in probe_fences().items():
            checks[f"sandbox {fence}"] = status
    from .._extras import EXTRAS, missing_modules

    for extra in EXTRAS:
        gone = missing_modules(extra)
        checks[f"extra {extra}"] = (
            f"missing {', '.join(gone)}: pip install 'aers-host[{extra}]'" if gone else "installed"
        )
    from ..device import probe_jack

    checks.update(probe_jack())
    from .._paths import config_dir, data_dir

    checks["keyring dir"] = str(config_dir())
    checks["plugin store"] = str(data_dir())
    return checks


@app.command()
def doctor(
    warm: Annotated[
        bool, typer.Option("--warm", help="Compile the DSP kernels into the cache.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warm; print nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Report what this machine offers (sandbox fences, compilers, paths); --warm the JIT."""
    seconds = warm_kernels() if warm else None
    if quiet:
        return
    checks = _checks()
    if seconds is not None:
        checks["kernel warm-up"] = f"{seconds:.2f} s"
    if as_json:
        print_json(checks)
        return
    table = Table(title="aers doctor", show_header=False)
    for name, status in checks.items():
        table.add_row(name, status)
    out_console.print(table)
