"""The worker subprocess: fence itself, load plugin code, then answer doorbells.

Run as ``python -I -c <bootstrap> CTRL_FD REPLY_FD SHM_FD HOST_PID`` by :mod:`._spawn`.
Order (each step before anything plugin-controlled runs):

1. parent-death signal, then a private user+network namespace (needs a single thread);
2. read the config blob (plugin sources, params, stage list, limits) from the host;
3. map the shared segment from the inherited descriptor (nothing opened by name);
4. rlimits, ``PR_SET_NO_NEW_PRIVS``, seccomp, Landlock (read-only system libraries when
   a native stage needs them mapped, nothing else);
5. load each plugin with its kind's loader (:mod:`._stages`: RestrictedPython for
   ``python``, the C ABI or LV2 from an inherited sealed memfd for ``native``/``lv2``),
   ``prepare``, restore state;
6. reply with a hello (fences applied, latencies), then serve doorbells until told to quit
   or the host goes away.

The worker hosts one or more *instances* (one per graph node that shares it), each a chain
of one or more stages with its own region of the segment. Per block it runs the addressed
instance (or a fused span of consecutive instances, each reading the previous one's output)
stage by stage; a stage that raises or writes NaN/Inf gets its node's fallback (so later
stages still see sane audio) and its bit is set in the reply's error or NaN mask. Before
calling into an instance's plugin code it writes that instance's index to the segment's
``RUNNING`` slot, so the host can name the culprit if the process dies or hangs there.
After replying, every ``state_every_s`` seconds it snapshots each instance's state into its
region, so a restarted worker resumes every instance from its own last good state. With
``state_every_s`` 0 (offline renders) it snapshots the instances of every block it ran,
so a block retried on a fresh worker starts exactly where the lost one did.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from . import _fences
from . import _protocol as proto


def _early_fences(host_pid: int) -> dict[str, str]:
    return {
        "pdeathsig": _fences.set_parent_death_signal(host_pid),
        "netns": _fences.enter_private_netns(),
    }


class _Instance:
    """One hosted node: its plugin chain and its views of its region of the segment."""

    def __init__(self, spec: dict[str, Any], region: proto.Region, segment: mmap.mmap) -> None:
        import numpy as np  # after the namespace step: numpy must not start threads before it

        from ._stages import StageRunner, make_runner

        self.label = str(spec.get("label", ""))
        self.region = region
        self.segment = segment
        self.runners: list[StageRunner] = []
        self.fallbacks: list[str] = []
        self.names: list[str] = [stage["filename"] for stage in spec["stages"]]
        for stage in spec["stages"]:
            self.runners.append(make_runner(stage))  # the kind's loader (see ._stages)
            self.fallbacks.append(stage["fallback"])
        total = region.channels * region.max_block
        self.flat = [
            np.frombuffer(segment, np.float32, total, region.buffer_offset(i))
            for i in range(region.stages + 1)
        ]
        self.views: dict[int, list[Any]] = {}
        self.state_seq = 0

    def prepare(self, sample_rate: int, max_block: int, states: list[Any] | None) -> None:
        """[worker main-thread] Prepare every plugin and restore the state the host sent."""
        for runner, state in zip(self.runners, states or [None] * len(self.runners), strict=True):
            runner.prepare(sample_rate, max_block, self.region.channels)
            if state:
                runner.set_state(state)

    def buffers(self, frames: int) -> list[Any]:
        """[worker main-thread] C-contiguous ``(channels, frames)`` views, made once per size."""
        views = self.views.get(frames)
        if views is None:
            shape = (self.region.channels, frames)
            count = self.region.channels * frames
            views = self.views[frames] = [flat[:count].reshape(shape) for flat in self.flat]
        return views

    def run(
        self, inp: Any, views: list[Any], start: int, events: list[tuple[int, int, float]],
        zeros: Any,
    ) -> tuple[int, int]:  # fmt: skip
        """[worker main-thread] Run every stage in order; return (error, NaN) bit masks."""
        from ._runtime import run_stage

        errors = nans = 0
        for k, runner in enumerate(self.runners):
            mine = [(o, i & 0xFFFF, v) for o, i, v in events if i >> 16 == k] if events else events
            error, non_finite = run_stage(
                runner, self.fallbacks[k], inp if k == 0 else views[k], views[k + 1], start,
                mine, zeros,
            )  # fmt: skip
            if error:
                errors |= 1 << k
                self.report_error(f"{self.names[k]}: {error}")
            nans |= non_finite << k
        return errors, nans

    def report_error(self, text: str) -> None:
        """[worker main-thread] Leave the exception text where the host reads it."""
        data = text.encode("utf-8", "replace")[: proto.ERROR_AREA - 1].ljust(
            proto.ERROR_AREA, b"\0"
        )
        at = self.region.error_offset
        self.segment[at : at + proto.ERROR_AREA] = data

    def snapshot_state(self) -> None:
        """[worker main-thread] Snapshot every stage's state into the region (if it fits)."""
        try:
            payload = json.dumps([r.get_state() for r in self.runners], allow_nan=False).encode()
        except Exception:  # a plugin's get_state failing must not stop audio
            return
        if len(payload) > proto.STATE_CAPACITY:
            return
        self.state_seq += 1
        base = self.region.state_offset
        body = base + proto.STATE_HEADER.size
        self.segment[body : body + len(payload)] = payload
        proto.STATE_HEADER.pack_into(self.segment, base, self.state_seq, len(payload))


