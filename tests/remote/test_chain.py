"""Chains are validated like configs and run like the engine; the package surface imports."""

from __future__ import annotations

import numpy as np
import pytest
from graphs import Registry

import aers_host.remote as remote_pkg
from aers_host.remote import Chain, ChainError


def test_every_public_name_imports() -> None:
    for name in remote_pkg.__all__:
        assert getattr(remote_pkg, name) is not None


def test_chain_runs_stages_in_order_and_sums_latency(registry: Registry) -> None:
    chain = Chain.build(
        [{"type": "gain", "params": {"gain_db": -6, "smoothing_ms": 0}},
         {"type": "limiter", "params": {"lookahead_ms": 1}}],
        registry, 48000, 64, 2,
    )  # fmt: skip
    assert chain.latency_samples == 48 and chain.channels_out == 2
    out = chain.process(np.full((2, 64), 0.1, np.float32), 0)
    assert out.shape == (2, 64)
    chain.close()


def test_empty_chain_is_identity(registry: Registry) -> None:
    chain = Chain.build([], registry, 48000, 64, 1)
    block = np.arange(64, dtype=np.float32).reshape(1, 64)
    assert np.array_equal(chain.process(block, 0), block)


@pytest.mark.security
@pytest.mark.parametrize(
    ("chain", "why"),
    [
        ("gain", "must be a list"),
        ([{"type": "nope"}], "'nope' is not available here"),
        ([{"type": "sine"}], "is a source, not a processor"),
        ([{"type": "output"}], "is a sink"),
        ([{"type": "remote"}], "cannot contain another remote"),
        ([{"type": "gain", "params": {"gain_db": 1000}}], "chain.0.params.gain_db"),
        ([{"type": "gain", "params": {"bogus": 1}}], "unknown key 'bogus'"),
        ([{"type": "gain", "extra": 1}], "unknown keys"),
        ([{"type": "gain"}] * 40, "over the limit"),
    ],
)
def test_bad_chains_are_refused_with_every_reason(
    registry: Registry, chain: object, why: str
) -> None:
    with pytest.raises(ChainError, match=why):
        Chain.build(chain, registry, 48000, 64, 2)


def test_a_stage_that_overflows_never_sends_a_non_finite_result(registry: Registry) -> None:
    chain = Chain.build(
        [{"type": "gain", "params": {"gain_db": 12, "smoothing_ms": 0}}], registry, 48000, 64, 2
    )
    huge = np.full((2, 64), 3e38, np.float32)  # finite; four times that is not
    out = chain.process(huge, 0)
    assert np.isfinite(out).all() and chain.nonfinite_blocks == 1
    np.testing.assert_array_equal(out, huge)  # the stage's input: its bypass
    after = chain.process(np.full((2, 64), 0.25, np.float32), 64)  # back to normal
    np.testing.assert_allclose(after, 0.25 * 10 ** (12 / 20), rtol=1e-6)
    assert chain.nonfinite_blocks == 1
