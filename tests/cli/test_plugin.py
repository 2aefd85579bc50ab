"""``aers plugin new|sign|verify|install|list|remove`` through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def author(aers_home: Path, run_cli) -> Path:
    """A trusted signing key (python scope); returns the private key path."""
    run_cli("keys", "generate", "author")
    run_cli("keys", "trust", aers_home / "keys" / "author.pub.pem", "--scope", "python")
    return aers_home / "keys" / "author.key.pem"


@pytest.fixture
def signed_fx(tmp_path: Path, author: Path, run_cli) -> Path:
    assert run_cli("plugin", "new", "fx", "--dir", tmp_path).code == 0
    assert run_cli("plugin", "sign", tmp_path / "fx", "--key", author).code == 0
    return tmp_path / "fx"


def test_author_workflow(signed_fx: Path, aers_home: Path, run_cli) -> None:
    assert sorted(p.name for p in signed_fx.iterdir()) == [
        "fx.py", "manifest.in.json", "manifest.json", "test_fx.py"
    ]  # fmt: skip
    verified = run_cli("plugin", "verify", signed_fx)
    assert verified.code == 0 and verified.out.startswith("✓ fx 0.1.0 (python, sandbox)")
    installed = run_cli("plugin", "install", signed_fx)
    assert installed.code == 0, installed.err
    rows = {r["name"]: r for r in json.loads(run_cli("plugin", "list", "--json").out)}
    assert rows["fx"]["source"] == "store" and rows["fx"]["status"] == "verified"
    assert rows["fx"]["isolation"] == "sandbox" and len(rows["fx"]["keyid"]) == 64
    assert rows["gain"]["source"] == "builtin"
    assert run_cli("plugin", "remove", "fx").code == 0
    assert "fx" not in {r["name"] for r in json.loads(run_cli("plugin", "list", "--json").out)}
    assert sorted(p.name for p in (aers_home / "plugins").iterdir()) == [".floors.json", ".lock"]


@pytest.mark.security
def test_verify_lists_every_problem_one_line_each(signed_fx: Path, run_cli) -> None:
    size = (signed_fx / "fx.py").stat().st_size
    with (signed_fx / "fx.py").open("a") as handle:
        handle.write("# changed\n")
    (signed_fx / "extra.txt").write_text("x")
    result = run_cli("plugin", "verify", signed_fx)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: plugin 'fx': fx.py: size {size + 10} != {size} in the manifest",
        "error: plugin 'fx': extra.txt: not listed in the manifest (extra file)",
    ]


@pytest.mark.security
def test_tampered_plugin_is_not_installed(signed_fx: Path, aers_home: Path, run_cli) -> None:
    (signed_fx / "fx.py").write_text("import os\n")
    result = run_cli("plugin", "install", signed_fx)
    assert result.code == 1 and "fx.py" in result.err
    assert not (aers_home / "plugins").exists() or not list((aers_home / "plugins").iterdir())


@pytest.mark.security
def test_plugin_signed_by_untrusted_key_is_refused(
    tmp_path: Path, aers_home: Path, run_cli
) -> None:
    keyid = run_cli("keys", "generate", "stranger").out.strip()
    run_cli("plugin", "new", "fx", "--dir", tmp_path)
    run_cli("plugin", "sign", tmp_path / "fx", "--key", aers_home / "keys" / "stranger.key.pem")
    result = run_cli("plugin", "install", tmp_path / "fx")
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: plugin 'fx': signed by untrusted key {keyid} (aers keys trust PUBFILE)"
    ]


@pytest.mark.security
def test_new_refuses_builtin_names(tmp_path: Path, aers_home: Path, run_cli) -> None:
    result = run_cli("plugin", "new", "eq", "--dir", tmp_path)
    assert result.code == 1 and "reserved" in result.err
    assert not (tmp_path / "eq").exists()


@pytest.mark.security
def test_sign_refuses_bytecode_caches_with_a_clear_line(
    tmp_path: Path, author: Path, run_cli
) -> None:
    run_cli("plugin", "new", "fx", "--dir", tmp_path)
    (tmp_path / "fx" / "__pycache__").mkdir()
    result = run_cli("plugin", "sign", tmp_path / "fx", "--key", author)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: {tmp_path / 'fx'}: __pycache__: is a bytecode cache; remove it from the folder"
    ]
    assert not (tmp_path / "fx" / "manifest.json").exists()


def test_sign_needs_a_manifest_source(tmp_path: Path, author: Path, run_cli) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x.py").write_text("")
    result = run_cli("plugin", "sign", tmp_path / "p", "--key", author)
    assert result.code == 1 and "manifest.in.json" in result.err


def test_sign_with_encrypted_key(
    tmp_path: Path, aers_home: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASS", "pw")
    run_cli("keys", "generate", "enc", "--passphrase-env", "PASS")
    run_cli("plugin", "new", "fx", "--dir", tmp_path)
    key = aers_home / "keys" / "enc.key.pem"
    refused = run_cli("plugin", "sign", tmp_path / "fx", "--key", key)
    assert refused.code == 1 and "passphrase" in refused.err
    assert run_cli("plugin", "sign", tmp_path / "fx", "--key", key, "--passphrase-env", "PASS")


def test_verify_folder_without_manifest(tmp_path: Path, aers_home: Path, run_cli) -> None:
    run_cli("plugin", "new", "fx", "--dir", tmp_path)
    result = run_cli("plugin", "verify", tmp_path / "fx")
    assert result.code == 1 and "no manifest.json" in result.err


def test_list_verbose_json_reports_fences(aers_home: Path, run_cli) -> None:
    result = run_cli("plugin", "list", "--json", "--verbose")
    assert result.code == 0
    document = json.loads(result.out)
    assert {"plugins", "fences"} <= set(document)


def test_remove_unknown_plugin(aers_home: Path, run_cli) -> None:
    result = run_cli("plugin", "remove", "nope")
    assert result.code == 1 and "no installed plugin named 'nope'" in result.err


def test_keys_are_written_private_even_with_a_loose_umask(aers_home: Path, run_cli) -> None:
    old = os.umask(0)
    try:
        run_cli("keys", "generate", "loose")
    finally:
        os.umask(old)
    assert (aers_home / "keys" / "loose.key.pem").stat().st_mode & 0o077 == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_native_scaffold_builds_signs_installs_and_runs(
    tmp_path: Path, aers_home: Path, run_cli
) -> None:
    run_cli("keys", "generate", "nat")
    run_cli("keys", "trust", aers_home / "keys" / "nat.pub.pem", "--scope", "native")
    assert run_cli("plugin", "new", "nat-gain", "--kind", "native", "--dir", tmp_path).code == 0
    folder = tmp_path / "nat-gain"
    own_test = subprocess.run(  # the scaffold's own test: build, sign, install, render
        [sys.executable, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "default",
         "test_nat_gain.py"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr
    built = run_cli("plugin", "build", folder)
    assert built.code == 0, built.err
    assert built.out.strip().endswith("libnat_gain.so")
    assert run_cli("plugin", "sign", folder, "--key", aers_home / "keys" / "nat.key.pem").code == 0
    assert run_cli("plugin", "install", folder).code == 0
    from aers_host import default_registry
    from aers_host._nodetype import CheckContext

    node = default_registry(entry_points=False)["nat-gain"]
    processor = node.create({"gain_db": -6.0206}, CheckContext(48000, 64, tmp_path))
    processor.prepare(48000, 64, 1)
    out = np.zeros((1, 64), np.float32)
    processor.process(np.ones((1, 64), np.float32), out, 0, ())
    assert np.allclose(out, 0.5, atol=1e-4)


def _edit_source(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "manifest.in.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


def _rename_to_eq(doc: dict) -> None:
    doc["name"] = "eq"


def _sandbox_native(doc: dict) -> None:
    doc["isolation"] = "sandbox"


def _min_above_max(doc: dict) -> None:
    doc["params"][0]["min"] = 100.0


def _default_outside(doc: dict) -> None:
    doc["params"][0]["default"] = 20.0


def _declared_twice(doc: dict) -> None:
    doc["params"].append(dict(doc["params"][0]))


_RESERVED = ("name collides with a built-in node type or an installed Python package's; "
             "those names are reserved (rename the plugin)")  # fmt: skip
_SIGN_REFUSALS = {
    "reserved-name": ("python", _rename_to_eq, "eq", [_RESERVED]),
    "native-sandboxed": (
        "native",
        _sandbox_native,
        "fx",
        ["native plugins run in-process; isolation must be 'in-process'"],
    ),
    "min-above-max": (
        "python",
        _min_above_max,
        "fx",
        ["param 'gain_db': default must lie within [min, max]"],
    ),
    "default-outside": (
        "python",
        _default_outside,
        "fx",
        ["param 'gain_db': default must lie within [min, max]"],
    ),
    "declared-twice": ("python", _declared_twice, "fx", ["param 'gain_db' is declared twice"]),
}


def _scaffold(tmp_path: Path, kind: str, run_cli) -> Path:
    assert run_cli("plugin", "new", "fx", "--kind", kind, "--dir", tmp_path).code == 0
    folder = tmp_path / "fx"
    if kind == "native":  # not loadable: sign compares params only with a loadable library
        (folder / "libfx.so").write_bytes(b"\x7fELF stand-in")
    return folder


@pytest.mark.security
@pytest.mark.parametrize("case", sorted(_SIGN_REFUSALS))
def test_sign_refuses_a_manifest_verify_would_refuse(
    case: str, tmp_path: Path, author: Path, run_cli
) -> None:
    kind, change, name, problems = _SIGN_REFUSALS[case]
    folder = _scaffold(tmp_path, kind, run_cli)
    _edit_source(folder, change)
    result = run_cli("plugin", "sign", folder, "--key", author)
    assert result.code == 1
    assert result.err.splitlines() == [f"error: plugin {name!r}: {p}" for p in problems]
    assert "Traceback" not in result.err
    assert not (folder / "manifest.json").exists()


@pytest.mark.security
def test_sign_lists_every_host_problem_and_keeps_the_old_manifest(
    tmp_path: Path, author: Path, run_cli
) -> None:
    folder = _scaffold(tmp_path, "native", run_cli)
    assert run_cli("plugin", "sign", folder, "--key", author).code == 0
    before = (folder / "manifest.json").read_bytes()
    for change in (_rename_to_eq, _sandbox_native, _declared_twice, _min_above_max):
        _edit_source(folder, change)
    result = run_cli("plugin", "sign", folder, "--key", author)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: plugin 'eq': {_RESERVED}",
        "error: plugin 'eq': native plugins run in-process; isolation must be 'in-process'",
        "error: plugin 'eq': param 'gain_db': default must lie within [min, max]",
        "error: plugin 'eq': param 'gain_db' is declared twice",
    ]
    assert (folder / "manifest.json").read_bytes() == before


def test_sign_checks_the_manifest_before_reading_the_key(
    tmp_path: Path, aers_home: Path, run_cli
) -> None:
    folder = _scaffold(tmp_path, "python", run_cli)
    _edit_source(folder, _declared_twice)
    result = run_cli("plugin", "sign", folder, "--key", tmp_path / "no-such.key.pem")
    assert result.code == 1
    assert result.err.splitlines() == ["error: plugin 'fx': param 'gain_db' is declared twice"]


@pytest.mark.parametrize("kind", ["python", "native"])
def test_signed_scaffolds_verify(kind: str, tmp_path: Path, aers_home: Path, run_cli) -> None:
    run_cli("keys", "generate", "all")
    run_cli("keys", "trust", aers_home / "keys" / "all.pub.pem", "--scope", "all")
    folder = _scaffold(tmp_path, kind, run_cli)
    signed = run_cli("plugin", "sign", folder, "--key", aers_home / "keys" / "all.key.pem")
    assert signed.code == 0, signed.err
    verified = run_cli("plugin", "verify", folder)
    assert verified.code == 0, verified.err


def test_list_shows_why_a_plugin_is_unusable_in_full(
    tmp_path: Path, author: Path, aers_home: Path, run_cli, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    from aers_host.cli._app import out_console

    name = "a-plugin-with-a-rather-long-descriptive-name"  # wider than the status column
    assert run_cli("plugin", "new", name, "--dir", tmp_path).code == 0
    assert run_cli("plugin", "sign", tmp_path / name, "--key", author).code == 0
    assert run_cli("plugin", "install", tmp_path / name).code == 0
    [source] = [p for p in (aers_home / "plugins" / name).glob("*.py") if "test" not in p.name]
    source.write_bytes(source.read_bytes() + b"# tampered in the store\n")
    monkeypatch.setattr(out_console, "width", 80)  # a common terminal
    listed = run_cli("plugin", "list")
    [status] = [r["status"] for r in json.loads(run_cli("plugin", "list", "--json").out)
                if r["name"] == name]  # fmt: skip
    assert status.startswith("unusable") and "…" not in listed.out  # folded, not cut
    cells = [line.split("│")[-2].strip() for line in listed.out.splitlines() if "│" in line]
    assert "".join(status.split()) in "".join("".join(cells).split())


@pytest.mark.security
def test_a_removed_plugin_comes_back_older_only_with_allow_downgrade(
    tmp_path: Path, author: Path, run_cli
) -> None:
    for version in ("0.2.0", "0.1.0"):
        assert run_cli("plugin", "new", "fx", "--dir", tmp_path / version).code == 0
        template = tmp_path / version / "fx" / "manifest.in.json"
        doc = json.loads(template.read_text())
        doc["version"] = version
        template.write_text(json.dumps(doc))
        assert run_cli("plugin", "sign", tmp_path / version / "fx", "--key", author).code == 0
    assert run_cli("plugin", "install", tmp_path / "0.2.0" / "fx").code == 0
    assert run_cli("plugin", "remove", "fx").code == 0
    refused = run_cli("plugin", "install", tmp_path / "0.1.0" / "fx")
    assert refused.code == 1 and len(refused.err.splitlines()) == 1
    assert "rollback refused" in refused.err and "aers plugin remove" in refused.err
    assert "--allow-downgrade" in refused.err
    allowed = run_cli("plugin", "install", tmp_path / "0.1.0" / "fx", "--allow-downgrade")
    assert allowed.code == 0, allowed.err
    assert "installed fx 0.1.0" in allowed.out


@pytest.mark.security
def test_plugin_list_shows_an_isolation_request_the_key_cannot_grant(
    tmp_path: Path, author: Path, run_cli
) -> None:
    assert run_cli("plugin", "new", "fx", "--dir", tmp_path).code == 0
    template = tmp_path / "fx" / "manifest.in.json"
    doc = json.loads(template.read_text())
    doc["isolation"] = "in-process"
    template.write_text(json.dumps(doc))
    assert run_cli("plugin", "sign", tmp_path / "fx", "--key", author).code == 0
    installed = run_cli("plugin", "install", tmp_path / "fx")
    assert installed.code == 0 and "(python, sandbox)" in installed.out  # the python-only key
    rows = {r["name"]: r for r in json.loads(run_cli("plugin", "list", "--json").out)}
    assert rows["fx"]["isolation"] == "sandbox"
    assert rows["fx"]["isolation_requested"] == "in-process"
    listed = run_cli("plugin", "list").out
    assert "(asks" in listed  # "sandbox (asks in-process)", folded to fit the table
    assert "isolation is the user's choice" in listed
