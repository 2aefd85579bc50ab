"""Between a plan and a :class:`~._jack.JackDevice`: feed ``input`` nodes, collect outputs.

Nodes are looked up by id on every block, so the bridge follows live edits
(``aers serve --jack``): a port whose node an edit removed (or whose channel count
changed) carries silence until a node of that id and width is back. Ports are made once,
from the plan the device was started with.

Example:
    >>> bridge = PlanBridge(device)                 # doctest: +SKIP
    >>> bridge.feed(plan, 256)                      # doctest: +SKIP
    >>> engine.process_block(256)                   # doctest: +SKIP
    >>> bridge.collect(plan, 256)                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import numpy as np

from ._jack import JackDevice
from ._ring import F32
from ._sched import RealtimeThread

if TYPE_CHECKING:  # the graph package loads numba: only the CLI command that runs one pays
    from ..graph import BlockTimings, Engine, NodeRuntime, Plan
    from ..graph._input import InputSource

#: Names of the two node types whose audio the device feeds and plays (``graph.INPUT``,
#: ``graph.OUTPUT``), written out because importing the device must not load the graph;
#: ``tests/test__builtins.py`` checks they agree.
INPUT_TYPE, OUTPUT_TYPE = "input", "output"


def plan_inputs(plan: Plan) -> dict[str, int]:
    """``input`` node id → channels, in plan order."""
    return {n.id: int(n.out_buf.shape[0]) for n in plan.nodes if n.type_name == INPUT_TYPE}


def plan_outputs(plan: Plan) -> dict[str, int]:
    """``output`` node id → channels, in plan order."""
    return {n.id: int(n.in_buf.shape[0]) for n in _outputs(plan)}


def _outputs(plan: Plan) -> Iterator[NodeRuntime]:
    return (n for n in plan.nodes if n.type_name == OUTPUT_TYPE)


def attach_plan(device: JackDevice, plan: Plan) -> None:
    """[main-thread & !active] Give ``device`` the ports and latencies of ``plan``.

    Raises:
        AudioDeviceError: see :meth:`JackDevice.attach`.
    """
    device.attach(
        inputs=plan_inputs(plan),
        outputs=plan_outputs(plan),
        block=plan.block_size,
        latencies={n.id: n.path_latency for n in _outputs(plan)},
    )


def received(plan: Plan, node: NodeRuntime) -> np.ndarray:
    """The buffer a sink got this block (the engine may let it read its source in place)."""
    return plan.nodes[node.direct].out_buf if node.direct >= 0 else node.in_buf


class PlanBridge:
    """[engine-thread] Moves one block between the device's buffers and a plan's nodes."""

    def __init__(self, device: JackDevice) -> None:
        """[main-thread] Views of the device's blocks per node (made once)."""
        self.device = device
        self._in = list(_slices(device.inputs, device.in_block))
        self._out = list(_slices(device.outputs, device.out_block))

    def feed(self, plan: Plan, frames: int) -> None:
        """[engine-thread, after ``wait_ready``] Hand the next captured frames to the inputs."""
        self.device.read_inputs(frames)
        for node_id, view in self._in:
            index = plan.index.get(node_id)
            if index is None:
                continue
            node = plan.nodes[index]
            if node.type_name == INPUT_TYPE and node.out_buf.shape[0] == view.shape[0]:
                cast("InputSource", node.proc).feed(view)

    def collect(self, plan: Plan, frames: int) -> None:
        """[engine-thread, after the block] Queue what every output received for playback."""
        for node_id, view in self._out:
            index = plan.index.get(node_id)
            node = plan.nodes[index] if index is not None else None
            dst = view[:, :frames]
            if _plays(node, view.shape[0]):
                dst[...] = received(plan, node)[:, :frames]
            else:
                dst.fill(0.0)
        self.device.write_outputs(frames)


def _plays(node: NodeRuntime | None, channels: int) -> TypeGuard[NodeRuntime]:
    """Whether ``node`` is still an output of the port's width (a live edit may change it)."""
    return node is not None and node.type_name == OUTPUT_TYPE and node.in_buf.shape[0] == channels


