"""``aers plugin``: scaffold, build, sign, verify, install, list and remove plugins.

Every refusal is an ``AersError`` raised to ``main()``, which prints one ``error:`` line per
problem and exits 1; nothing is installed or loaded when one is raised.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .._builtins import builtin_names, default_registry
from .._paths import atomic_write
from ..errors import ManifestError, PluginError, PluginValidationError
from ..plugins import (
    MANIFEST_FILE,
    SOURCE_FILE,
    BrokenPluginType,
    NodeRegistry,
    PluginStore,
    StorePluginType,
    entry_point_names,
    load_keyring,
    read_plugin_dir,
)
from ..plugins._keys import key_id, load_private_key, read_key_file
from ..plugins._manifest import host_error, prepare_signed, seal
from ..plugins._model import PluginKind
from ..plugins._scaffold import name_problem, scaffold_files
from ..plugins._verified import VerifiedPlugin
from ._app import app, err_console, out_console
from ._edit import call, problems_of, resolve, running_server
from ._keys import PassphraseEnv, read_passphrase, say

plugin_app = typer.Typer(
    help="Write, build, sign, verify, install and list plugins.", no_args_is_help=True
)
app.add_typer(plugin_app, name="plugin")

PluginDir = Annotated[Path, typer.Argument(help="The plugin folder.")]
#: Options of every command that signs a manifest (``sign``, ``adopt``).
SigningKey = Annotated[Path, typer.Option("--key", help="Private key file (NAME.key.pem).")]
ExpiresDays = Annotated[int, typer.Option("--expires", min=1, max=3650, help="Validity in days.")]
PassphrasePrompt = Annotated[
    bool, typer.Option("--passphrase", help="Prompt for the key's passphrase.")
]


@plugin_app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Plugin name, also its node type in configs.")],
    kind: Annotated[PluginKind, typer.Option("--kind", help="python or native.")] = "python",
    parent: Annotated[
        Path, typer.Option("--dir", help="Folder to create the plugin folder in.")
    ] = Path(),
) -> None:
    """Scaffold a working plugin: source, params (manifest.in.json) and a test."""
    problem = name_problem(name)
    if problem is None and name in builtin_names():
        problem = "is a built-in node type; built-in names are reserved"
    if problem:
        raise PluginValidationError(name, f"name {problem}")
    target = parent / name
    if target.exists():
        raise PluginError(f"{target} already exists; choose another name or --dir")
    target.mkdir(parents=True)
    for rel, text in scaffold_files(name, kind).items():
        (target / rel).write_text(text, encoding="utf-8")
    next_step = f"aers plugin build {target} && " if kind == "native" else ""
    say(err_console, f"created {target}; next: {next_step}aers plugin sign {target} --key KEY")


@plugin_app.command("build")
def build(plugin_dir: PluginDir) -> None:
    """Compile a native plugin's C++ sources into its folder (then sign it).

    The compiled descriptor is the one source of truth for the parameters: its params are
    written into manifest.in.json (each entry keeps extra keys such as `doc`).
    """
    try:
        from ..native import build_plugin
    except ImportError as err:
        raise PluginError(f"native builds are not available here ({err})") from err
    from ..native._params import sync_source_params

    for path in build_plugin(plugin_dir):
        say(out_console, str(path))
    changes = sync_source_params(plugin_dir)
    if changes:
        say(err_console, f"updated the params of {plugin_dir / SOURCE_FILE} from the descriptor:")
        for change in changes:
            say(err_console, f"  {change}")


@plugin_app.command("sign")
def sign(
    plugin_dir: PluginDir,
    key: SigningKey,
    expires: ExpiresDays = 365,
    passphrase: PassphrasePrompt = False,
    passphrase_env: PassphraseEnv = None,
) -> None:
    """Hash every file and write the signed manifest.json from manifest.in.json.

    A manifest `aers plugin verify` would refuse for what it declares (reserved name, entry
    suffix, sandboxed native plugin, inconsistent params) is refused before anything is
    signed or written, every problem on its own line; so is Python code the sandbox would
    refuse (every file, every problem), and a native library whose descriptor params differ
    from manifest.in.json's.
    """
    source = read_plugin_dir(plugin_dir)
    if SOURCE_FILE not in source.files:
        raise ManifestError(f"{plugin_dir}: no {SOURCE_FILE} (aers plugin new scaffolds one)")
    signed = prepare_signed(
        source.files[SOURCE_FILE],
        source.files,
        now=datetime.now(UTC),
        days=expires,
        reserved=builtin_names(),
    )
    _check_code(signed.name, signed.kind, signed.entry, source.files)
    key_bytes = read_key_file(key, PluginError)
    secret = read_passphrase(passphrase_env, prompt=passphrase)
    private = load_private_key(key_bytes, secret, source=str(key))
    data = seal(signed, private)
    atomic_write(plugin_dir / MANIFEST_FILE, data, mode=0o644)
    keyid = key_id(private.public_key())
    written = plugin_dir / MANIFEST_FILE
    say(err_console, f"signed {written}: {len(source.files)} files, key {keyid}")
    if keyid not in load_keyring().keys:
        say(err_console, "note: this key is not trusted here yet (aers keys trust PUBFILE)")


def _check_code(name: str, kind: str, entry: str, files: Mapping[str, bytes]) -> None:
    """Refuse code no host would run: sandbox refusals, or params the descriptor denies.

    Raises:
        PluginValidationError: every problem, one per line.
    """
    if kind == "python":
        from ..sandbox import check_plugin_files

        check_plugin_files(name, files)
    if kind != "native":
        return
    from ..native._params import library_params, params_mismatch

    library = files.get(entry.split(":", 1)[0])
    if library is None:
        return  # prepare_signed names the missing entry file
    try:
        described = library_params(name, entry, library)
    except PluginError:
        return  # not loadable here: verify and install refuse it with the loader's reason
    source = json.loads(files[SOURCE_FILE]) if SOURCE_FILE in files else {}
    problems = params_mismatch(source.get("params") or [], described, every=False)
    if problems:
        fix = "run `aers plugin build` to copy the descriptor's params into manifest.in.json"
        raise host_error(name, [*problems, fix])


@plugin_app.command("verify")
def verify(plugin_dir: PluginDir) -> None:
    """Check signature, every file, expiry, name and code; exit 1 listing every problem."""
    plugin = PluginStore(reserved=builtin_names()).verify_dir(plugin_dir)
    if plugin.kind == "python":
        from ..sandbox import check_plugin_files

        check_plugin_files(plugin.name, plugin.files)
    say(
        out_console,
        f"✓ {plugin.name} {plugin.version} ({plugin.kind}, {plugin.isolation}): "
        f"{len(plugin.files)} files verified, signed by {plugin.keyid}",
    )


@plugin_app.command("test")
def test_plugin(plugin_dir: PluginDir) -> None:
    """Run the plugin's own tests (its test_*.py) with pytest; exit 1 if any fails.

    A Python plugin is first loaded as its tests load it (aers_host.plugin_api.load_plugin_dir:
    the sandbox's compile policy, every problem listed). pytest runs in the plugin folder
    without writing bytecode or a cache, so nothing is left to sign by accident.
    """
    import importlib.util
    import os
    import subprocess
    import sys

    from ..sandbox._lint import is_test_file

    plugin_dir = plugin_dir.resolve()
    tests = sorted(p for p in plugin_dir.glob("*.py") if is_test_file(p.name))
    if not tests:
        raise PluginError(f"{plugin_dir}: no test_*.py to run (aers plugin new scaffolds one)")
    if importlib.util.find_spec("pytest") is None:
        raise PluginError("pytest is not installed here; install it: pip install pytest")
    if _source_kind(plugin_dir) == "python":
        from ..sandbox import load_plugin_dir

        load_plugin_dir(plugin_dir)  # every sandbox refusal, listed, before any test runs
    command = [sys.executable, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-c", os.devnull, "--rootdir", str(plugin_dir), *map(str, tests)]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    status = subprocess.run(command, cwd=plugin_dir, env=env, check=False).returncode  # noqa: S603
    if status != 0:
        raise PluginError(f"{plugin_dir}: the plugin's tests did not pass (pytest exit {status})")


def _source_kind(plugin_dir: Path) -> str:
    """``kind`` from the folder's manifest.in.json ("" when it has none or is unreadable)."""
    try:
        source = json.loads((plugin_dir / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(source.get("kind", "")) if isinstance(source, dict) else ""


UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Running `aers serve` (default: the one in serve.json)."),
]
TokenOpt = Annotated[str | None, typer.Option("--token", help="The server's token.")]


@plugin_app.command("install")
def install(
    plugin_dir: PluginDir,
    notify: Annotated[
        str | None,
        typer.Option("--notify", help="Server URL to hot-reload in (default: a running one)."),
    ] = None,
    no_notify: Annotated[
        bool, typer.Option("--no-notify", help="Do not tell a running server.")
    ] = False,
    token: TokenOpt = None,
    allow_downgrade: Annotated[
        bool,
        typer.Option(
            "--allow-downgrade",
            help="Install even if older than the installed copy or than a version "
            "installed before and removed (lowers the plugin's version floor).",
        ),
    ] = False,
) -> None:
    """Verify a signed plugin folder and install it into the store atomically.

    A running `aers serve` (announced in serve.json, or --notify URL) then hot-reloads it.
    """
    store = PluginStore(reserved=builtin_names() | entry_point_names())
    plugin = store.install(plugin_dir, check=_runnable, allow_downgrade=allow_downgrade)
    say(
        out_console, f"installed {plugin.name} {plugin.version} ({plugin.kind}, {plugin.isolation})"
    )
    if no_notify or (notify is None and running_server() is None):
        return
    _reload(plugin.name, notify, token)


def _runnable(plugin: VerifiedPlugin) -> None:
    """A plugin no graph could run is not installed.

    Python: files the sandbox would refuse (every problem listed). Native: the library's
    ABI, entry symbol and descriptor. LV2: the signed port layout (its code is only ever
    loaded in the node's worker, or in-process on the node's say).
    """
    if plugin.kind == "python":
        from ..sandbox import check_plugin_files

        check_plugin_files(plugin.name, plugin.files)
    elif plugin.kind == "native":
        from ..native import open_library

        open_library(plugin)
    elif plugin.kind == "lv2":
        from ..lv2 import Lv2Section

        Lv2Section.from_manifest(plugin.lv2_section, plugin.param_dicts, plugin.name)


@plugin_app.command("reload")
def reload(
    name: Annotated[str, typer.Argument(help="Installed plugin name.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Hot-reload the installed NAME in a running server (verify, swap, roll back on failure)."""
    _reload(name, url, token)


def _reload(name: str, url: str | None, token: str | None) -> None:
    """Ask the server to reload ``name``; exit 1 when refused or rolled back."""
    target, secret = resolve(url, token)
    status, answer = call(target, f"/api/plugins/{name}/reload?who=cli", secret, {})
    if status != 200:
        raise PluginError("\n".join(f"reload refused: {p}" for p in problems_of(status, answer)))
    result = answer.get("status")
    version, previous = answer.get("version"), answer.get("previous") or "?"
    if result == "rollback_failed":
        raise PluginError(f"{name} {version} failed probation and could not be rolled back: "
                          f"{answer.get('reason')}")  # fmt: skip
    if result == "rolled_back":
        raise PluginError(
            f"{name} {version} rolled back to {previous}: {answer.get('reason')} "
            "(the old version keeps running)"
        )
    nodes = ", ".join(answer.get("nodes") or []) or "no nodes"
    if result == "unchanged":
        say(out_console, f"{name} {version} already running at {target}")
    else:
        say(
            out_console,
            f"reloaded {name} {previous} → {version} at {target} ({nodes}; "
            f"sample {answer.get('sample')}, state: {answer.get('handover') or {}})",
        )


@plugin_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Installed plugin name.")]) -> None:
    """Uninstall a plugin from the store."""
    PluginStore(reserved=builtin_names()).remove(name)
    say(err_console, f"removed {name}")


#: Printed under ``aers plugin list`` when an author's isolation request was not granted.
ISOLATION_RULE = (
    "isolation is the user's choice: a manifest's in-process holds only for a key trusted "
    "for native code (aers keys trust --scope native|all); otherwise the plugin runs "
    "sandboxed with a deadline unless the config grants one node `isolation: in-process` "
    "(docs/plugins.md, Isolation)"
)


def plugin_rows(registry: NodeRegistry) -> list[dict[str, Any]]:
    """One row per node type from every source, for ``aers plugin list``."""
    rows = []
    for name in sorted(registry):
        node_type, source = registry[name], registry.source(name)
        row = {"name": name, "version": "", "kind": "builtin", "isolation": "in-process",
               "keyid": "", "status": "ok", "source": source}  # fmt: skip
        if isinstance(node_type, StorePluginType):
            plugin = node_type.plugin
            row.update(version=plugin.version, kind=plugin.kind, isolation=plugin.isolation,
                       keyid=plugin.keyid, status="verified")  # fmt: skip
            if plugin.requested_isolation is not None:
                row["isolation_requested"] = plugin.requested_isolation
        elif isinstance(node_type, BrokenPluginType):
            row.update(kind="?", isolation="?", status=node_type.summary)
        elif source != "builtin":
            row.update(kind="python-package", status="trusted (pip)")
        rows.append(row)
    for name, reason in sorted(registry.refused.items()):
        source, _, why = reason.partition(": ")
        rows.append({"name": name, "version": "", "kind": "?", "isolation": "?", "keyid": "",
                     "status": f"not loaded: {why}", "source": source})  # fmt: skip
    return rows


@plugin_app.command("list")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Full key ids and the sandbox fences.")
    ] = False,
) -> None:
    """List node types from built-ins, pip packages and the plugin store, re-verified now."""
    rows = plugin_rows(default_registry())
    fences = _fences() if verbose else {}
    if as_json:
        document = {"plugins": rows, "fences": fences} if verbose else rows
        say(out_console, json.dumps(document, indent=2))
        return
    table = Table()
    for column in ("name", "version", "kind", "isolation", "key id", "source", "status"):
        # Nothing is cut at 80 columns: a long name, an isolation note, a full key id
        # (--verbose) or the reason a plugin is unusable folds onto the next line.
        table.add_column(column, overflow="fold")
    for row in rows:
        keyid = row["keyid"] if verbose else row["keyid"][:16]
        isolation = row["isolation"]
        if "isolation_requested" in row:
            isolation += f" (asks {row['isolation_requested']})"
        table.add_row(row["name"], row["version"], row["kind"], isolation, keyid,
                      row["source"], row["status"])  # fmt: skip
    out_console.print(table)
    if any("isolation_requested" in row for row in rows):
        say(out_console, ISOLATION_RULE)
    for fence, state in fences.items():
        say(out_console, f"sandbox fence {fence}: {state}")


def _fences() -> dict[str, str]:
    """Which sandbox fences apply here (``aers_host.sandbox.probe_fences``)."""
    try:
        probe = importlib.import_module("aers_host.sandbox").probe_fences
    except (ImportError, AttributeError) as err:  # the sandbox is optional at this layer
        say(err_console, f"note: sandbox fences unknown ({err})")
        return {}
    return {str(k): str(v) for k, v in probe().items()}
