"""The Python face: graphs in code, round trips, in-memory renders, streaming, automation."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from graphs import Registry

import aers_host
from aers_host import ConfigError, Graph, render
from aers_host.dsp import Gain, Pan


def dc_gain_graph(registry: Registry, block: int = 512) -> tuple[Graph, str]:
    g = Graph(sample_rate=48000, block_size=block, registry=registry)
    dc = g.add("impulse", every=1, channels=1)
    gain = g.add("gain", id="g", gain_db=0, smoothing_ms=0)
    out = g.add("output", id="main")
    g.connect(dc, gain)
    g.connect(gain, out)
    return g, gain


def test_every_public_name_imports() -> None:
    for name in aers_host.__all__:
        assert getattr(aers_host, name) is not None


def test_add_refuses_unknown_type_and_bad_params_at_once(registry: Registry) -> None:
    g = Graph(registry=registry)
    with pytest.raises(
        ConfigError, match=r"unknown node type 'revreb' \(did you mean 'reverb'\?\)"
    ):
        g.add("revreb")
    with pytest.raises(ConfigError, match=r"nodes\.sine1\.params\.frq: unknown key 'frq'"):
        g.add("sine", frq=440)
    with pytest.raises(
        ConfigError, match=r"nodes\.gain1\.params\.gain_db: must be a finite number"
    ):
        g.add("gain", gain_db=float("nan"))
    with pytest.raises(ConfigError, match="missing node 'nope'"):
        g.connect("nope", g.add("gain"))


def test_yaml_and_json_round_trip_is_equal(registry: Registry, tmp_path: Path) -> None:
    g, _ = dc_gain_graph(registry)
    g.automate("g", "gain_db", [[0, 0], [0.01, -6, "linear"]])
    for name in ("graph.yaml", "graph.json"):
        g.save(tmp_path / name)
        again = Graph.load(tmp_path / name, registry=registry)
        assert again.to_dict() == g.to_dict()
    assert render(Graph.load(tmp_path / "graph.yaml", registry=registry), 0.02)["main"].shape == (
        1,
        960,
    )


def test_render_returns_arrays_and_writes_nothing(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    g, _ = dc_gain_graph(registry)
    audio = render(g, 0.1)
    assert set(audio) == {"main"} and audio["main"].dtype == np.float32
    assert audio["main"].shape == (1, 4800) and np.all(audio["main"] == 1.0)
    assert list(tmp_path.iterdir()) == []


def test_streaming_process_matches_render(registry: Registry) -> None:
    g = Graph(block_size=256, registry=registry)
    inp = g.add("input", channels=2)
    eq = g.add("eq", bands=[{"type": "lowpass", "freq": 2000, "q": 0.707}])
    g.connect(inp, eq)
    g.connect(eq, g.add("output", id="out"))
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((2, 1024)).astype(np.float32)
    streamed = np.concatenate(
        [g.process(signal[:, i : i + 256])["out"] for i in range(0, 1024, 256)], axis=1
    )
    g.close()
    from scipy import signal as sps

    from aers_host.dsp import rbj_sos

    sos = rbj_sos({"type": "lowpass", "freq": 2000, "q": 0.707}, 48000)
    assert np.abs(streamed - sps.sosfilt(sos, signal, axis=1)).max() < 1e-5


def test_streaming_feeds_the_named_input_and_refuses_ambiguity(registry: Registry) -> None:
    g = Graph(block_size=64, registry=registry)
    left, right = g.add("input", id="left", channels=1), g.add("input", id="right", channels=1)
    g.connect(left, g.add("output", id="a"))
    g.connect(right, g.add("gain", id="g", gain_db=-6.0206, smoothing_ms=0))
    g.connect("g", g.add("output", id="b"))
    ones = np.ones((1, 64), np.float32)
    with pytest.raises(ValueError, match="2 input nodes; name one with input="):
        g.process(ones)
    with pytest.raises(ValueError, match=r"'nope' is not an input node.*left"):
        g.process(ones, input="nope")
    with pytest.raises(ValueError, match="exceeds block_size 64"):
        g.process(np.ones((1, 65), np.float32), input="left")
    with pytest.raises(ValueError, match=r"takes \(1, frames\) blocks, got shape \(2, 32\)"):
        g.process(np.ones((2, 32), np.float32), input="left")
    assert g.process(np.ones(64, np.float32), input="left")["a"].shape == (1, 64)  # mono: 1-D ok
    first = g.process(ones, input="right")
    assert np.all(first["a"] == 0.0) and np.allclose(first["b"], 0.5, atol=1e-6)
    second = g.process(2 * ones, input="left")  # each block feeds only what it names
    assert np.all(second["a"] == 2.0) and np.all(second["b"] == 0.0)
    assert second["a"].shape == (1, 64) and second["a"].base is None  # a copy, not a view
    g.close()


@pytest.mark.parametrize("block", [64, 512, 4096])
def test_config_automation_step_lands_on_sample_1000(registry: Registry, block: int) -> None:
    g, gain = dc_gain_graph(registry, block)
    g.automate(gain, "gain_db", [[0, 0, "step"], {"at": 1000, "value": -120, "curve": "step"}])
    audio = render(g, 0.05)["main"][0]
    assert np.all(audio[:1000] == 1.0)
    assert np.all(audio[1000:] <= 1e-6)


def test_numpy_automation_at_audio_rate_is_sample_exact(registry: Registry) -> None:
    g, gain = dc_gain_graph(registry, 512)
    values = np.zeros(2400)
    values[1000:] = -6.0
    g.automate(gain, "gain_db", values, hop=1)
    audio = render(g, 0.05)["main"][0]
    assert np.all(audio[:1000] == 1.0)
    assert np.allclose(audio[1000:2400], 10 ** (-6 / 20), atol=1e-7)


def automated_graph(
    registry: Registry,
    block: int,
    curve: np.ndarray,
    node_type: str,
    param: str,
    channels: int = 2,
    **params: object,
) -> Graph:
    """Noise → ``node_type`` with ``param`` driven by ``curve`` at audio rate → ``main``."""
    g = Graph(sample_rate=48000, block_size=block, registry=registry)
    src = g.add("noise", seed=3, channels=channels)
    node = g.add(node_type, id="auto", **params)
    g.connect(src, node)
    g.connect(node, g.add("output", id="main"))
    g.automate(node, param, curve, hop=1)
    return g


def dry_noise(registry: Registry, seconds: float, channels: int = 2) -> np.ndarray:
    dry = Graph(sample_rate=48000, block_size=512, registry=registry)
    dry.connect(dry.add("noise", seed=3, channels=channels), dry.add("output", id="main"))
    return render(dry, seconds)["main"].astype(np.float64)


def test_audio_rate_gain_matches_the_analytic_product(registry: Registry) -> None:
    n = 9000
    curve = -12.0 + 12.0 * np.sin(2 * np.pi * 5 * np.arange(n) / 48000)  # 5 Hz tremolo
    g = automated_graph(registry, 512, curve, "gain", "gain_db", gain_db=0, smoothing_ms=0)
    audio = render(g, n / 48000)["main"]
    expected = dry_noise(registry, n / 48000) * 10 ** (curve / 20)
    np.testing.assert_allclose(audio, expected, rtol=1e-6, atol=1e-9)


def test_audio_rate_pan_follows_the_constant_power_law(registry: Registry) -> None:
    n = 9000
    curve = np.sin(2 * np.pi * 3 * np.arange(n) / 48000)  # 3 Hz auto-pan, mono source
    audio = render(automated_graph(registry, 512, curve, "pan", "pan", channels=1), n / 48000)[
        "main"
    ]
    theta = (curve + 1) * np.pi / 4
    expected = dry_noise(registry, n / 48000, channels=1) * np.stack([np.cos(theta), np.sin(theta)])
    np.testing.assert_allclose(audio, expected, rtol=1e-6, atol=1e-7)


DENSE_CASES = [  # node type, param, curve range (beyond the declared one: clamped), variants
    ("gain", "gain_db", (-150, 40), 2, [{"smoothing_ms": 5.0}, {"smoothing_ms": 0, "invert": True}]),
    ("pan", "pan", (-1.5, 1.5), 1, [{}]),
    ("pan", "pan", (-1.5, 1.5), 2, [{}]),
]  # fmt: skip
PROCESSORS = {"gain": Gain, "pan": Pan}


@pytest.mark.parametrize("block", [64, 500, 4096])
@pytest.mark.parametrize(("node_type", "param", "span", "channels", "variants"), DENSE_CASES)
def test_dense_automation_renders_like_one_event_per_change(
    registry: Registry,
    block: int,
    node_type: str,
    param: str,
    span: tuple[float, float],
    channels: int,
    variants: list[dict[str, object]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one-call path (``render_changes``) against splitting the block at every change."""
    cls = PROCESSORS[node_type]
    rng = np.random.default_rng(block)
    curve = np.repeat(rng.uniform(*span, 700), rng.integers(1, 6, 700))
    seconds = (len(curve) + 333) / 48000  # past the lane's end, ending on a partial block

    def both(**params: object) -> tuple[np.ndarray, np.ndarray, int]:
        calls = []
        original = cls.render_changes
        monkeypatch.setattr(cls, "render_changes", lambda *a: calls.append(1) or original(*a))
        graph = automated_graph(registry, block, curve, node_type, param, channels, **params)
        one_call = render(graph, seconds)["main"]
        monkeypatch.setattr(cls, "CHANGE_PARAMS", frozenset())
        graph = automated_graph(registry, block, curve, node_type, param, channels, **params)
        split = render(graph, seconds)["main"]
        monkeypatch.undo()
        return one_call, split, len(calls)

    for params in variants:
        one_call, split, calls = both(**params)
        assert calls >= len(curve) // block  # the one-call path did run
        np.testing.assert_array_equal(one_call, split)
        assert np.abs(one_call).max() > 0.01


