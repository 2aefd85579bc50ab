"""InProcessProcessor: the same RestrictedPython-compiled plugin, run in the host process.

For trusted authors who want speed (``isolation: in-process``): the language-level
restrictions are identical to the sandbox (same compiler, same guarded globals, same
facades), but there are no OS fences and no deadline enforcement — a plugin that loops
forever stalls the engine. What is kept: exceptions and NaN/Inf are contained per block
(fallback, counted), a block slower than the deadline is counted as an xrun, and
``max_failures`` exceptions within the window mark the node failed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._features import (
    FailureCounters,
    FollowsTiming,
    HoldsResources,
    LogsSubstitutions,
    ReportsValues,
)
from .._processor import Buffer, ParamEvent
from .._timing import REALTIME, SubstitutionLog, Timing
from ._options import FailureWindow, NodeOptions, StageSpec
from ._runtime import PluginRunner, apply_fallback, run_stage


class InProcessProcessor(
    FailureCounters, HoldsResources, FollowsTiming, LogsSubstitutions, ReportsValues
):
    """[main-thread] One restricted plugin called directly from the audio thread."""

    def __init__(self, stage: StageSpec, options: NodeOptions, label: str) -> None:
        self.label = label
        self._stage = stage
        self._opts = options
        self._runner = PluginRunner(
            stage.source, stage.filename, stage.class_name, stage.params, stage.ranges
        )
        self._index = {name: i for i, name in enumerate(self._runner.param_names)}
        self.latency_samples = self._runner.latency_samples
        self._window = FailureWindow(options.max_failures, options.failure_window_s)
        self.xruns = self.nan_blocks = self.restarts = self.errors = self.fallback_blocks = 0
        #: Blocks whose output was the fallback (plugin failed, raised or produced NaN/Inf).
        self.substitutions = SubstitutionLog()
        self.timing = REALTIME
        self.fences: dict[str, str] = {"isolation": "in-process: no OS fences"}
        self._zeros = np.zeros(0, np.float32)
        self._own_inp = np.zeros((0, 0), np.float32)

    @property
    def values(self) -> Mapping[str, float]:
        """[any-thread] Running parameter values (config values and every change since)."""
        return self._runner.params

    @property
    def failed(self) -> bool:
        """[any-thread] True once the node is on fallback for good."""
        return self._window.failed

    @property
    def failure_reason(self) -> str:
        """[any-thread] Why the node failed (or the last failure seen)."""
        return self._window.reason

    def set_timing(self, timing: Timing) -> None:
        """[main-thread & !active] Offline runs count no xruns: a slow block is just slow."""
        self.timing = timing

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Call the plugin's ``prepare``; a raise fails the node."""
        self._zeros = np.zeros(channels * max_block, np.float32)
        self._own_inp = np.zeros((channels, max_block), np.float32)
        try:
            self._runner.prepare(sample_rate, max_block, channels)
        except Exception as exc:  # plugin code: any failure marks the node
            self._window.failed = True
            self._window.reason = f"prepare() raised {type(exc).__name__}: {exc}"

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Run the plugin; contain exceptions and NaN/Inf."""
        if self._window.failed:
            self.fallback_blocks += 1
            self.substitutions.note(start, out.shape[1])
            apply_fallback(self._stage.fallback, inp, out)
            return
        coded = [
            (e.offset, self._index[e.param], e.value) for e in events if e.param in self._index
        ]
        # The engine may hand over the upstream node's own buffer (read by other nodes
        # too): the plugin gets a private copy, so writing into its input corrupts nothing.
        own = self._own_inp[: inp.shape[0], : inp.shape[1]]
        np.copyto(own, inp)
        began = time.perf_counter()
        error, non_finite = run_stage(
            self._runner, self._stage.fallback, own, out, start, coded, self._zeros
        )
        if error or non_finite:  # the fallback from the untouched input, not the copy
            apply_fallback(self._stage.fallback, inp, out)
            self.substitutions.note(start, out.shape[1])
        if self.timing.realtime and time.perf_counter() - began > self._opts.deadline_s:
            self.xruns += 1
        if error:
            self.errors += 1
            self._window.note(f"process() raised {error}")
        self.nan_blocks += non_finite

    def reset(self) -> None:
        """[main-thread] Forward to the plugin's optional ``reset``."""
        self._runner.reset()

    def get_state(self) -> dict[str, Any]:
        """[main-thread] Parameter values plus the plugin's own state."""
        return self._runner.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread] Restore what :meth:`get_state` returned."""
        self._runner.set_state(state)

    def close(self) -> None:
        """[main-thread] Nothing to release; present so every plugin processor can be closed."""
