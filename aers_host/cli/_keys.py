"""``aers keys``: make signing keys and decide which public keys to trust.

Trust decisions live in the keyring (``$AERS_HOME/keyring.json`` or the user config dir);
nothing is trusted because it sits in a folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .._paths import keys_dir
from ..errors import TrustError
from ..plugins import load_keyring, save_keyring, write_keypair
from ..plugins._keyring import Scope
from ..plugins._keys import read_key_file
from ._app import app, err_console, out_console

keys_app = typer.Typer(
    help="Make Ed25519 signing keys and manage which public keys are trusted.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

PassphraseEnv = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env",
        metavar="VAR",
        help="Read the passphrase from environment variable VAR (for scripts).",
    ),
]


def say(console: Console, text: str) -> None:
    """Print plain text: no markup (paths may hold brackets), no wrapping inside a line."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def read_passphrase(env_var: str | None, *, prompt: bool, confirm: bool = False) -> bytes | None:
    """The passphrase from ``$env_var``, or typed at a hidden prompt when asked for.

    Passphrases never come from argv: other users can read a process's command line.

    Raises:
        TrustError: ``env_var`` is named but not set.
    """
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise TrustError(f"environment variable {env_var} is not set or empty")
        return value.encode("utf-8")
    if prompt:
        text: str = typer.prompt("passphrase", hide_input=True, confirmation_prompt=confirm)
        return text.encode("utf-8") or None
    return None


@keys_app.command("generate")
def generate(
    name: Annotated[str, typer.Argument(help="File stem: writes NAME.key.pem and NAME.pub.pem.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the key files (default: keyring dir).")
    ] = None,
    passphrase: Annotated[
        bool, typer.Option("--passphrase", help="Encrypt the private key; prompts for it.")
    ] = False,
    passphrase_env: PassphraseEnv = None,
) -> None:
    """Generate an Ed25519 key pair (private key mode 0600) and print its key id."""
    secret = read_passphrase(passphrase_env, prompt=passphrase, confirm=True)
    files = write_keypair(name, out or keys_dir(), secret)
    say(err_console, f"private key: {files.private} (keep it secret)")
    say(err_console, f"public key:  {files.public}")
    say(out_console, files.keyid)


@keys_app.command("trust")
def trust(
    pubfile: Annotated[Path, typer.Argument(help="PEM public key (NAME.pub.pem).")],
    scope: Annotated[
        Scope,
        typer.Option(
            "--scope", help="What the key may sign: python, native (runs in-process!) or all."
        ),
    ],
    name: Annotated[str | None, typer.Option("--name", help="Label (default: file stem).")] = None,
) -> None:
    """Trust a public key for signing plugins of the given scope."""
    pem = read_key_file(pubfile, TrustError)
    label = name or pubfile.name.removesuffix(".pem").removesuffix(".pub")
    ring = load_keyring().with_key(pem, scope, label)
    save_keyring(ring)
    keyid = next(k for k, v in ring.keys.items() if v.public_pem == pem.decode("ascii"))
    say(err_console, f"trusted {label} for {scope}")
    say(out_console, keyid)


@keys_app.command("revoke")
def revoke(keyid: Annotated[str, typer.Argument(help="Key id (64 hex digits).")]) -> None:
    """Revoke a key id: its signatures stop counting now, for good."""
    ring = load_keyring()
    known = keyid in ring.keys
    save_keyring(ring.with_revoked(keyid))
    note = "" if known else " (it was not trusted; revoked ahead of time)"
    say(err_console, f"revoked {keyid}{note}")


@keys_app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List trusted and revoked keys."""
    ring = load_keyring()
    rows = [
        {"keyid": k.keyid, "name": k.name, "scope": k.scope, "status": ring.status(k.keyid)}
        for k in sorted(ring.keys.values(), key=lambda k: k.name)
    ] + [
        {"keyid": r, "name": "", "scope": "", "status": "revoked"}
        for r in sorted(ring.revoked - set(ring.keys))
    ]
    if as_json:
        say(out_console, json.dumps(rows, indent=2))
        return
    table = Table("key id", "name", "scope", "status")
    for row in rows:
        table.add_row(row["keyid"], row["name"], row["scope"], row["status"])
    out_console.print(table)