class _Chain:
    """Every instance a worker hosts, and the ``RUNNING`` slot that names the one running."""

    def __init__(self, config: dict[str, Any], segment: mmap.mmap) -> None:
        import numpy as np

        specs = config["instances"]
        self.layout = layout_of(config)
        self.segment = segment
        self.instances: list[_Instance] = []
        for index, (spec, region) in enumerate(zip(specs, self.layout.regions, strict=True)):
            self.running(index)  # a module-level crash while loading names this instance
            try:
                self.instances.append(_Instance(spec, region, segment))
            except Exception as exc:
                raise _LoadError(spec.get("label", index), exc) from exc
        self.running(-1)
        widest = max((r.channels for r in self.layout.regions), default=1)
        self.zeros = np.zeros(widest * int(config["max_block"]), np.float32)

    def running(self, index: int) -> None:
        """[worker main-thread] Publish which instance's plugin code runs now (-1: none)."""
        proto.RUNNING.pack_into(self.segment, 0, index)

    def prepare(self, config: dict[str, Any]) -> None:
        """[worker main-thread] Prepare every instance and restore its state."""
        for index, (inst, spec) in enumerate(zip(self.instances, config["instances"], strict=True)):
            self.running(index)
            try:
                inst.prepare(config["sample_rate"], config["max_block"], spec.get("states"))
            except Exception as exc:
                raise _LoadError(inst.label or index, exc) from exc
        self.running(-1)

    def run_block(
        self, route: Sequence[int], frames: int, start: int, events: list[tuple[int, int, float]]
    ) -> tuple[int, int]:
        """[worker main-thread] Run the instances of ``route``, each fed the previous one.

        Returns the (error, NaN) masks over every stage of the route, in order.
        """
        errors = nans = shift = 0
        previous = None
        for k in route:
            inst = self.instances[k]
            self.running(k)
            views = inst.buffers(frames)
            error, nan = inst.run(
                views[0] if previous is None else previous, views, start,
                events if previous is None else [], self.zeros,
            )  # fmt: skip
            errors |= error << shift
            nans |= nan << shift
            shift += len(inst.runners)
            previous = views[-1]
        self.running(-1)
        return errors & 0xFFFFFFFF, nans & 0xFFFFFFFF

    def snapshot_state(self, route: Sequence[int] | None = None) -> None:
        """[worker main-thread] Snapshot the state of ``route``'s instances (all: None)."""
        for index in range(len(self.instances)) if route is None else route:
            self.running(index)
            self.instances[index].snapshot_state()
        self.running(-1)

    def instance(self, index: int) -> _Instance:
        """[worker main-thread] The addressed instance (the host is trusted to ask for one)."""
        return self.instances[index]


class _LoadError(Exception):
    """A plugin of one instance failed to load; the message names the node."""

    def __init__(self, who: object, exc: Exception) -> None:
        super().__init__(f"{who}: {type(exc).__name__}: {exc}")


def layout_of(config: dict[str, Any]) -> proto.Layout:
    """[any-thread] The segment layout a worker config describes."""
    return proto.Layout.of(
        int(config["max_block"]),
        [(int(i["channels"]), len(i["stages"])) for i in config["instances"]],
    )


