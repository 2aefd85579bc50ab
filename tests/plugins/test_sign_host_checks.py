"""Signing refuses what verification would refuse for what the manifest declares (step 9).

``prepare_signed`` runs the verifier's own host-compatibility step on the unsigned document,
so a manifest ``aers plugin verify`` must always refuse is never signed; the messages are the
verifier's, word for word.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from plugin_fakes import NOW, Publisher

from aers_host import builtin_names
from aers_host.errors import PluginValidationError
from aers_host.plugins import PluginVerifier, read_plugin_dir
from aers_host.plugins._manifest import build_signed, prepare_signed, seal
from aers_host.plugins._scaffold import scaffold_files

ROOT = Path(__file__).resolve().parents[2]

PARAM = {"name": "gain_db", "default": 0.0, "min": -60.0, "max": 12.0}


def source(kind: str = "python", **changes: Any) -> dict[str, Any]:
    entry = "libfx.so:aers_plugin_entry" if kind == "native" else "fx.py:Fx"
    return {"name": "fx", "version": "1.0.0", "kind": kind, "entry": entry,
            "params": [dict(PARAM)], **changes}  # fmt: skip


#: Each case: the manifest source and the problems verification reports for it.
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "reserved-name": (
        source(name="eq"),
        [
            "name collides with a built-in node type or an installed Python package's; "
            "those names are reserved (rename the plugin)"
        ],
    ),
    "native-sandboxed": (
        source("native", isolation="sandbox"),
        ["native plugins run in-process; isolation must be 'in-process'"],
    ),
    "min-above-max": (
        source(params=[{**PARAM, "min": 100.0}]),
        ["param 'gain_db': default must lie within [min, max]"],
    ),
    "default-outside-range": (
        source(params=[{**PARAM, "default": 20.0}]),
        ["param 'gain_db': default must lie within [min, max]"],
    ),
    "param-declared-twice": (
        source(params=[dict(PARAM), dict(PARAM)]),
        ["param 'gain_db' is declared twice"],
    ),
    "python-entry-suffix": (
        source(entry="README.txt:Fx"),
        ["a python entry must be a .py file, got 'README.txt'"],
    ),
    "all-at-once": (
        source(
            "native",
            name="gain",
            isolation="sandbox",
            params=[{**PARAM, "min": 100.0}, dict(PARAM)],
        ),
        [
            "name collides with a built-in node type or an installed Python package's; "
            "those names are reserved (rename the plugin)",
            "native plugins run in-process; isolation must be 'in-process'",
            "param 'gain_db': default must lie within [min, max]",
            "param 'gain_db' is declared twice",
        ],
    ),
}


def lines(err: BaseException) -> list[str]:
    return str(err).splitlines()


def as_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.security
@pytest.mark.parametrize("case", sorted(CASES))
def test_sign_refuses_what_verify_refuses_with_the_same_lines(
    case: str, publisher: Publisher, verifier: PluginVerifier
) -> None:
    src, expected = CASES[case]
    name = src["name"]
    files = publisher.files(src["kind"])
    with pytest.raises(PluginValidationError) as refused:
        prepare_signed(as_bytes(src), files, now=NOW, days=30, reserved=builtin_names())
    assert lines(refused.value) == [f"plugin {name!r}: {p}" for p in expected]
    # The very same manifest, signed without the check, is refused by verify in the same words.
    manifest = publisher.seal(build_signed(src, files, now=NOW, days=30))
    with pytest.raises(PluginValidationError) as verified:
        verifier.verify(manifest, files)
    assert lines(verified.value) == lines(refused.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_prepare_signed_refuses_before_signing(case: str, publisher: Publisher) -> None:
    src, _ = CASES[case]
    with pytest.raises(PluginValidationError):
        prepare_signed(as_bytes(src), publisher.files(src["kind"]),
                       now=NOW, days=30, reserved=builtin_names())  # fmt: skip


@pytest.mark.parametrize("kind", ["python", "native"])
def test_a_consistent_manifest_signs_and_verifies(
    kind: str, publisher: Publisher, verifier: PluginVerifier
) -> None:
    files = publisher.files(kind)
    signed = prepare_signed(as_bytes(source(kind)), files,
                            now=NOW, days=30, reserved=builtin_names())  # fmt: skip
    data = seal(signed, publisher.key)
    plugin = verifier.verify(data, files)
    assert plugin.name == "fx" and plugin.kind == kind


def test_default_on_the_range_bounds_is_fine(publisher: Publisher) -> None:
    params = [{**PARAM, "name": "lo", "default": -60.0}, {**PARAM, "name": "hi", "default": 12.0}]
    signed = prepare_signed(as_bytes(source(params=params)), publisher.files(), now=NOW,
                            days=30, reserved=builtin_names())  # fmt: skip
    assert [p.name for p in signed.params] == ["lo", "hi"]


@pytest.mark.parametrize("kind", ["python", "native"])
def test_scaffolds_pass_the_host_checks(kind: str) -> None:
    files = {rel: text.encode() for rel, text in scaffold_files("fuzz-box", kind).items()}
    if kind == "native":
        files["libfuzz_box.so"] = b"\x7fELF built by aers plugin build"
    signed = prepare_signed(files["manifest.in.json"], files, now=NOW, days=30,
                            reserved=builtin_names())  # fmt: skip
    assert signed.name == "fuzz-box"


@pytest.mark.parametrize("manifest_source", sorted((ROOT / "manifests").glob("*.json")),
                         ids=lambda p: p.stem)  # fmt: skip
def test_example_plugins_pass_the_host_checks(manifest_source: Path, tmp_path: Path) -> None:
    """Like scripts/demo_plugins.sh: copy, add the source, (build,) sign."""
    dest = tmp_path / manifest_source.stem
    shutil.copytree(ROOT / "plugins" / manifest_source.stem, dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))  # fmt: skip
    shutil.copyfile(manifest_source, dest / "manifest.in.json")
    entry_file = json.loads(manifest_source.read_text())["entry"].split(":", 1)[0]
    if not (dest / entry_file).exists():  # a native library `aers plugin build` would make
        (dest / entry_file).write_bytes(b"\x7fELF stand-in")
    files = read_plugin_dir(dest).files
    signed = prepare_signed(files["manifest.in.json"], files, now=NOW, days=30,
                            reserved=builtin_names())  # fmt: skip
    assert signed.name == manifest_source.stem