def _slices(nodes: dict[str, int], block: F32) -> Iterator[tuple[str, F32]]:
    offset = 0
    for node_id, channels in nodes.items():
        yield node_id, block[offset : offset + channels]
        offset += channels


class UnderrunBlame:
    """[engine-thread] Who made the device run dry: a node, or the machine's scheduling.

    After each block, new underruns are blamed on the slowest node of that block when the
    block's own processing took longer than its period (the engine could not have been on
    time); otherwise on scheduling (the engine thread did not get the CPU in time).
    """

    def __init__(self, device: JackDevice) -> None:
        """Nothing blamed yet."""
        self.device = device
        self.seen = 0
        #: Underruns per node id (ids survive live edits; indices do not).
        self.by_node: dict[str, int] = {}
        self.scheduling = 0

    def update(self, plan: Plan, timings: BlockTimings | None, frames: int) -> int:
        """Blame the underruns since the last call on the block just rendered; return them."""
        new = self.device.underruns - self.seen
        if not new:
            return 0
        self.seen += new
        if timings is None or not len(timings.block_ns):
            self.scheduling += new
            return new
        row = (timings.count - 1) % len(timings.block_ns)  # a ring in aers serve
        if int(timings.block_ns[row]) * self.device.sample_rate > frames * 1_000_000_000:
            node_id = plan.nodes[int(np.argmax(timings.node_ns[row]))].id
            self.by_node[node_id] = self.by_node.get(node_id, 0) + new
        else:
            self.scheduling += new
        return new

    def metrics(self) -> dict[str, Any]:
        """``underruns_by_node`` and ``underruns_scheduling`` for the ``jack`` section."""
        return {"underruns_by_node": dict(self.by_node), "underruns_scheduling": self.scheduling}


class JackRun:
    """A render observer that plays a render through JACK (``aers run --jack``).

    The render loop runs unpaced; this observer paces it by waiting (in ``after_block``,
    for the next block) until the device has room, so JACK's clock drives the run.
    Underruns are attributed by :class:`UnderrunBlame`.
    """

    def __init__(self, device: JackDevice, *, connect: bool = False) -> None:
        """[main-thread] Remember the device; ports are made in :meth:`bind`."""
        self.device = device
        self.connect = connect
        self.bridge: PlanBridge | None = None
        self._timings: BlockTimings | None = None
        self.blame = UnderrunBlame(device)
        self.realtime = RealtimeThread()
        self._realtime_ok = False

    def bind(self, plan: Plan, timings: BlockTimings) -> None:
        """[main-thread] Make the ports, start the client, wait for the first block's input."""
        attach_plan(self.device, plan)
        self.bridge = PlanBridge(self.device)
        self._timings = timings
        self.device.start(connect=self.connect)
        # the render loop is now the engine thread (left in finish)
        self._realtime_ok = self.realtime.enter()
        self._next(plan)

    def _next(self, plan: Plan) -> None:
        assert self.bridge is not None
        self.device.wait_ready(plan.block_size)
        self.bridge.feed(plan, plan.block_size)

    def after_block(self, engine: Engine, frames: int) -> None:
        """[engine-thread] Queue the block for playback, then wait for room for the next.

        Raises:
            AudioDeviceError: the JACK server went away.
        """
        assert self.bridge is not None
        plan = engine.plan
        self.bridge.collect(plan, frames)
        self.blame.update(plan, self._timings, frames)
        self._next(plan)

    def finish(self) -> None:
        """[main-thread] Let the queued audio play out; back to normal scheduling."""
        self.realtime.leave()
        self.device.drain(timeout=self.device.ring_latency / self.device.sample_rate + 1.0)

    def metrics(self) -> dict[str, Any]:
        """The ``jack`` section of ``metrics.json`` with underruns attributed per node."""
        return {
            **self.device.metrics(),
            **self.blame.metrics(),
            "engine_realtime": self._realtime_ok,
        }
