from __future__ import annotations

import math
import re

import numpy as np
from numba import njit

from aers_host.dsp._vecmath import exp, ln, sin_turns


@njit(cache=False)
def _ln_all(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        out[i] = ln(x[i])


@njit(cache=False)
def _exp_all(y: np.ndarray, out: np.ndarray) -> None:
    for i in range(y.shape[0]):
        out[i] = exp(y[i])


@njit(cache=False)
def _sin_all(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        out[i] = sin_turns(x[i])


def test_ln_matches_math_log() -> None:
    x = np.exp(np.random.default_rng(0).uniform(-700.0, 700.0, 200_000))
    edges = [1.0, 2.0, 0.5, math.sqrt(2.0), math.sqrt(0.5), 1e-300, 1e300,
             np.nextafter(1.0, 2.0), np.nextafter(1.0, 0.0), np.nextafter(math.sqrt(2.0), 0.0)]
    x = np.concatenate([x, edges])
    out = np.empty_like(x)
    _ln_all(x, out)
    assert np.max(np.abs(out - np.log(x))) < 1e-12
    assert ln(1.0) == 0.0


def test_exp_matches_math_exp() -> None:
    y = np.concatenate([np.random.default_rng(1).uniform(-700.0, 700.0, 200_000),
                        [0.0, 1.0, -1.0, math.log(2.0), -math.log(2.0) / 2, 1e-17]])
    out = np.empty_like(y)
    _exp_all(y, out)
    err = np.abs(out / np.exp(y) - 1.0)
    assert err.max() < 1e-13
    assert err[np.abs(y) < 50.0].max() < 1e-14  # the range gain computers use
    assert exp(0.0) == 1.0


def test_sin_turns_matches_sin() -> None:
    x = np.concatenate([np.random.default_rng(2).uniform(-1e6, 1e6, 100_000),
                        np.random.default_rng(3).uniform(0.0, 1.0, 100_000),
                        np.arange(-16, 17) / 8.0, [1e-300, -1e-300, np.nextafter(1.0, 0.0)]])
    out = np.empty_like(x)
    _sin_all(x, out)
    # reference on the same reduced argument: 2πx itself rounds badly for large x
    ref = np.sin(2.0 * np.pi * (x - np.floor(x)))
    assert np.max(np.abs(out - ref)) < 1e-14
    assert sin_turns(0.0) == 0.0 and sin_turns(0.25) == 1.0 and sin_turns(0.75) == -1.0


def test_loops_using_them_vectorise() -> None:
    """The point of the module: no libm call, packed double arithmetic in the loop."""
    x = np.linspace(0.1, 10.0, 64)
    out = np.empty_like(x)
    for fn in (_ln_all, _exp_all, _sin_all):
        fn(x, out)
        asm = next(iter(fn.inspect_asm().values()))
        assert re.search(r"v(mul|add|fmadd\w*)pd\s[^\n]*[yz]mm", asm), fn