def test_numpy_automation_at_control_rate(registry: Registry) -> None:
    g, gain = dc_gain_graph(registry, 512)
    g.automate(gain, "gain_db", [0.0, -6.0, -12.0], hop=100, start=50)
    audio = render(g, 0.01)["main"][0]
    assert np.all(audio[:150] == 1.0)
    assert np.allclose(audio[150:250], 10 ** (-6 / 20), atol=1e-7)
    assert np.allclose(audio[250:], 10 ** (-12 / 20), atol=1e-7)


def test_linear_ramp_automation_reaches_its_end_value(registry: Registry) -> None:
    g, gain = dc_gain_graph(registry, 128)
    g.automate(gain, "gain_db", [[0, -24], [0.01, 0, "linear"]])
    audio = render(g, 0.02)["main"][0]
    assert audio[0] == pytest.approx(10 ** (-24 / 20), rel=1e-6)
    assert np.all(np.diff(audio[:480]) >= 0) and np.all(audio[480:] == 1.0)


def test_automation_errors_name_the_field(registry: Registry) -> None:
    g, gain = dc_gain_graph(registry)
    with pytest.raises(
        ConfigError, match=r"nodes\.g\.automation\.gain_dB: 'gain_dB' is not an automatable"
    ):
        g.automate(gain, "gain_dB", [[0, 0]])
    g2, gain2 = dc_gain_graph(registry)
    with pytest.raises(ConfigError, match=r"automation\.gain_db\.1: gain_db=99 is outside"):
        g2.automate(gain2, "gain_db", [[0, 0], [1, 99]])
    g3, gain3 = dc_gain_graph(registry)
    with pytest.raises(ConfigError, match="exp segment needs two non-zero values"):
        g3.automate(gain3, "gain_db", [[0, 0], [1, -6, "exp"]])
    with pytest.raises(ConfigError, match="finite 1-D array"):
        g3.automate(gain3, "gain_db", np.array([0.0, np.nan]), hop=1)


def test_docs_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), namespace)
