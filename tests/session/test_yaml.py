"""YAML export/import: exact round trip, unknown fields kept, bad files refused with lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from graphs import Registry

from aers_host.errors import ConfigError, SessionError
from aers_host.session import Session, export_yaml, import_yaml, pack, unpack

CONFIG = {
    "sample_rate": 48000,
    "nodes": {"tone": {"type": "sine", "params": {"freq": 440}}, "out": {"type": "output"}},
    "connections": [{"from": "tone", "to": "out"}],
}
TRICKY = [0.1, 1e-310, -0.0, 1 / 3, 2.0**-1074, 123456789.123456789, math.pi] * 4


def session(**kw: object) -> Session:
    base: dict[str, object] = {
        "name": "demo", "config": CONFIG, "position": 48000,
        "nodes": {"tone": {"params": {"freq": 440.0}, "offset": 1 / 3, "line": TRICKY,
                           "rows": [TRICKY, TRICKY[:3]]}},
        "edges": {"out": [{"edge": 0, "pos": 3, "line": [TRICKY]}]},
        "flags": {"tone": {"bypass": False, "mute": True, "solo": False}},
    }  # fmt: skip
    return Session(**{**base, **kw})  # type: ignore[arg-type]


def test_pack_is_exact_and_only_for_long_float_lists() -> None:
    assert pack([1.0, 2.0]) == [1.0, 2.0]
    assert pack(list(range(40))) == list(range(40))  # ints stay readable and int
    packed = pack({"a": [TRICKY, 3]})
    assert set(packed["a"][0]) == {"$f64"}
    back = unpack(packed)["a"][0]
    assert [math.copysign(1, v) for v in back] == [math.copysign(1, v) for v in TRICKY]
    assert back == TRICKY


def test_round_trip_is_exact_and_keeps_unknown_fields(registry: Registry, tmp_path: Path) -> None:
    original = session(extra={"mixdown": {"stems": 4}}, format_version="1.3")
    path = tmp_path / "s.yaml"
    export_yaml(original, path)
    text = path.read_text()
    assert "mixdown" in text and "$f64" in text and "freq: 440" in text
    again = import_yaml(path, registry=registry)
    assert again == original
    assert again.to_dict() == original.to_dict()


def test_import_under_another_name(registry: Registry, tmp_path: Path) -> None:
    export_yaml(session(), tmp_path / "s.yaml")
    assert import_yaml(tmp_path / "s.yaml", registry=registry, name="copy").name == "copy"


def test_bad_config_inside_is_refused_with_file_and_line(
    registry: Registry, tmp_path: Path
) -> None:
    path = tmp_path / "s.yaml"
    export_yaml(session(), path)
    text = path.read_text().replace("freq: 440", "freq: 96000")
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "freq: 96000" in t)
    with pytest.raises(ConfigError) as err:
        import_yaml(path, registry=registry)
    problem = err.value.problems[0]
    assert problem.file == str(path) and problem.line == line
    assert "Nyquist" in problem.message or "freq" in str(problem)


def test_other_major_version_is_refused_with_line(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    export_yaml(session(), path)
    text = path.read_text().replace("format_version: '1.0'", "format_version: '2.0'")
    path.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "format_version" in t)
    with pytest.raises(SessionError, match=rf"s.yaml:{line}: .*not readable by this AERS"):
        import_yaml(path, registry=registry)


@pytest.mark.security
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: [1, 2\n", ConfigError),  # YAML syntax
        ("- 1\n- 2\n", SessionError),  # not a mapping
        ("name: x\nname: y\n", ConfigError),  # duplicate key
        ("format_version: '1.0'\nname: x\nconfig: {}\nnodes: {n: {$f64: '!!!'}}\n", SessionError),
        ("!!python/object/apply:os.system ['true']\n", ConfigError),  # no unsafe tags
    ],
)
def test_hostile_or_broken_files_are_refused(
    registry: Registry, tmp_path: Path, text: str, error: type
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(error):
        import_yaml(path, registry=registry)


def test_export_is_plain_safe_yaml(tmp_path: Path) -> None:
    export_yaml(session(), tmp_path / "s.yaml")
    data = yaml.safe_load((tmp_path / "s.yaml").read_text())
    assert data["position"] == 48000 and data["config"] == CONFIG
