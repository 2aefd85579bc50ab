"""Integration with Debian's ``lsp-plugins-lv2``: adopt, sign, install, render, compare.

An LSP compressor then an LSP 16-band parametric EQ, each in its own fenced worker, must
change the level as a compressor does, give the same audio at 128- and 512-frame blocks,
and match ``lv2apply`` (lilv's reference host, which runs plugins one frame at a time) on
the same input and control values within float32 rounding.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from sandbox._graphs import with_plugins

from aers_host.plugins import VerifiedPlugin

from .conftest import LSP, LSP_BUNDLE, Signer, needs_lilv, needs_lsp, needs_lv2apply
from .test_hosting import PATIENT, _config, _render

pytestmark = [needs_lilv, needs_lsp, pytest.mark.slow]
COMP = {"al": 0.1, "cr": 8.0, "at": 5.0, "rt": 50.0}  # -20 dB threshold, 8:1
EQ = {"ft_0": 1.0, "f_0": 1000.0, "g_0": 4.0, "q_0": 2.0}  # a +12 dB bell at 1 kHz
#: Float32 rounding: the hosts differ only in how the samples are split into runs.
ROUNDING = 2e-6


@pytest.fixture(scope="module")
def lsp(signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, VerifiedPlugin]:
    """The compressor and the EQ adopted, signed and installed into a private store."""
    root = tmp_path_factory.mktemp("lsp")
    store = signer.store(root / "store")
    adopted = {}
    for name, uri in (("lsp-comp", "compressor_stereo"), ("lsp-eq", "para_equalizer_x16_stereo")):
        folder = signer.adopt(LSP_BUNDLE, LSP + uri, name, root / name)
        adopted[name] = store.install(folder)
    return adopted


def _chain(lsp: dict[str, VerifiedPlugin], block: int) -> tuple[np.ndarray, np.ndarray]:
    reg = with_plugins(*lsp.values())
    dry, _ = _render(_config({}, [("src", "out")], block, reg), reg, 12 * 512 // block)
    nodes: dict[str, Any] = {
        "comp": {"type": "lsp-comp", "params": COMP, **PATIENT},
        "eq": {"type": "lsp-eq", "params": EQ, **PATIENT},
    }
    edges = [("src", "comp"), ("comp", "eq"), ("eq", "out")]
    wet, latency = _render(_config(nodes, edges, block, reg), reg, 12 * 512 // block)
    assert latency == 0
    return dry, wet


def test_lsp_chain_in_workers_compresses_and_is_block_size_invariant(
    lsp: dict[str, VerifiedPlugin],
):
    dry, wet = _chain(lsp, 512)
    _, small = _chain(lsp, 128)
    rms = lambda x: 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert rms(wet) < rms(dry) - 3.0  # an 8:1 compressor 14 dB above threshold
    np.testing.assert_allclose(small, wet, rtol=0, atol=ROUNDING)


@needs_lv2apply
def test_lsp_chain_matches_lv2apply(lsp: dict[str, VerifiedPlugin], tmp_path: Path):
    dry, wet = _chain(lsp, 256)
    sf.write(tmp_path / "in.wav", dry, 48_000, subtype="FLOAT")
    source = tmp_path / "in.wav"
    for step, (uri, controls) in enumerate((("compressor_stereo", COMP),
                                            ("para_equalizer_x16_stereo", EQ))):  # fmt: skip
        target = tmp_path / f"step{step}.wav"
        args = ["lv2apply", "-i", str(source), "-o", str(target)]
        for symbol, value in controls.items():
            args += ["-c", symbol, repr(value)]
        subprocess.run([*args, LSP + uri], check=True, capture_output=True, timeout=300)
        source = target
    reference = sf.read(source, dtype="float32")[0]
    assert np.abs(reference).max() > 0.01
    np.testing.assert_allclose(wet, reference, rtol=0, atol=ROUNDING)
