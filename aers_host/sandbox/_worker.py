"""The worker subprocess: fence itself, load plugin code, then answer doorbells.

Run as ``python -I -c <bootstrap> CTRL_FD REPLY_FD SHM_FD HOST_PID`` by :mod:`._spawn`.
Order (each step before anything plugin-controlled runs):

1. parent-death signal, then a private user+network namespace (needs a single thread);
2. read the config blob (plugin sources, params, stage list, limits) from the host;
3. map the shared segment from the inherited descriptor (nothing opened by name);
4. rlimits, ``PR_SET_NO_NEW_PRIVS``, seccomp, Landlock;
5. compile and instantiate each plugin, ``prepare``, restore state;
6. reply with a hello (fences applied, latencies), then serve doorbells until told to quit
   or the host goes away.

Per block the worker runs every stage of its chain in order; a stage that raises or writes
NaN/Inf gets its node's fallback (so later stages still see sane audio) and its bit is set
in the reply's error or NaN mask. After replying, every ``state_every_s`` seconds it snapshots
the chain's state into the segment, so a restarted worker resumes from the last good state.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import sys
import time
from typing import Any

from . import _fences
from . import _protocol as proto


def _early_fences(host_pid: int) -> dict[str, str]:
    return {
        "pdeathsig": _fences.set_parent_death_signal(host_pid),
        "netns": _fences.enter_private_netns(),
    }


class _Chain:
    """The plugins of one worker and their views of the shared segment."""

    def __init__(self, config: dict[str, Any], segment: mmap.mmap) -> None:
        import numpy as np  # after the namespace step: numpy must not start threads before it

        from ._runtime import PluginRunner

        self.np = np
        self.layout = proto.Layout(config["channels"], config["max_block"], len(config["stages"]))
        self.segment = segment
        self.runners: list[PluginRunner] = []
        self.fallbacks: list[str] = []
        self.names: list[str] = [stage["filename"] for stage in config["stages"]]
        for stage in config["stages"]:
            ranges = {k: (float(v[0]), float(v[1])) for k, v in stage["ranges"].items()}
            runner = PluginRunner(
                stage["source"].encode(), stage["filename"], stage["class"], stage["params"], ranges
            )
            self.runners.append(runner)
            self.fallbacks.append(stage["fallback"])
        total = self.layout.channels * self.layout.max_block
        self.flat = [
            np.frombuffer(segment, np.float32, total, self.layout.buffer_offset(i))
            for i in range(self.layout.stages + 1)
        ]
        self.zeros = np.zeros(total, np.float32)
        self.views: dict[int, list[Any]] = {}
        self.state_seq = 0

    def prepare(self, config: dict[str, Any]) -> None:
        """[worker main-thread] Prepare every plugin and restore the state the host sent."""
        states = config.get("states") or [None] * len(self.runners)
        for runner, state in zip(self.runners, states, strict=True):
            runner.prepare(config["sample_rate"], config["max_block"], config["channels"])
            if state:
                runner.set_state(state)

    def run_block(
        self, frames: int, start: int, events: list[tuple[int, int, float]]
    ) -> tuple[int, int]:
        """[worker main-thread] Run every stage in order; return (error, NaN) bit masks."""
        from ._runtime import run_stage

        views = self.views.get(frames)
        if views is None:  # C-contiguous (channels, frames) views, made once per block size
            shape = (self.layout.channels, frames)
            count = self.layout.channels * frames
            views = self.views[frames] = [flat[:count].reshape(shape) for flat in self.flat]
        errors = nans = 0
        for k, runner in enumerate(self.runners):
            mine = [(o, i & 0xFFFF, v) for o, i, v in events if i >> 16 == k] if events else events
            inp, out = views[k], views[k + 1]
            error, non_finite = run_stage(
                runner, self.fallbacks[k], inp, out, start, mine, self.zeros
            )
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
        self.segment[self.layout.error_offset : self.layout.error_offset + proto.ERROR_AREA] = data

    def snapshot_state(self) -> None:
        """[worker main-thread] Snapshot every stage's state into the segment (if it fits)."""
        try:
            payload = json.dumps([r.get_state() for r in self.runners], allow_nan=False).encode()
        except Exception:  # a plugin's get_state failing must not stop audio
            return
        if len(payload) > proto.STATE_CAPACITY:
            return
        self.state_seq += 1
        base = self.layout.state_offset
        body = base + proto.STATE_HEADER.size
        self.segment[body : body + len(payload)] = payload
        proto.STATE_HEADER.pack_into(self.segment, base, self.state_seq, len(payload))


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


def _serve(ctrl: int, reply: int, chain: _Chain, state_every_s: float) -> None:
    reader = _Reader(ctrl)
    next_snapshot = time.monotonic() + state_every_s
    while True:
        kind, seq, frames, start, count = proto.DOORBELL.unpack(reader.take(proto.DOORBELL.size))
        if kind == proto.KIND_BLOCK:
            raw = reader.take(count * proto.EVENT.size) if count else b""
            events: list[tuple[int, int, float]] = list(proto.EVENT.iter_unpack(raw))
            errors, nans = chain.run_block(frames, start, events)
            status = proto.STATUS_ERROR if errors else proto.STATUS_OK
            os.write(reply, proto.REPLY.pack(seq, status, errors, nans))
            if time.monotonic() >= next_snapshot:  # after the reply: off the host's clock
                chain.snapshot_state()
                next_snapshot = time.monotonic() + state_every_s
        elif kind == proto.KIND_GET_STATE:
            try:
                result: Any = {"ok": True, "states": [r.get_state() for r in chain.runners]}
            except Exception as exc:  # report the plugin's failure to the host
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
            _answer(reply, result)
        elif kind == proto.KIND_SET_STATE:
            states = reader.blob()
            try:
                for runner, state in zip(chain.runners, states, strict=True):
                    runner.set_state(state)
                result = {"ok": True}
            except Exception as exc:  # report the plugin's failure to the host
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
            _answer(reply, result)
        elif kind == proto.KIND_RESET:
            for runner in chain.runners:
                try:
                    runner.reset()
                except Exception:  # noqa: S112 - a failing reset leaves the state as is
                    continue
            _answer(reply, {"ok": True})
        else:
            return


def main(argv: list[str]) -> int:
    """[worker main-thread] Entry point; returns the exit status."""
    ctrl, reply, shm_fd, host_pid = (int(a) for a in argv[:4])
    report = _early_fences(host_pid)
    config = proto.recv_blob(ctrl)
    segment = mmap.mmap(
        shm_fd, proto.Layout(config["channels"], config["max_block"], len(config["stages"])).size
    )
    os.close(shm_fd)
    import numpy  # noqa: F401 - imported before the fences close the file system
    import RestrictedPython  # noqa: F401

    from . import _restricted, _runtime  # noqa: F401

    vm_bytes = _vm_size()
    report.update(
        _fences.apply_all(
            address_space_bytes=vm_bytes + int(config["memory_mb"]) * (1 << 20),
            cpu_seconds=int(config["cpu_seconds"]),
            open_files=int(config["open_files"]),
        )
    )
    try:
        chain = _Chain(config, segment)
        chain.prepare(config)
        chain.snapshot_state()
    except Exception as exc:  # any load failure is reported, not raised
        proto.send_blob(
            reply, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000], "fences": report}
        )
        return 1
    latencies = [r.latency_samples for r in chain.runners]
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
