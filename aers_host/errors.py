"""The one exception hierarchy of AERS.

Every error a user can cause (bad config, untrusted plugin, hostile code) is an
``AersError`` subclass whose ``str()`` is one readable line, so the CLI can print it and
exit 1 without a traceback. Bugs in AERS itself raise ``RuntimeError``/``ValueError`` and
surface as internal errors (exit 3).

Callers catch the domain base class (``TrustError``); tests assert the exact subclass
(``RollbackError``), as python-tuf does.
"""

from __future__ import annotations

from dataclasses import dataclass


class AersError(Exception):
    """Base of every user-facing AERS error; ``str(err)`` is the message to print."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a file, located as precisely as we can.

    Attributes:
        file: the file the problem is in ("" when it has none).
        line: 1-based line number, or 0 when unknown.
        path: dotted JSON path of the offending field ("nodes.eq1.params.freq").
        message: what is wrong.
        hint: how to fix it ("" when there is nothing useful to add).
    """

    file: str
    line: int
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else (self.file or "<config>")
        text = f"{where}: {self.path or '<root>'}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(AersError):
    """A config (or sweep, scene, edit) is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class GraphError(AersError):
    """The graph cannot be planned or run (a problem that only shows when building it)."""


class LimitError(AersError):
    """A value from outside the host (plugin, worker, peer, file) is out of its documented range.

    Raised where the value enters, before anything is sized by it; the limits and who may
    change them are listed in ``docs/plugins.md``, ``docs/remote.md`` and ``docs/feed.md``.

    Attributes:
        node: the node the value belongs to ("" when it has none).
        field: the field that carried it (``latency_samples``).
        value: what arrived (its ``repr`` when it is not a number).
        limit: the documented range, in words (``0…480000 (10 s at 48000 Hz)``).
        shown: ``value`` as messages show it: its ``repr``, cut to 40 characters, so a
            peer's megabyte string is never echoed back whole.
    """

    def __init__(self, node: str, field: str, value: object, limit: str) -> None:
        self.node, self.field, self.value, self.limit = node, field, value, limit
        where = f"node {node!r}: " if node else ""
        shown = repr(value) if not isinstance(value, int) else str(value)
        self.shown = shown if len(shown) <= 40 else shown[:37] + "..."
        super().__init__(f"{where}{field} = {self.shown} is out of range; the limit is {limit}")


class AudioIOError(AersError):
    """An audio file cannot be read or written."""


class AudioDeviceError(AersError):
    """The real-time audio device (JACK) is missing, refuses the graph, or went away."""


class PluginError(AersError):
    """A plugin cannot be found, loaded or run."""


class PluginValidationError(PluginError):
    """A plugin's declarations (params, descriptor, entry point) are invalid.

    Attributes:
        plugin_id: the plugin's name.
    """

    def __init__(self, plugin_id: str, message: str) -> None:
        self.plugin_id = plugin_id
        super().__init__(f"plugin {plugin_id!r}: {message}")


class ManifestError(PluginError):
    """A manifest is malformed: not JSON, duplicate keys, wrong schema, too large."""


class TrustError(PluginError):
    """A plugin failed verification against the keyring."""


class SignatureError(TrustError):
    """No valid signature by a trusted, unrevoked key with the right scope."""


class HashMismatchError(TrustError):
    """A file's bytes do not match the manifest (hash, size, missing or extra file)."""


class RollbackError(TrustError):
    """The plugin's version is lower than the installed one."""


class EqualVersionError(RollbackError):
    """The plugin's version equals the installed one but its content differs."""


class ExpiredError(TrustError):
    """The manifest's ``expires`` time has passed."""


class SandboxError(PluginError):
    """A sandboxed plugin's worker failed."""


class WorkerCrashed(SandboxError):
    """The worker process died or raised."""


class WorkerTimeout(SandboxError):
    """The worker missed its deadline."""


class NativeABIError(PluginError):
    """A native library does not speak the AERS C ABI (missing symbol, wrong version)."""


class SessionError(AersError):
    """A session cannot be saved, loaded or migrated."""


class MissingExtraError(AersError):
    """A command or node type needs an optional extra that is not installed.

    Attributes:
        extra: the extra's name (``serve``, ``remote``, ``batch``, ``dataset``, ``report``,
            ``jack``).
    """

    def __init__(self, what: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs the {extra} extra: pip install 'aers-host[{extra}]'")


class FallbackAudioError(AersError):
    """An offline render played fallback audio for some nodes (the audio is still written).

    Offline output must not depend on luck, so fallback audio is an error unless the caller
    allows it (``--allow-fallback``, ``allow_fallback=True``); see ``docs/architecture.md``,
    *Timing modes*.

    Attributes:
        lines: one line per node, e.g. ``node 'x': failed after 2 restarts (...); its
            fallback played for 1.20 s (57600 samples from sample 4096)``.
        result: what the render produced (a ``RenderResult``), for callers that keep it.
    """

    def __init__(self, lines: list[str], result: object = None) -> None:
        if not lines:
            raise ValueError("FallbackAudioError needs at least one node")
        self.lines = list(lines)
        self.result = result
        super().__init__("\n".join(self.lines))


class AersWarning(UserWarning):
    """Base of AERS warnings (degraded sandbox, changed plugin hash, ...)."""


class SandboxDegradedWarning(AersWarning):
    """A sandbox fence (seccomp, Landlock, net namespace) is not available here."""
