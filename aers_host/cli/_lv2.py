"""``aers plugin adopt`` and ``aers plugin discover --lv2``: bring installed LV2 effects in.

``adopt`` reads one bundle's Turtle (lilv), refuses what AERS cannot host with one line per
reason, and writes a signed plugin folder that ``aers plugin verify``/``install`` treat
like any other. ``discover --lv2`` lists what lilv finds on this system, with whether each
plugin could be adopted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .._builtins import builtin_names
from ..errors import PluginError, PluginValidationError
from ..plugins._keys import key_id, load_private_key, read_key_file
from ._app import err_console, out_console
from ._keys import PassphraseEnv, read_passphrase, say
from ._plugin import ExpiresDays, PassphrasePrompt, SigningKey, plugin_app


@plugin_app.command("adopt")
def adopt(
    bundle: Annotated[Path, typer.Argument(help="The LV2 bundle folder (NAME.lv2).")],
    uri: Annotated[str, typer.Option("--uri", help="The plugin's URI in the bundle.")],
    name: Annotated[str, typer.Option("--name", help="Plugin name, its node type in configs.")],
    key: SigningKey,
    out: Annotated[Path, typer.Option("--out", help="Plugin folder to create.")],
    version: Annotated[str, typer.Option("--version", help="Plugin version.")] = "1.0.0",
    expires: ExpiresDays = 365,
    passphrase: PassphrasePrompt = False,
    passphrase_env: PassphraseEnv = None,
) -> None:
    """Copy an LV2 effect's bundle into a signed plugin folder (then verify and install it).

    Instruments, MIDI/event ports, unsupported host features and layouts other than mono or
    stereo are refused, one line per reason; GUIs are left out.
    """
    from ..lv2._adopt import adopt_bundle, plan_adoption
    from ..lv2._lilv import describe_bundle

    if not bundle.is_dir():
        raise PluginError(f"{bundle}: not a folder (an LV2 bundle is a NAME.lv2 folder)")
    if name in builtin_names():
        raise PluginValidationError(name, "name is a built-in node type; choose another --name")
    adoption = plan_adoption(describe_bundle(bundle, uri), name, version)
    secret = read_passphrase(passphrase_env, prompt=passphrase)
    private = load_private_key(read_key_file(key, PluginError), secret, source=str(key))
    folder = adopt_bundle(adoption, out, private, reserved=builtin_names(), days=expires)
    for note in adoption.notes:
        say(err_console, f"note: {note}")
    keyid = key_id(private.public_key())
    say(
        err_console,
        f"adopted <{uri}> as {name} in {folder}: {len(adoption.files)} files, "
        f"{len(adoption.source['params'])} params, signed by {keyid}; next: aers plugin "
        f"install {folder} (the key must be trusted for native: aers keys trust PUB --scope "
        "native)",
    )


def discover_rows() -> list[dict[str, Any]]:
    """Every installed LV2 plugin: URI, name, audio ports, params and adoptability."""
    from ..lv2._adopt import plan_adoption
    from ..lv2._lilv import installed_plugins

    rows: list[dict[str, Any]] = []
    for desc in installed_plugins():
        ports = desc.ports
        row: dict[str, Any] = {
            "uri": desc.uri,
            "name": desc.name,
            "audio_in": sum(p.type == "audio" and p.direction == "input" for p in ports),
            "audio_out": sum(p.type == "audio" and p.direction == "output" for p in ports),
            "params": [p.symbol for p in ports if p.type == "control" and p.direction == "input"],
            "bundle": str(desc.bundle),
        }
        try:
            plan_adoption(desc, "probe")
            row["adoptable"], row["reason"] = True, ""
        except PluginValidationError as err:
            row["adoptable"] = False
            row["reason"] = str(err).splitlines()[0].split(": ", 2)[-1]
        rows.append(row)
    return rows


@plugin_app.command("discover")
def discover(
    lv2: Annotated[bool, typer.Option("--lv2", help="List installed LV2 plugins.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List plugins installed on this system that `aers plugin adopt` can bring in."""
    if not lv2:
        raise typer.BadParameter("say which plugin format to look for: --lv2", param_hint="--lv2")
    rows = discover_rows()
    if as_json:
        say(out_console, json.dumps(rows, indent=2))
        return
    table = Table()
    for column in ("uri", "name", "in", "out", "params", "adoptable"):
        table.add_column(column, overflow="fold")
    for row in rows:
        verdict = "yes" if row["adoptable"] else f"no: {row['reason']}"
        table.add_row(row["uri"], row["name"], str(row["audio_in"]), str(row["audio_out"]),
                      str(len(row["params"])), verdict)  # fmt: skip
    out_console.print(table)
    say(err_console, f"{len(rows)} LV2 plugins; adopt one: aers plugin adopt BUNDLE --uri URI "
                     "--name NAME --key KEY --out DIR")  # fmt: skip
