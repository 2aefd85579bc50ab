"""A plugin's own tests load it from its authoring folder exactly as the sandbox loads it.

``aers plugin new`` scaffolds a test that calls :func:`load_plugin_dir`: the folder's
``manifest.in.json`` is checked as ``aers plugin sign`` checks it, every Python file as the
sandbox would (:mod:`._lint`), and the entry class is compiled by RestrictedPython and run
in the sandbox's guarded globals by the very :class:`~._runtime.PluginRunner` a worker
uses. Only the process boundary is left out (the test runs in-process), so a plugin that
passes its test cannot then be refused at render for what it is written in.

Nothing here is verified: it is the author's own folder, unsigned, on their machine.

Example:
    >>> plugin = load_plugin_dir("fuzz-box", {"gain_db": -6.0})  # doctest: +SKIP
    >>> plugin.prepare(48000, 64, 1)                              # doctest: +SKIP
    >>> plugin.process_block(inp, out, 0, ())                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from ..errors import PluginError, PluginValidationError
from ..plugins._manifest import SOURCE_FILE, parse_json_strict, prepare_signed
from ._lint import check_plugin_files
from ._runtime import PluginRunner, initial_params, param_ranges


def load_plugin_dir(folder: str | Path, params: Mapping[str, float] | None = None) -> PluginRunner:
    """[main-thread] The Python plugin in ``folder``, compiled and built as the sandbox does.

    Args:
        folder: the plugin's authoring folder (with ``manifest.in.json``).
        params: parameter values; the manifest's defaults fill the rest, and the runner
            clamps them to the declared ranges as the host does.

    Returns:
        The runner: call ``prepare(sample_rate, max_block, channels)``, then
        ``process_block(inp, out, start, ())`` with float32 ``(channels, frames)`` arrays.

    Raises:
        PluginError: no readable ``manifest.in.json``.
        ManifestError: the manifest source is invalid.
        PluginValidationError: a native plugin, or every problem the sandbox would refuse
            the Python files for.
    """
    root = Path(folder)
    try:
        source = (root / SOURCE_FILE).read_bytes()
    except OSError as err:
        raise PluginError(f"{root}: cannot read {SOURCE_FILE}: {err.strerror or err}") from err
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*.py"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    document = parse_json_strict(source, SOURCE_FILE)
    if isinstance(document, dict) and document.get("kind") == "native":
        name = str(document.get("name", root.name))
        raise PluginValidationError(name, "is a native plugin: its test builds and installs it")
    signed = prepare_signed(source, {**files, SOURCE_FILE: source}, now=datetime.now(UTC), days=1)
    check_plugin_files(signed.name, files)
    entry_file, class_name = signed.entry.split(":", 1)
    declared = [p.to_dict() for p in signed.params]
    return PluginRunner(
        files[entry_file],
        entry_file,
        class_name,
        initial_params(declared, params or {}),
        param_ranges(declared),
    )