class _Reader:
    """Buffered reads from the doorbell pipe: a doorbell and its events cost one syscall."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def take(self, size: int) -> bytes:
        """[worker main-thread] Return exactly ``size`` bytes, reading more as needed."""
        while len(self.buf) < size:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError("host closed the doorbell pipe")
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def blob(self) -> Any:
        """[worker main-thread] Read one length-prefixed JSON document."""
        (size,) = proto.BLOB_HEADER.unpack(self.take(proto.BLOB_HEADER.size))
        if size > proto.MAX_BLOB:
            raise ValueError("blob too large")
        return json.loads(self.take(size))


def _answer(reply: int, obj: object) -> None:
    """Answer a main-thread request: a control-marked reply, then the JSON blob."""
    os.write(reply, proto.REPLY.pack(0, proto.STATUS_OK, 0, 0))
    proto.send_blob(reply, obj)


def _control(kind: int, inst: _Instance, reader: _Reader) -> Any:
    """Run one main-thread request against ``inst``; plugin failures become an answer."""
    try:
        if kind == proto.KIND_GET_STATE:
            return {"ok": True, "states": [r.get_state() for r in inst.runners]}
        if kind == proto.KIND_SET_STATE:
            states = reader.blob()
            for runner, state in zip(inst.runners, states, strict=True):
                runner.set_state(state)
            return {"ok": True}
        for runner in inst.runners:
            try:
                runner.reset()
            except Exception:  # noqa: S112 - a failing reset leaves the state as is
                continue
        return {"ok": True}
    except Exception as exc:  # report the plugin's failure to the host
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}


def _serve(ctrl: int, reply: int, chain: _Chain, state_every_s: float) -> None:
    reader = _Reader(ctrl)
    next_snapshot = time.monotonic() + state_every_s
    while True:
        kind, span, index, seq, frames, start, count = proto.DOORBELL.unpack(
            reader.take(proto.DOORBELL.size)
        )
        if kind == proto.KIND_BLOCK:
            raw = reader.take(count * proto.EVENT.size) if count else b""
            events: list[tuple[int, int, float]] = list(proto.EVENT.iter_unpack(raw))
            route: Sequence[int] = (index,)
            if span > 1:
                route = [
                    k for (k,) in proto.ROUTE.iter_unpack(reader.take(span * proto.ROUTE.size))
                ]
            errors, nans = chain.run_block(route, frames, start, events)
            status = proto.STATUS_ERROR if errors else proto.STATUS_OK
            os.write(reply, proto.REPLY.pack(seq, status, errors, nans))
            if not state_every_s:  # offline: after every block, of the instances that ran
                chain.snapshot_state(route)
            elif time.monotonic() >= next_snapshot:  # after the reply: off the host's clock
                chain.snapshot_state()
                next_snapshot = time.monotonic() + state_every_s
        elif kind in (proto.KIND_GET_STATE, proto.KIND_SET_STATE, proto.KIND_RESET):
            chain.running(index)
            answer = _control(kind, chain.instance(index), reader)
            chain.running(-1)
            _answer(reply, answer)
        else:
            return


def main(argv: list[str]) -> int:
    """[worker main-thread] Entry point; returns the exit status."""
    # Forked from the host's supervisor thread, we inherited its mask (terminal signals
    # blocked, see aers_host._threads); a worker starts from the default mask instead.
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    ctrl, reply, shm_fd, host_pid = (int(a) for a in argv[:4])
    report = _early_fences(host_pid)
    config = proto.recv_blob(ctrl)
    segment = mmap.mmap(shm_fd, layout_of(config).size)
    os.close(shm_fd)
    import numpy  # noqa: F401 - imported before the fences close the file system

    from . import _stages

    _stages.preload(config)  # each kind's loader module, while files can still be read
    vm_bytes = _vm_size()
    report.update(
        _fences.apply_all(
            address_space_bytes=vm_bytes + int(config["memory_mb"]) * (1 << 20),
            cpu_seconds=int(config["cpu_seconds"]),
            open_files=int(config["open_files"]),
            readable=_stages.SYSTEM_LIBRARY_DIRS if _stages.needs_system_libraries(config) else (),
        )
    )
    try:
        chain = _Chain(config, segment)
        chain.prepare(config)
        chain.snapshot_state()
    except Exception as exc:  # any load failure is reported, not raised
        text = str(exc) if isinstance(exc, _LoadError) else f"{type(exc).__name__}: {exc}"
        proto.send_blob(reply, {"ok": False, "error": text[:2000], "fences": report})
        return 1
    latencies = [[r.latency_samples for r in inst.runners] for inst in chain.instances]
    proto.send_blob(reply, {"ok": True, "fences": report, "latency": latencies})
    try:
        gc.freeze()  # everything loaded so far is long-lived: keep it out of collections
        _serve(ctrl, reply, chain, float(config["state_every_s"]))
    except (EOFError, BrokenPipeError):
        return 0
    return 0


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 1 << 30


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
