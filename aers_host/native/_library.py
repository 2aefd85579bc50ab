"""Open a verified native plugin library: memfd, re-hash, dlopen, ABI check, descriptor check.

Verification order of :func:`open_library` (as docs/plugins.md, "5. Verify", orders a
manifest's checks; each step refuses with its own error):

1. Precondition: ``kind`` is ``native`` and ``entry`` names ``lib.so:symbol``.
2. The manifest records a sha256 and size for the entry file (else the bytes are unvouched).
3. The verified bytes are written to a private, close-on-exec ``memfd`` that is then sealed
   (no write, grow, shrink), so nothing — not even a process that can open
   ``/proc/<pid>/fd/N`` — can change them afterwards.
4. The bytes are hashed against the manifest, and again as read *back from the memfd*
   before dlopen: what is executed is exactly what was signed (``HashMismatchError``).
5. ``dlopen("/proc/self/fd/N", RTLD_NOW | RTLD_LOCAL)``. The plugin directory is never opened:
   a file swapped there after verification is never read.
6. The entry symbol exists (``NativeABIError``) and returns a non-NULL entry.
7. Only the leading ``aers_version_t`` is read, and the major version must match ours
   (``NativeABIError``); the rest of the struct belongs to the major it announces.
8. Every function pointer is set; the descriptor exists and speaks a compatible version.
9. Descriptor parameters are sane: at most ``AERS_MAX_PARAMS``, unique identifier names,
   unique ids, finite ``min <= default <= max`` (``PluginValidationError``, all problems at once).

A memfd stays open for the life of the process once its library is loaded: glibc recognises
an already-loaded library by path, so a reused ``/proc/self/fd/N`` could otherwise make a later
dlopen return an earlier plugin. Libraries are cached by verified sha256, so loading the same
plugin again opens nothing new.

Steps 1-4 (:func:`seal_library`) run in the host; steps 4-9 (:func:`open_sealed`) run where
the code will execute: in the host for ``isolation: in-process``, or in a fenced worker that
inherits the sealed memfd (``aers_host.native._stage``) — so the host of a worker-
isolated plugin never maps its code at all.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import math
import os
import re
import threading
from dataclasses import dataclass
from typing import Final, final

from .._processor import ParamSpec
from ..errors import HashMismatchError, NativeABIError, PluginError, PluginValidationError
from ..plugins._verified import VerifiedPlugin
from . import _abi

_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_SEALS: Final = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


@dataclass(frozen=True, slots=True)
class NativeParam:
    """A descriptor parameter: its ABI id, its spec (name, range, default, unit), stepping."""

    id: int
    spec: ParamSpec
    stepped: bool


@final
class NativeLibrary:
    """A loaded, ABI-checked library and its validated descriptor (shared by instances).

    Attributes:
        plugin_id: the manifest name, for messages.
        entry: the plugin's function table (static in the library).
        descriptor_id: the descriptor's reverse-DNS id.
        version: the ABI version the plugin announced.
        params: descriptor parameters in declaration order.
    """

    __slots__ = ("_cdll", "_fd", "descriptor_id", "entry", "params", "plugin_id", "version")

    def __init__(
        self,
        plugin_id: str,
        cdll: ctypes.CDLL,
        fd: int,
        entry: _abi.PluginEntry,
        descriptor_id: str,
        params: tuple[NativeParam, ...],
    ) -> None:
        self.plugin_id = plugin_id
        self._cdll = cdll  # keeps the mapping alive: ctypes never dlcloses
        self._fd = fd  # keeps /proc/self/fd/N from being reused (see module docstring)
        self.entry = entry
        self.version = str(entry.abi_version)
        self.descriptor_id = descriptor_id
        self.params = params

    def extension(self, ext_id: bytes) -> int | None:
        """[thread-safe] Address of extension ``ext_id`` ("aers.tail/1"), None if unsupported."""
        address = self.entry.get_extension(ext_id)
        return int(address) if address else None


_LOCK: Final = threading.Lock()
_LOADED: dict[str, ctypes.CDLL] = {}


def open_library(plugin: VerifiedPlugin) -> NativeLibrary:
    """[main-thread] Load ``plugin``'s entry library from its verified bytes (see module doc).

    Args:
        plugin: a verified native plugin; only ``plugin.files`` bytes are used.

    Returns:
        The library with its entry table and validated descriptor parameters.

    Raises:
        PluginValidationError: wrong kind or entry string, or invalid descriptor parameters.
        HashMismatchError: the entry file is unlisted, or its bytes differ from the manifest.
        NativeABIError: dlopen failed, the entry symbol is missing, or the ABI is incompatible.
        PluginError: this system has no memfd_create.
    """
    sealed = seal_library(plugin)  # steps 1-4
    return open_sealed(plugin.name, sealed)  # steps 4-9


@dataclass(frozen=True, slots=True)
class SealedLibrary:
    """A verified library's bytes in a sealed memfd, ready to be dlopened here or in a worker.

    Attributes:
        fd: the sealed, close-on-exec memfd (kept open for the life of the process).
        sha256: the manifest's hash of the bytes, checked again by whoever dlopens them.
        lib_file: the library's path in the plugin folder, for messages.
        symbol: the entry symbol to look up.
    """

    fd: int
    sha256: str
    lib_file: str
    symbol: str


_SEALED: dict[str, int] = {}


def seal_library(plugin: VerifiedPlugin, kind: str = "native") -> SealedLibrary:
    """[main-thread] Steps 1-4: check ``plugin``'s entry and copy its bytes into a sealed memfd.

    Nothing is executed: a worker (or :func:`open_sealed` here) dlopens the copy later. Sealed
    copies are cached by sha256, so every node of one plugin shares one descriptor.

    Args:
        plugin: the verified plugin.
        kind: the manifest kind this loader expects (``native`` or ``lv2``).

    Raises:
        PluginValidationError: wrong kind or entry string.
        HashMismatchError: the entry file is unlisted, or its bytes differ from the manifest.
        PluginError: this system has no memfd_create.
    """
    # Step 1: precondition.
    if plugin.kind != kind:
        raise PluginValidationError(plugin.name, f"kind is {plugin.kind!r}, expected {kind!r}")
    _split_entry(plugin.name, plugin.entry)
    # Step 2: the manifest vouches for the entry file.
    records = plugin.manifest.files if plugin.manifest is not None else {}
    record = records.get(plugin.entry_file)
    if record is None:
        raise HashMismatchError(
            f"plugin {plugin.name!r}: {plugin.entry_file} has no sha256 in the manifest; "
            "refusing to load"
        )
    data = plugin.files.get(plugin.entry_file)
    if data is None:
        raise HashMismatchError(
            f"plugin {plugin.name!r}: verified bytes of {plugin.entry_file} missing"
        )
    return seal_bytes(plugin.name, plugin.entry, data, record.sha256.lower())


def seal_bytes(name: str, entry: str, data: bytes, expected: str) -> SealedLibrary:
    """[main-thread] Steps 1, 3-4 for library bytes whose sha256 ``expected`` is vouched for.

    :func:`seal_library` passes the manifest's hash; describing a library before it is
    signed (``aers plugin build``) passes the hash of the bytes just read.

    Args:
        name: the plugin name, for messages.
        entry: ``libname.so:symbol``.
        data: the library's bytes.
        expected: lowercase hex sha256 the bytes must have.

    Raises:
        PluginValidationError: ``entry`` is not ``libname.so:symbol``.
        HashMismatchError: the bytes differ from ``expected``.
        PluginError: this system has no memfd_create.
    """
    lib_file, symbol = _split_entry(name, entry)
    # The bytes handed to us must match even when an identical library is already loaded:
    # a mismatch means the verification chain is broken, and that is always a refusal.
    _check_digest(name, lib_file, hashlib.sha256(data).hexdigest(), expected)
    with _LOCK:
        fd = _SEALED.get(expected)
        if fd is None:
            fd = _SEALED[expected] = _sealed_memfd(name, lib_file, data, expected)
    return SealedLibrary(fd, expected, lib_file, symbol)


def _split_entry(name: str, entry: str) -> tuple[str, str]:
    """``(lib_file, symbol)`` of ``libname.so:symbol``, or a refusal."""
    lib_file, _, symbol = entry.partition(":")
    if not symbol or not lib_file.endswith(".so"):
        raise PluginValidationError(name, f"entry {entry!r} must be 'libname.so:symbol'")
    return lib_file, symbol


def open_sealed(name: str, sealed: SealedLibrary) -> NativeLibrary:
    """[main-thread] Steps 4-9: re-hash the sealed copy, dlopen it, check ABI and descriptor.

    Also what a native worker calls on the memfd it inherited.

    Raises:
        HashMismatchError: the memfd does not hold the bytes the manifest names.
        NativeABIError: dlopen failed, the entry symbol is missing, or the ABI is incompatible.
        PluginValidationError: invalid descriptor parameters.
    """
    cdll = dlopen_sealed(name, sealed)
    entry = _checked_entry(name, cdll, sealed.symbol)  # steps 6-8
    descriptor = entry.get_descriptor().contents
    params = _validated_params(name, descriptor)  # step 9
    descriptor_id = (descriptor.id or b"").decode("utf-8", "replace")
    return NativeLibrary(name, cdll, sealed.fd, entry, descriptor_id, params)


def dlopen_sealed(name: str, sealed: SealedLibrary) -> ctypes.CDLL:
    """[main-thread] Steps 4-5: hash what the memfd holds, then dlopen exactly that; cached.

    Raises:
        HashMismatchError: the memfd's bytes differ from ``sealed.sha256``.
        NativeABIError: dlopen failed.
    """
    with _LOCK:
        cdll = _LOADED.get(sealed.sha256)
        if cdll is not None:
            return cdll
        # Step 4: hash what the memfd now holds, not what was meant to be written.
        digest = hashlib.sha256()
        offset = 0
        while chunk := os.pread(sealed.fd, 1 << 20, offset):
            digest.update(chunk)
            offset += len(chunk)
        _check_digest(name, sealed.lib_file, digest.hexdigest(), sealed.sha256)
        # Step 5: load the memfd, never the plugin folder.
        try:
            cdll = ctypes.CDLL(f"/proc/self/fd/{sealed.fd}", mode=os.RTLD_NOW | os.RTLD_LOCAL)
        except OSError as err:
            raise NativeABIError(
                f"plugin {name!r}: dlopen of {sealed.lib_file} failed: {err} (is it a shared "
                "library built for this machine? rebuild with 'aers plugin build')"
            ) from err
        _LOADED[sealed.sha256] = cdll
        return cdll


def _sealed_memfd(name: str, lib_file: str, data: bytes, expected: str) -> int:
    if not hasattr(os, "memfd_create"):
        raise PluginError(
            f"plugin {name!r}: native plugins need memfd_create (Linux 3.17+) to load from "
            "verified bytes; this system has none"
        )
    fd = os.memfd_create(f"aers-{name}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_digest(name: str, lib_file: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise HashMismatchError(
            f"plugin {name!r}: {lib_file} does not match its manifest sha256 "
            f"(expected {expected[:16]}…, got {actual[:16]}…); refusing to load"
        )


def _checked_entry(name: str, cdll: ctypes.CDLL, symbol: str) -> _abi.PluginEntry:
    try:
        entry_fn = _abi.EntryFn((symbol, cdll))
    except AttributeError as err:
        raise NativeABIError(
            f"plugin {name!r}: entry symbol {symbol!r} is not exported by the library "
            f"(expected 'extern \"C\" AERS_EXPORT const aers_plugin_entry_t *{symbol}(void)')"
        ) from err
    address = entry_fn()
    if not address:
        raise NativeABIError(f"plugin {name!r}: {symbol}() returned NULL")
    version = _abi.Version.from_address(address)
    if not _abi.version_is_compatible(version):
        raise NativeABIError(
            f"plugin {name!r}: built for AERS plugin ABI {version}, this host speaks "
            f"{_abi.VERSION_MAJOR}.x; rebuild it against aers_plugin.h "
            f"{_abi.VERSION_MAJOR}.{_abi.VERSION_MINOR}.{_abi.VERSION_REVISION}"
        )
    entry = _abi.PluginEntry.from_address(address)
    missing = [field for field, _ in _abi.PluginEntry._fields_[1:] if not getattr(entry, field)]
    if missing:
        raise NativeABIError(f"plugin {name!r}: entry has NULL functions: {', '.join(missing)}")
    descriptor_ptr = entry.get_descriptor()
    if not descriptor_ptr:
        raise NativeABIError(f"plugin {name!r}: get_descriptor() returned NULL")
    descriptor_version = descriptor_ptr.contents.abi_version
    if not _abi.version_is_compatible(descriptor_version):
        raise NativeABIError(
            f"plugin {name!r}: descriptor announces ABI {descriptor_version}, this host speaks "
            f"{_abi.VERSION_MAJOR}.x"
        )
    return entry


def _validated_params(name: str, descriptor: _abi.Descriptor) -> tuple[NativeParam, ...]:
    count = int(descriptor.param_count)
    if count > _abi.MAX_PARAMS:
        raise PluginValidationError(
            name, f"descriptor declares {count} parameters (at most {_abi.MAX_PARAMS})"
        )
    if count and not descriptor.params:
        raise PluginValidationError(name, f"descriptor declares {count} parameters but no array")
    problems: list[str] = []
    params: list[NativeParam] = []
    names: set[str] = set()
    ids: set[int] = set()
    for index in range(count):
        info = descriptor.params[index]
        pname = bytes(info.name).split(b"\0", 1)[0].decode("utf-8", "replace")
        where = f"descriptor param #{index} ({pname!r})"
        lo, hi, default = float(info.min_value), float(info.max_value), float(info.default_value)
        problem = _param_problem(pname, lo, hi, default, names, int(info.id), ids)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        names.add(pname)
        ids.add(int(info.id))
        unit = bytes(info.unit).split(b"\0", 1)[0].decode("utf-8", "replace")
        spec = ParamSpec(pname, default, lo, hi, unit)
        params.append(NativeParam(int(info.id), spec, bool(info.flags & _abi.PARAM_IS_STEPPED)))
    if problems:
        raise PluginValidationError(name, "invalid descriptor: " + "; ".join(problems))
    return tuple(params)


def _param_problem(
    pname: str, lo: float, hi: float, default: float, names: set[str], pid: int, ids: set[int]
) -> str | None:
    if not _NAME_RE.match(pname):
        return "name must match [a-z][a-z0-9_]{0,39}"
    if pname in names:
        return "duplicate name"
    if pid in ids:
        return f"duplicate id {pid}"
    if not all(math.isfinite(v) for v in (lo, hi, default)):
        return f"min/max/default must be finite (got {lo}, {hi}, {default})"
    if not lo <= default <= hi:
        return f"needs min <= default <= max (got {lo:g} <= {default:g} <= {hi:g})"
    return None
