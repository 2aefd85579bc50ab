"""AERS-ABI native plugins in a fenced worker: the host's stage and the worker's runner.

The host never maps the code of a worker-isolated native plugin. It checks the entry and
copies the verified bytes into a sealed memfd (:func:`~aers_host.native.seal_library`);
the worker inherits that descriptor, hashes its bytes against the signed manifest again
and dlopens exactly them (:func:`~aers_host.native.open_sealed`), then drives the plugin
through the same :class:`~aers_host.native.NativeProcessor` an in-process node uses: the
same C ABI, sample-accurate parameter events, state blob and latency.

Because the descriptor is only read in the worker, the host validates a node's params
against the signed manifest; the worker refuses the plugin (the node fails from the start,
named) when the descriptor disagrees with the manifest.

Example:
    >>> # config: nodes: {verb: {type: my-reverb, isolation: per-instance}}  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._processor import ParamEvent, ParamSpec
from ..errors import PluginValidationError
from ..plugins._model import ManifestParam
from ..plugins._verified import VerifiedPlugin
from ..sandbox._options import NodeOptions, StageSpec
from ..sandbox._runtime import MAX_LATENCY, param_ranges
from ._library import NativeParam, SealedLibrary, open_sealed, seal_library
from ._loader import manifest_defaults, node_values
from ._processor import NativeProcessor


def manifest_params(plugin: VerifiedPlugin) -> tuple[NativeParam, ...]:
    """[main-thread] The signed manifest's params in the shape node validation expects."""
    return tuple(
        NativeParam(
            index,
            ParamSpec(p.name, float(p.default), float(p.min), float(p.max), p.unit or ""),
            bool(p.integer or p.toggle),
        )
        for index, p in enumerate(plugin.params)
    )  # fmt: skip


def native_stage(plugin: VerifiedPlugin, params: Mapping[str, Any], opts: NodeOptions) -> StageSpec:
    """[main-thread] The worker stage of a verified native plugin node (nothing is executed).

    Raises:
        PluginValidationError: wrong kind or entry, unknown or out-of-range node params.
        HashMismatchError: the library's bytes differ from the manifest.
        PluginError: no memfd_create on this system.
    """
    loader = {"manifest_params": plugin.param_dicts}
    return sealed_stage(plugin, params, opts, "native", loader)


def sealed_stage(
    plugin: VerifiedPlugin,
    params: Mapping[str, Any],
    opts: NodeOptions,
    kind: str,
    loader: Mapping[str, Any],
) -> StageSpec:
    """[main-thread] A worker stage whose code the worker maps from a sealed memfd.

    Shared by the native kinds (``native``, ``lv2``): node params are checked against the
    signed manifest, the library is sealed, and ``loader`` (the kind's own data) is sent
    beside the memfd number, its sha256 and the entry symbol.

    Raises:
        PluginValidationError: wrong kind or entry, unknown or out-of-range node params.
        HashMismatchError: the library's bytes differ from the manifest.
        PluginError: no memfd_create on this system.
    """
    declared = manifest_params(plugin)
    values = {p.spec.name: p.spec.default for p in declared}
    values.update(node_values(plugin.name, params, declared))
    sealed = seal_library(plugin, kind=kind)
    return StageSpec(
        name=plugin.name,
        filename=sealed.lib_file,
        class_name=sealed.symbol,
        source=b"",
        params=values,
        ranges=param_ranges(plugin.param_dicts),
        fallback=opts.fallback,
        kind=kind,
        loader={
            **loader,
            "plugin": plugin.name,
            "fd": sealed.fd,
            "sha256": sealed.sha256,
            "symbol": sealed.symbol,
        },
        fds=(sealed.fd,),
    )


class NativeRunner:
    """[worker main-thread] One native plugin instance driven the way the worker drives stages.

    Attributes:
        latency_samples: the plugin's latency once prepared (bounded by ``MAX_LATENCY``).
        params: current parameter values (the host's mirror is authoritative).
    """

    def __init__(self, processor: NativeProcessor, names: Sequence[str]) -> None:
        self._proc = processor
        self._names = tuple(names)
        self.params: dict[str, float] = {}
        self.latency_samples = 0

    @classmethod
    def from_stage(cls, stage: Mapping[str, Any]) -> NativeRunner:
        """[worker main-thread] Re-hash and dlopen the inherited memfd; check the descriptor.

        Raises:
            HashMismatchError: the memfd's bytes are not the signed ones.
            NativeABIError: dlopen, entry symbol or ABI version failed.
            PluginValidationError: the descriptor disagrees with the signed manifest.
        """
        loader = stage["loader"]
        name = str(loader["plugin"])
        sealed = SealedLibrary(
            int(loader["fd"]), str(loader["sha256"]), str(stage["filename"]), str(loader["symbol"])
        )
        library = open_sealed(name, sealed)
        manifest = tuple(
            ManifestParam.from_dict(p, f"manifest_params.{i}")
            for i, p in enumerate(loader["manifest_params"])
        )
        values = manifest_defaults(name, manifest, library.params)
        values.update({str(k): float(v) for k, v in dict(stage["params"]).items()})
        runner = cls(NativeProcessor(library, values), list(stage["ranges"]))
        runner.params = dict(values)
        return runner

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Create the plugin instance; read and bound its latency.

        Raises:
            PluginValidationError: a latency beyond ``MAX_LATENCY``.
        """
        self._proc.prepare(sample_rate, max_block, channels)
        latency = int(self._proc.latency_samples)
        if not 0 <= latency <= MAX_LATENCY:
            raise PluginValidationError(
                self._proc.plugin_id, f"latency {latency} is outside [0, {MAX_LATENCY}] samples"
            )
        self.latency_samples = latency

    def reset(self) -> None:
        """[main-thread] Clear the plugin's delay lines and filter memories."""
        self._proc.reset()

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Parameter values plus the plugin's state blob (base64)."""
        return self._proc.get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """[main-thread] Restore what :meth:`get_state` returned (or only the params)."""
        self._proc.set_state(dict(state))

    def process_block(
        self, inp: Any, out: Any, start: int, events: Sequence[tuple[int, int, float]]
    ) -> None:
        """[audio-thread & processing] One block; events become sample-accurate ABI events."""
        names = self._names
        changes = [
            ParamEvent(offset, names[index], value)
            for offset, index, value in events
            if 0 <= index < len(names)
        ]
        self._proc.process(inp, out, start, changes)
