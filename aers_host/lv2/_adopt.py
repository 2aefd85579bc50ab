"""``aers plugin adopt``: turn an installed LV2 bundle into an ordinary signed plugin folder.

What lilv read (:class:`~._lilv.Lv2Description`) is checked here without touching the disk
(:func:`plan_adoption`); every reason to refuse is collected, one line each:

* instruments (``lv2:InstrumentPlugin``), plugins without audio input, MIDI or event
  ports, and required atom/CV ports — AERS hosts audio effects, driven by parameters;
* audio layouts other than 1→1 or 2→2;
* required host features this host does not offer (:data:`~._abi.SUPPORTED_FEATURES`);
* control symbols that are not valid AERS parameter names, too many controls;
* a library outside the bundle.

GUIs are never adopted: UI binaries are left out of the copy (and reported).

:func:`adopt_bundle` then copies the bundle's other files into a staging folder, writes
``manifest.in.json`` (so ``aers plugin sign`` can re-sign it), signs ``manifest.json`` with
the given key and renames the folder into place: a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import PluginError, PluginValidationError
from ..plugins._manifest import MANIFEST_FILE, SOURCE_FILE, prepare_signed, seal
from . import _abi
from ._lilv import Lv2Description, PortInfo
from ._section import AtomPort, Lv2Section

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: The entry symbol every LV2 library exports.
ENTRY_SYMBOL: Final = "lv2_descriptor"
#: Most controls one adopted plugin may declare (the manifest's params cap).
MAX_CONTROLS: Final = 512
#: Atom buffer size when the port declares none; and the most one may ask for.
DEFAULT_ATOM_BYTES: Final = 8192
MAX_ATOM_BYTES: Final = 1 << 20
_PARAM_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LATENCY: Final = "http://lv2plug.in/ns/lv2core#latency"


@dataclass(frozen=True, slots=True)
class Adoption:
    """What adopting one plugin writes: the manifest source and the files to copy.

    Attributes:
        source: the ``manifest.in.json`` document (kind ``lv2``, params, lv2 section).
        files: relative path in the plugin folder → file to copy from the bundle.
        notes: what was left out and why (UI binaries, unconnected optional ports).
    """

    source: Mapping[str, Any]
    files: Mapping[str, Path]
    notes: tuple[str, ...]


def plan_adoption(desc: Lv2Description, name: str, version: str = "1.0.0") -> Adoption:
    """[main-thread] Check ``desc`` and plan the plugin folder (reads the bundle's listing).

    Raises:
        PluginValidationError: every reason the plugin cannot be hosted, one per line.
    """
    problems: list[str] = []
    notes: list[str] = []
    if desc.is_instrument:
        problems.append("is an instrument (lv2:InstrumentPlugin); AERS hosts audio effects only")
    audio_in = [p for p in desc.ports if p.type == "audio" and p.direction == "input"]
    audio_out = [p for p in desc.ports if p.type == "audio" and p.direction == "output"]
    if not audio_in:
        problems.append("has no audio input (a generator or instrument); AERS hosts effects")
    elif len(audio_in) != len(audio_out) or len(audio_in) > 2:
        problems.append(
            f"has {len(audio_in)} audio input(s) and {len(audio_out)} output(s); AERS maps "
            "mono (1→1) and stereo (2→2) effects"
        )
    missing = sorted(set(desc.required_features) - _abi.SUPPORTED_FEATURES)
    if missing:
        problems.append(f"requires host feature(s) AERS does not offer: {', '.join(missing)}")
    controls: dict[str, int] = {}
    params: list[dict[str, Any]] = []
    outputs: list[int] = []
    atoms: list[AtomPort] = []
    latency: int | None = None
    for port in desc.ports:
        if port.type == "audio":
            continue
        if port.type == "control" and port.direction == "input":
            problem = _param_problem(port)
            if problem:
                problems.append(problem)
                continue
            controls[port.symbol] = port.index
            params.append(param_of(port))
        elif port.type == "control":
            outputs.append(port.index)
            if "latency" in port.properties or port.designation == _LATENCY:
                latency = port.index if latency is None else latency
        else:
            atom = _other_port(port, problems, notes)
            if atom is not None:
                atoms.append(atom)
    if len(params) > MAX_CONTROLS:
        problems.append(f"has {len(params)} control inputs; at most {MAX_CONTROLS} are hosted")
    files = _bundle_files(desc, problems, notes)
    if problems:
        raise PluginValidationError(name, "\n".join(f"cannot adopt <{desc.uri}>: {p}"
                                                    for p in problems))  # fmt: skip
    section = Lv2Section(
        uri=desc.uri,
        audio_in=tuple(p.index for p in audio_in),
        audio_out=tuple(p.index for p in audio_out),
        controls=controls,
        outputs=tuple(outputs),
        latency_port=latency,
        atom_ports=tuple(atoms),
        state=desc.has_state,
    )
    library = desc.library.resolve().relative_to(desc.bundle.resolve()).as_posix()
    source = {
        "name": name,
        "version": version,
        "kind": "lv2",
        "entry": f"{library}:{ENTRY_SYMBOL}",
        "isolation": "sandbox",
        "description": f"{desc.name} (LV2 <{desc.uri}>)"[:300],
        "params": params,
        "lv2": section.to_dict(),
    }
    return Adoption(source, files, tuple(notes))


def _param_problem(port: PortInfo) -> str | None:
    if not _PARAM_NAME.match(port.symbol):
        return (
            f"control port {port.symbol!r} is not a valid AERS parameter name "
            "([a-z][a-z0-9_]{0,39})"
        )
    return None


def param_of(port: PortInfo) -> dict[str, Any]:
    """[any-thread] The manifest param of a control input port (LV2 symbol as its name).

    A missing bound is taken from the default (or 0 and 1); a default outside the bounds
    is clamped into them, as LV2 hosts do.
    """
    default = port.default if port.default is not None else (port.minimum or 0.0)
    low = port.minimum if port.minimum is not None else min(default, 0.0)
    high = port.maximum if port.maximum is not None else max(default, 1.0)
    low, high = min(low, high), max(low, high)
    param: dict[str, Any] = {
        "name": port.symbol,
        "default": min(max(default, low), high),
        "min": low,
        "max": high,
        "doc": port.name[:200],
    }
    if port.unit:
        param["unit"] = port.unit[:16]
    if "toggled" in port.properties:
        param["toggle"] = True
    if "integer" in port.properties:
        param["integer"] = True
    if "enumeration" in port.properties and port.scale_points:
        param["enum"] = [{"value": v, "label": label[:64]} for v, label in port.scale_points[:256]]
    return param


def _other_port(port: PortInfo, problems: list[str], notes: list[str]) -> AtomPort | None:
    """An atom/CV/event port: refused unless optional and free of MIDI."""
    if port.supports_midi or port.type == "event":
        problems.append(f"port {port.symbol!r} carries MIDI/events; MIDI ports are not supported")
        return None
    optional = "optional" in port.properties
    if port.type == "atom" and optional:
        size = max(port.min_size, DEFAULT_ATOM_BYTES)
        if size > MAX_ATOM_BYTES:
            problems.append(
                f"atom port {port.symbol!r} wants {size} bytes (at most {MAX_ATOM_BYTES})"
            )
            return None
        return AtomPort(port.index, port.direction == "output", size)
    if optional:
        notes.append(f"optional {port.type} port {port.symbol!r} left unconnected")
        return None
    problems.append(f"port {port.symbol!r} is a required {port.type} port; AERS cannot feed it")
    return None


def _bundle_files(desc: Lv2Description, problems: list[str], notes: list[str]) -> dict[str, Path]:
    """Every regular file of the bundle to copy, by relative path (UI binaries left out)."""
    root = desc.bundle.resolve()
    if not root.is_dir():
        problems.append(f"bundle {desc.bundle} is not a folder")
        return {}
    library = desc.library.resolve()
    if not library.is_relative_to(root):
        problems.append(f"library {desc.library} lies outside the bundle {root}")
    skipped = {p.resolve() for p in desc.ui_binaries}
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.is_dir():
            continue
        real = path.resolve()
        if not real.is_relative_to(root) or not real.is_file():
            problems.append(f"{rel} is a link out of the bundle or not a regular file")
            continue
        if real in skipped:
            notes.append(f"GUI {rel.as_posix()} not adopted (AERS hosts no plugin GUIs)")
            continue
        files[rel.as_posix()] = real
    return files


def adopt_bundle(
    adoption: Adoption,
    out: Path,
    key: Ed25519PrivateKey,
    *,
    reserved: frozenset[str] = frozenset(),
    days: int = 365,
    now: datetime | None = None,
) -> Path:
    """[main-thread] Write the signed plugin folder ``out`` atomically; return it.

    Raises:
        PluginError: ``out`` already exists, or a bundle file cannot be read.
        ManifestError: the manifest cannot be built (see ``prepare_signed``).
        PluginValidationError: the manifest fails the host-compatibility check.
    """
    if out.exists():
        raise PluginError(f"{out} already exists; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        data: dict[str, bytes] = {}
        for rel, src in adoption.files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                data[rel] = src.read_bytes()
            except OSError as err:
                raise PluginError(f"cannot read {src}: {err.strerror}") from err
            target.write_bytes(data[rel])
        source = (json.dumps(adoption.source, indent=2, sort_keys=True) + "\n").encode()
        (staging / SOURCE_FILE).write_bytes(source)
        data[SOURCE_FILE] = source
        signed = prepare_signed(
            source, data, now=now or datetime.now(UTC), days=days, reserved=reserved
        )
        (staging / MANIFEST_FILE).write_bytes(seal(signed, key))
        staging.chmod(0o755)  # mkdtemp's 0700 is for the staging only
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
