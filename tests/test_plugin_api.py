"""The public plugin API (docs/plugin-api.md): its surface is pinned, and the package that
page walks through, written against it alone, works as an entry-point plugin end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fake_dist import install_distribution

import aers_host.plugin_api as api
from aers_host import Graph, default_registry, render

#: The promised names of PLUGIN_API_VERSION 1.0. Changing these sets is an API change:
#: bump the version (docs/plugin-api.md, "Versioning") in the same commit.
SURFACE_1_0 = {
    "ENTRY_POINT_GROUP",
    "PLUGIN_API_VERSION",
    "PROJECT_NAME",
    "AersHookSpecs",
    "Buffer",
    "BuiltinNodeType",
    "ChannelError",
    "CheckContext",
    "EventGenerator",
    "NO_TRAITS",
    "NodeTraits",
    "NodeType",
    "ParamEvent",
    "ParamIssue",
    "ParamSpec",
    "PluginValidationError",
    "Processor",
    "ProcessorBase",
    "Role",
    "hookimpl",
    "hookspec",
    "include_dir",
    "load_plugin_dir",
    "same_channels",
}

#: 1.1 added the compiled block call that lets a processor join lane programs.
SURFACE_1_1 = SURFACE_1_0 | {"BlockKernel"}

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugin-api.md"


def docs_package() -> str:
    """The pip package walked through in docs/plugin-api.md (its one hooked Python block)."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (package,) = [b for b in blocks if "def aers_register_processors" in b]
    return package


def test_the_surface_is_pinned() -> None:
    assert set(api.__all__) == SURFACE_1_1
    assert len(api.__all__) == len(SURFACE_1_1)
    assert api.PLUGIN_API_VERSION == "1.1"


def test_every_public_name_is_documented() -> None:
    table = DOCS.read_text(encoding="utf-8").split("## The names", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", table, re.M)
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    assert documented == set(api.__all__)


def test_every_name_resolves_to_what_the_host_uses() -> None:
    from aers_host import _hooks, _nodetype, _processor
    from aers_host.plugins import hookspecs

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert api.NodeType is _nodetype.NodeType
    assert api.ProcessorBase is _processor.ProcessorBase
    assert api.hookimpl is _hooks.hookimpl is hookspecs.hookimpl
    assert api.NodeTraits is _nodetype.NodeTraits and _nodetype.NodeTraits() == api.NO_TRAITS
    assert api.ENTRY_POINT_GROUP == "aers.plugins"
    assert (api.include_dir() / "aers_plugin.h").is_file()
    with pytest.raises(AttributeError, match="no attribute 'NodeRegistry'"):
        api.NodeRegistry  # noqa: B018 - private machinery stays out of the API


def test_importing_the_api_loads_nothing_heavy() -> None:
    probe = (
        "import sys, aers_host.plugin_api; "
        "print(sorted(m for m in ('numpy', 'numba', 'pluggy', 'cryptography', "
        "'RestrictedPython') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Install the docs' package as a pip-installed-looking distribution."""
    return install_distribution(
        tmp_path / "site", monkeypatch, dist="acme-aers", module="acme_aers", source=docs_package()
    )


def test_a_package_written_against_the_api_renders_in_a_graph(acme: str) -> None:
    registry = default_registry(store=False)  # built-ins and the entry-point packages
    assert registry.source("acme-trim") == f"entry-point:{acme}"

    graph = Graph(sample_rate=48000, block_size=64, registry=registry)
    dc = graph.add("impulse", every=1, channels=1)  # a constant 1.0
    trim = graph.add("acme-trim", gain=0.25)
    graph.connect(dc, trim)
    graph.connect(trim, graph.add("output", id="out"))
    curve = np.full(480, 0.25)
    curve[100:] = 2.0  # a step at sample 100, inside the second block
    graph.automate(trim, "gain", curve, hop=1)
    out = render(graph, 0.01)["out"]
    expected = np.where(np.arange(480) < 100, 0.25, 2.0).astype(np.float32)
    assert np.array_equal(out[0], expected)


def test_the_api_node_types_checks_reach_the_user(acme: str) -> None:
    from aers_host.errors import ConfigError

    registry = default_registry(store=False)
    graph = Graph(registry=registry)
    with pytest.raises(ConfigError, match=r"params\.gain"):
        graph.add("acme-trim", gain=5)  # the ParamSpec's range, in the schema
    graph.add("acme-trim", gain=3)
    with pytest.raises(ConfigError, match=r"params\.gain: must not be 3"):  # a ParamIssue
        graph.config()

    graph = Graph(registry=registry)
    stereo = graph.add("sine", channels=2)
    trim = graph.add("acme-trim")
    graph.connect(stereo, trim)
    graph.connect(trim, graph.add("output"))
    with pytest.raises(ConfigError, match=r"takes 1 channel, got 2"):  # the ChannelError
        graph.config()


def test_the_module_example_is_valid_code() -> None:
    source = (api.__doc__ or "").split("Example:", 1)[1]
    code = "\n".join(line[8:] for line in source.splitlines() if line.startswith(" " * 8))
    namespace: dict[str, object] = {}
    exec(compile(code, "plugin_api example", "exec"), namespace)
    trim = namespace["TRIM"]
    assert isinstance(trim, api.BuiltinNodeType)
    processor = trim.create({"gain": 0.5}, api.CheckContext(48000, 64, Path(".")))
    processor.prepare(48000, 64, 1)
    out = np.zeros((1, 64), np.float32)
    processor.process(np.ones((1, 64), np.float32), out, 0, ())
    assert np.all(out == 0.5)
