"""The worker's doorbell loop, driven in-process over real pipes (no fences, no subprocess)."""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from aers_host.sandbox import _protocol as proto
from aers_host.sandbox._worker import _Chain, _serve, layout_of

from ._helpers import GAIN

COUNT = (
    "class P:\n    def process(self, inp, out, start, events):\n"
    "        out[:] = inp\n        raise ValueError('late')\n"
)


def instance(*sources: str, label: str = "n") -> dict[str, Any]:
    return {
        "label": label, "channels": 1, "states": None,
        "stages": [
            {"source": src, "filename": f"s{k}.py", "class": "P", "params": {"gain": 0.5},
             "ranges": {"gain": [0.0, 2.0]}, "fallback": "bypass"}
            for k, src in enumerate(sources)
        ],
    }  # fmt: skip


def config(*instances: dict[str, Any]) -> dict[str, Any]:
    return {"sample_rate": 48_000, "max_block": 8, "instances": list(instances)}


@pytest.fixture
def loop() -> Iterator[tuple[int, int, _Chain]]:
    chains: list[Any] = []

    def start(*sources: str, extra: tuple[dict[str, Any], ...] = ()) -> tuple[int, int, _Chain]:
        cfg = config(instance(*sources), *extra)
        chain = _Chain(cfg, mmap.mmap(-1, layout_of(cfg).size))
        chain.prepare(cfg)
        ctrl_r, ctrl_w = os.pipe()
        reply_r, reply_w = os.pipe()
        thread = threading.Thread(target=_serve, args=(ctrl_r, reply_w, chain, 0.0), daemon=True)
        thread.start()
        chains.append((thread, ctrl_r, ctrl_w, reply_r, reply_w))
        return ctrl_w, reply_r, chain

    yield start  # type: ignore[misc]
    for thread, *fds in chains:
        os.write(fds[1], proto.DOORBELL.pack(proto.KIND_QUIT, 0, 0, 0, 0, 0, 0))
        thread.join(5)
        for fd in fds:
            os.close(fd)


def ring(
    ctrl: int,
    reply: int,
    seq: int,
    events: tuple[tuple[int, int, float], ...] = (),
    route: tuple[int, ...] = (0,),
) -> tuple[int, ...]:
    raw = b"".join(proto.EVENT.pack(*e) for e in events)
    if len(route) > 1:
        raw += b"".join(proto.ROUTE.pack(k) for k in route)
    head = proto.DOORBELL.pack(proto.KIND_BLOCK, len(route), route[0], seq, 8, 0, len(events))
    os.write(ctrl, head + raw)
    return proto.REPLY.unpack(proto.read_exact(reply, proto.REPLY.size))


def test_block_runs_the_chain_in_shared_memory(loop: Any) -> None:
    ctrl, reply, chain = loop(GAIN, GAIN)
    flat = chain.instances[0].flat
    flat[0][:8] = 1.0
    assert ring(ctrl, reply, 7, ((4, (1 << 16) | 0, 2.0),)) == (7, proto.STATUS_OK, 0, 0)
    np.testing.assert_allclose(flat[2][:8], [0.25] * 4 + [1.0] * 4)


def test_stage_error_sets_its_bit_and_writes_fallback(loop: Any) -> None:
    ctrl, reply, chain = loop(GAIN, COUNT)
    flat = chain.instances[0].flat
    flat[0][:8] = 1.0
    _seq, status, errors, _nans = ring(ctrl, reply, 1)
    assert (status, errors) == (proto.STATUS_ERROR, 0b10)
    np.testing.assert_allclose(flat[2][:8], 0.5)  # stage 1 bypassed stage 0's output
    assert "ValueError: late" in proto.read_text(
        memoryview(chain.segment), chain.layout.regions[0].error_offset, proto.ERROR_AREA
    )


def test_state_requests_are_marked_control_replies(loop: Any) -> None:
    ctrl, reply, _chain = loop(GAIN)
    os.write(ctrl, proto.DOORBELL.pack(proto.KIND_SET_STATE, 0, 0, 0, 0, 0, 0))
    proto.send_blob(ctrl, [{"params": {"gain": 1.5}}])
    assert proto.REPLY.unpack(proto.read_exact(reply, proto.REPLY.size))[0] == 0
    assert proto.recv_blob(reply) == {"ok": True}
    os.write(ctrl, proto.DOORBELL.pack(proto.KIND_GET_STATE, 0, 0, 0, 0, 0, 0))
    proto.read_exact(reply, proto.REPLY.size)
    assert proto.recv_blob(reply) == {"ok": True, "states": [{"params": {"gain": 1.5}}]}
    os.write(ctrl, proto.DOORBELL.pack(proto.KIND_RESET, 0, 0, 0, 0, 0, 0))
    proto.read_exact(reply, proto.REPLY.size)
    assert proto.recv_blob(reply) == {"ok": True}


def test_snapshot_lands_in_the_segment(loop: Any) -> None:
    ctrl, reply, chain = loop(GAIN)
    ring(ctrl, reply, 1)
    ring(ctrl, reply, 2)  # state_every_s=0: a snapshot after every block
    seq, size = proto.STATE_HEADER.unpack_from(chain.segment, chain.layout.regions[0].state_offset)
    assert seq >= 1 and size > 0


def test_fused_route_runs_instances_in_order_and_shifts_their_bits(loop: Any) -> None:
    ctrl, reply, chain = loop(GAIN, extra=(instance(COUNT, label="b"), instance(GAIN, label="c")))
    first, middle, last = (inst.flat for inst in chain.instances)
    first[0][:8] = 1.0
    middle[0][:8] = 9.0  # never read: a fused instance reads the previous one's output
    _seq, status, errors, _nans = ring(ctrl, reply, 3, route=(0, 1, 2))
    assert (status, errors) == (proto.STATUS_ERROR, 0b010)  # instance 1's only stage
    np.testing.assert_allclose(first[1][:8], 0.5)
    np.testing.assert_allclose(middle[1][:8], 0.5)  # raised: bypassed its input
    np.testing.assert_allclose(last[1][:8], 0.25)
    assert proto.RUNNING.unpack_from(chain.segment, 0) == (-1,)


def test_control_requests_address_one_instance(loop: Any) -> None:
    ctrl, reply, _chain = loop(GAIN, extra=(instance(GAIN, label="b"),))
    os.write(ctrl, proto.DOORBELL.pack(proto.KIND_SET_STATE, 0, 1, 0, 0, 0, 0))
    proto.send_blob(ctrl, [{"params": {"gain": 1.5}}])
    proto.read_exact(reply, proto.REPLY.size)
    assert proto.recv_blob(reply) == {"ok": True}
    for index, gain in ((0, 0.5), (1, 1.5)):
        os.write(ctrl, proto.DOORBELL.pack(proto.KIND_GET_STATE, 0, index, 0, 0, 0, 0))
        proto.read_exact(reply, proto.REPLY.size)
        assert proto.recv_blob(reply)["states"] == [{"params": {"gain": gain}}]
