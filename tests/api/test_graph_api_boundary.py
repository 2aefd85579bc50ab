"""The Python API's edges: failed calls change nothing, NumPy scalars, bad gains, saving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from graphs import Registry

from aers_host import AersError, ConfigError, Graph, render


def sine_graph(registry: Registry) -> tuple[Graph, str]:
    g = Graph(registry=registry)
    s = g.add("sine", freq=100, channels=1)
    g.connect(s, g.add("output", id="o"))
    return g, s


def plain_types(value: Any) -> set[type]:
    if isinstance(value, dict):
        return {type(value)}.union(*(plain_types(v) for v in value.values()))
    if isinstance(value, list):
        return {type(value)}.union(*(plain_types(v) for v in value))
    return {type(value)}


# -- 1. a failed automate changes nothing ------------------------------------------------


def test_rejected_automation_is_not_kept(registry: Registry) -> None:
    g, s = sine_graph(registry)
    before = g.to_dict()
    with pytest.raises(ConfigError, match=r"nodes\.sine1\.automation\.nope: 'nope' is not"):
        g.automate(s, "nope", [[0, 1]])
    assert g.to_dict() == before
    assert render(g, 0.01)["o"].shape == (1, 480)
    with pytest.raises(ConfigError, match=r"automation\.freq\.1"):
        g.automate(s, "freq", [[0, 100], [0.1, -5]])  # out of range
    g.automate(s, "freq", [[0, 100], [0.005, 200]])
    assert g.to_dict()["nodes"]["sine1"]["automation"] == {"freq": [[0, 100], [0.005, 200]]}
    with pytest.raises(ConfigError):
        g.automate(s, "level_db", [[0, "loud"]])
    assert g.to_dict()["nodes"]["sine1"]["automation"] == {"freq": [[0, 100], [0.005, 200]]}
    assert render(g, 0.01)["o"].shape == (1, 480)


def test_automate_judges_only_the_automation_of_a_half_built_graph(registry: Registry) -> None:
    g = Graph(registry=registry)
    gain = g.add("gain", gain_db=0)  # nothing connected yet
    g.automate(gain, "gain_db", [[0, 0], [0.1, -6, "linear"]])
    assert "automation" in g.to_dict()["nodes"][gain]


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        (5, {}, "must be a list of"),
        ("0,1", {}, "must be a list of"),
        (np.zeros(4), {}, "give hop="),
        ([0.0, 1.0], {"hop": 0}, "hop must be"),
        ([0.0, 1.0], {"hop": "1"}, "hop must be"),
        ([0.0, 1.0], {"hop": 1, "start": -1}, "start must be"),
        ([0.0, 1.0], {"hop": 1.5}, "hop must be"),
        ([0.0, 1.0], {"hop": True}, "hop must be"),
        ([["a"]], {"hop": 1}, r"nodes\.g\.automation\.gain_db"),
    ],
)
def test_malformed_automation_is_a_config_error(
    registry: Registry, values: Any, kwargs: dict[str, Any], message: str
) -> None:
    g = Graph(registry=registry)
    g.add("gain", id="g")
    with pytest.raises(ConfigError, match=message):
        g.automate("g", "gain_db", values, **kwargs)
    assert "automation" not in g.to_dict()["nodes"]["g"]


# -- 2. NumPy scalars ----------------------------------------------------------------------


def numpy_graph(registry: Registry, number: Any) -> Graph:
    """The same graph built from ``number`` (float or a NumPy type) everywhere."""
    g = Graph(sample_rate=48000, block_size=256, registry=registry)
    src = g.add("sine", freq=number(440), level_db=number(-12), channels=np.int64(1))
    delay = g.add("delay", samples=np.int64(100))
    gain = g.add("gain", gain_db=number(-3), bypass=np.bool_(False))
    eq = g.add("eq", bands=[{"type": "peak", "freq": number(1000), "gain_db": number(3), "q": 1.0}])
    g.connect(src, delay, gain_db=number(-1))
    g.connect(delay, gain)
    g.connect(gain, eq)
    g.connect(eq, g.add("output", id="main"))
    g.automate(gain, "gain_db", [[0, number(-3)], (number(0.0078125), np.float32(-6), "linear")])
    return g


@pytest.mark.parametrize("number", [np.float64, np.float32])
def test_numpy_scalars_are_python_numbers_in_the_config(
    registry: Registry, number: Any, tmp_path: Path
) -> None:
    g = numpy_graph(registry, number)
    data = g.to_dict()
    assert plain_types(data) <= {dict, list, str, int, float, bool}
    assert data["nodes"]["delay1"]["params"]["samples"] == 100
    assert type(data["nodes"]["delay1"]["params"]["samples"]) is int
    assert data == numpy_graph(registry, float).to_dict()
    for name in ("graph.yaml", "graph.json"):
        g.save(tmp_path / name)
        assert Graph.load(tmp_path / name, registry=registry).to_dict() == data
    assert yaml.safe_load(g.to_yaml()) == json.loads(g.to_json()) == data
    assert render(g, 0.01)["main"].shape[1] == 480


def test_numpy_hop_and_start_are_whole_numbers(registry: Registry) -> None:
    g = Graph(registry=registry)
    gain = g.add("gain", gain_db=0, smoothing_ms=0)
    g.automate(
        gain, "gain_db", np.array([0.0, -6.0], np.float32), hop=np.int64(10), start=np.int32(5)
    )
    g.connect(g.add("impulse", every=1, channels=1), gain)
    g.connect(gain, g.add("output", id="o"))
    audio = render(g, 0.001)["o"][0]
    assert audio[14] == 1.0 and audio[15] == pytest.approx(10 ** (-6 / 20))


def test_numpy_scalars_in_from_dict_and_constructor(registry: Registry) -> None:
    g = Graph(sample_rate=np.int64(48000), block_size=np.int32(256), registry=registry)
    assert type(g.to_dict()["sample_rate"]) is int
    doc = numpy_graph(registry, float).to_dict()
    doc["nodes"]["gain1"]["params"]["gain_db"] = np.float64(-3)
    again = Graph.from_dict(doc, registry=registry)
    assert type(again.to_dict()["nodes"]["gain1"]["params"]["gain_db"]) is float
    yaml.safe_load(again.to_yaml())


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"gain_db": np.array([1.0, 2.0])}, r"nodes\.gain1\.params\.gain_db: must be a number"),
        ({"gain_db": 1 + 2j}, r"nodes\.gain1\.params\.gain_db: must be a number"),
        ({"gain_db": {1.5: 2}}, r"nodes\.gain1\.params\.gain_db\.1\.5: keys must be strings"),
        ({"bypass": {1, 2}}, r"nodes\.gain1\.bypass: must be a number"),
    ],
)
def test_values_a_config_cannot_hold_name_their_path(
    registry: Registry, params: dict[str, Any], path: str
) -> None:
    g = Graph(registry=registry)
    with pytest.raises(ConfigError, match=path):
        g.add("gain", **params)
    assert g.to_dict()["nodes"] == {}


def test_eq_band_values_a_config_cannot_hold_name_their_path(registry: Registry) -> None:
    g = Graph(registry=registry)
    with pytest.raises(ConfigError, match=r"nodes\.eq1\.params\.bands\.0\.freq: must be a number"):
        g.add("eq", bands=[{"type": "peak", "freq": object()}])


def test_node_options_are_checked_by_add(registry: Registry) -> None:
    g = Graph(registry=registry)
    with pytest.raises(ConfigError, match=r"nodes\.gain1\.bypass"):
        g.add("gain", bypass="yes")
    assert g.to_dict()["nodes"] == {}


def test_from_dict_refuses_a_non_mapping(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="config must be a mapping, got list"):
        Graph.from_dict([1, 2], registry=registry)  # type: ignore[arg-type]


# -- 3. connection gains --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gain", "message"),
    [
        ("x", r"connections\.0\.gain_db: must be of type number"),
        (99, r"connections\.0\.gain_db"),
        (float("nan"), r"connections\.0\.gain_db: must be a finite number"),
        (True, r"connections\.0\.gain_db"),
    ],
)
def test_bad_connection_gain_is_a_config_error(registry: Registry, gain: Any, message: str) -> None:
    g = Graph(registry=registry)
    a = g.add("sine", channels=1)
    b = g.add("output", id="o")
    with pytest.raises(ConfigError, match=message):
        g.connect(a, b, gain_db=gain)
    with pytest.raises(ConfigError, match=r"connections\.0\.port"):
        g.connect(a, b, port="side")
    assert g.to_dict()["connections"] == []
    g.connect(a, b, gain_db=np.float32(-6))
    assert g.to_dict()["connections"] == [{"from": a, "to": "o", "gain_db": -6.0}]


# -- 4. saving -----------------------------------------------------------------------------


def test_save_to_a_folder_or_a_missing_folder_is_a_one_line_aers_error(
    registry: Registry, tmp_path: Path
) -> None:
    g, _ = sine_graph(registry)
    with pytest.raises(AersError) as folder:
        g.save(tmp_path)
    assert str(tmp_path) in str(folder.value) and "\n" not in str(folder.value)
    missing = tmp_path / "nope" / "graph.yaml"
    with pytest.raises(ConfigError, match="create the folder first") as gone:
        g.save(missing)
    assert str(missing) in str(gone.value) and "\n" not in str(gone.value)
    assert list(tmp_path.iterdir()) == []


# -- 5. array automation is not exported silently -----------------------------------------


def test_array_automation_is_refused_by_every_export(registry: Registry, tmp_path: Path) -> None:
    g, s = sine_graph(registry)
    g.automate(s, "level_db", [[0, -6]])
    g.automate(s, "freq", np.linspace(100, 200, 480), hop=1)
    for export in (g.to_dict, g.to_yaml, g.to_json):
        with pytest.raises(ConfigError, match=r"nodes\.sine1\.automation\.freq: NumPy-array"):
            export()
    with pytest.raises(ConfigError, match="drop_arrays=True"):
        g.save(tmp_path / "g.yaml")
    assert list(tmp_path.iterdir()) == []
    data = g.to_dict(drop_arrays=True)
    assert data["nodes"]["sine1"]["automation"] == {"level_db": [[0, -6]]}
    g.save(tmp_path / "g.json", drop_arrays=True)
    assert Graph.load(tmp_path / "g.json", registry=registry).to_dict() == data


def test_every_config_node_option_is_an_option_of_add() -> None:
    # max_voices and steal are node options in a config, so they are in code too.
    g = Graph()
    sfx = g.add("events", id="sfx", channels=2, max_voices=4, steal="oldest")
    g.connect(sfx, g.add("output", id="o"))
    node = g.to_dict()["nodes"]["sfx"]
    assert node["max_voices"] == 4 and node["steal"] == "oldest"
    assert "max_voices" not in node.get("params", {})
