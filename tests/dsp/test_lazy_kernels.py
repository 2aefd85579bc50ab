"""Kernels compile on first use: importing node types costs no numba, running them is exact."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from aers_host._jit import LazyKernel, kernel_from, lazy_njit
from aers_host._processor import compiled


@lazy_njit(cache=False)
def _square(x: float) -> float:
    return x * x


@lazy_njit(cache=False)
def _sum_of_squares(values: np.ndarray) -> float:  # calls another lazy kernel, compiled
    total = 0.0
    for v in values:
        total += _square(v)
    return total


_hypot = kernel_from("math", "hypot")  # a plain function: numba compiles math.hypot itself


def test_a_kernel_calls_a_lazy_kernel_and_gets_the_exact_result() -> None:
    values = np.array([0.5, -2.0, 3.25])
    assert _sum_of_squares(values) == 0.25 + 4.0 + 10.5625


def test_compiled_entry_point_is_numbas_not_the_proxy() -> None:
    @lazy_njit(cache=False)
    def scale(buf: np.ndarray, gain: float) -> None:
        for i in range(buf.shape[0]):
            buf[i] *= gain

    assert isinstance(scale, LazyKernel) and not scale.materialized
    buf = np.ones(4)
    run = compiled(scale, buf, 0.5)
    assert not isinstance(run, LazyKernel)
    run(buf, 0.5)
    assert buf.tolist() == [0.5] * 4


def test_importing_every_node_type_imports_no_numba_and_first_use_rebinds_the_kernel() -> None:
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from aers_host import dsp, events, graph, remote
        from aers_host import default_registry
        registry = default_registry(entry_points=False, store=False)
        assert {"sine", "eq", "duck", "events", "remote", "output"} <= set(registry)
        assert "numba" not in sys.modules and "scipy" not in sys.modules
        from aers_host.events import _nodes
        assert type(_nodes._duck_kernel).__name__ == "LazyKernel"
        duck = _nodes.Duck()
        duck.prepare(48000, 64, 1)
        duck.set_sidechain(np.zeros((1, 64), np.float32))
        out = np.zeros((1, 64), np.float32)
        duck.process(np.ones((1, 64), np.float32), out, 0, ())
        assert "numba" in sys.modules
        assert type(_nodes._duck_kernel).__name__ == "CPUDispatcher"  # no proxy on the hot path
        print(float(out[0, 0]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == 1.0  # silent side-chain: the main input passes at unity gain


def test_kernel_from_resolves_the_named_function_on_first_use() -> None:
    assert not _hypot.materialized
    assert _hypot(3.0, 4.0) == 5.0
    assert _hypot.materialized
