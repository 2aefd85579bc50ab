"""``load_lv2_plugin``: from a verified ``lv2`` plugin and a node's params to a Processor.

Order (each refusal names the plugin and what was expected):

1. The signed ``lv2`` section is consistent and agrees with the manifest's params.
2. The node's params name known controls with values in range.
3. The library's verified bytes go into a sealed memfd (nothing is executed yet).
4. Isolation is the user's choice (``isolation:`` beside ``params``), never the
   manifest's: ``per-instance`` (the default), ``per-plugin`` or ``shared`` host it in a
   fenced worker; ``in-process`` dlopens it here. Either way the key that signed it is
   trusted for ``native`` (the keyring refuses an LV2 manifest signed by any other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._nodetype import CheckContext
from .._processor import Processor
from ..native._library import SealedLibrary
from ..native._stage import sealed_stage
from ..plugins._verified import VerifiedPlugin
from ..sandbox._host import SandboxedProcessor
from ..sandbox._options import NodeOptions
from ..sandbox._scope import share_key
from ._processor import ControlParam, Lv2Library, Lv2Processor, check_layout
from ._section import Lv2Section

#: Where an LV2 node runs when its config does not say.
DEFAULT_ISOLATION = "per-instance"


class Lv2WorkerProcessor(SandboxedProcessor):
    """A worker-hosted LV2 node that refuses an unmappable channel layout before starting.

    Why a subclass: the node's channel count is only known at ``prepare``, and a layout
    mismatch is the user's configuration error — it must stop the graph build with its
    reason rather than fail the node quietly in the worker.
    """

    section: Lv2Section

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Check the channel layout, then join a worker.

        Raises:
            PluginValidationError: the plugin's audio ports cannot serve ``channels``.
        """
        check_layout(self.stages[0].name, self.section, channels)
        super().prepare(sample_rate, max_block, channels)


def load_lv2_plugin(
    plugin: VerifiedPlugin, params: Mapping[str, Any], ctx: CheckContext
) -> Processor:
    """[main-thread] Build the Processor of a verified LV2 plugin node (see module doc).

    Raises:
        PluginValidationError: an inconsistent lv2 section, unknown or out-of-range node
            params, or bad node options.
        HashMismatchError: the library's bytes differ from the manifest.
        NativeABIError: (in-process) dlopen failed or the library lacks the signed URI.
    """
    label = ctx.node_id or plugin.name
    # Step 1: the signed section, consistent with the signed params.
    section = Lv2Section.from_manifest(plugin.lv2_section, plugin.param_dicts, plugin.name)
    opts = NodeOptions.parse(
        ctx.node_options, DEFAULT_ISOLATION, ctx.sample_rate, ctx.block_size, label
    )
    loader = {"section": section.to_dict(), "manifest_params": plugin.param_dicts}
    stage = sealed_stage(plugin, params, opts, "lv2", loader)  # steps 2-3
    if opts.isolation == "in-process":  # step 4
        controls = [ControlParam.from_manifest(p, section.controls[str(p["name"])])
                    for p in plugin.param_dicts]  # fmt: skip
        sealed = SealedLibrary(stage.fds[0], str(stage.loader["sha256"]), stage.filename,
                               stage.class_name)  # fmt: skip
        library = Lv2Library(plugin.name, sealed, section.uri)
        return Lv2Processor(library, section, controls, stage.params)
    proc = Lv2WorkerProcessor([stage], opts, label, share_key(plugin, opts.isolation))
    proc.section = section
    return proc
