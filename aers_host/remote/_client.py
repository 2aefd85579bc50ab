"""The ``remote`` node type: a Processor whose chain runs on another host (``aers node serve``).

Timing model: block ``n`` is sent to the node during ``process`` of block ``n``; its result
is output ``latency_blocks`` blocks later. ``latency_samples`` is therefore
``latency_blocks × block_size`` plus the remote chain's own latency, and the planner
delays parallel paths by that much, so the graph stays sample-aligned.

``process`` (``[audio-thread & processing]``) never waits longer than the node's
deadline (``deadline_ms`` node option, default half a block period): it hands the block
to the link thread (preallocated slot, no copy of Python objects) and outputs the result of
block ``n - latency_blocks`` if it has arrived, else the ``fallback`` (node option):
``silence`` (default) or ``bypass`` (the input of that block, i.e. the dry signal delayed
the same way). Every fallback block is counted in :attr:`RemoteProcessor.late_blocks`
and recorded in :attr:`RemoteProcessor.substitutions`.

Offline (``set_timing(OFFLINE)``, what renders use) there is no deadline: ``process``
waits for the result up to the node's hang limit (``hang_limit_s`` node option, else the
run's, else 10 s); only a result that never comes, or a lost connection, plays the
fallback, and the render then says so (exit 1 unless fallback is allowed).

Results carry their ``seq`` and ``start``, so after a reconnect the output picks up aligned
to the right sample. Block sizes must stay fixed (except a shorter final block).

Sessions: :meth:`RemoteProcessor.get_state` asks the node for its chain's state (a STATE
message, answered after every block already sent) and keeps the results of the
``latency_blocks`` blocks still in flight; :meth:`RemoteProcessor.set_state` restores the
chain on the node and plays those results first, so save-then-resume is bit-exact. A
reconnect during a run starts the chain fresh on the node (its state is not replayed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import numpy as np

from .._extras import missing_modules
from .._features import (
    FollowsTiming,
    HoldsResources,
    LogsSubstitutions,
    NodeHealth,
    RemoteStats,
    ReportsHealth,
    WaitsElsewhere,
)
from .._limits import check_latency, check_whole
from .._nodetype import BuiltinNodeType, ChannelError, CheckContext, NodeTraits, ParamIssue
from .._processor import Buffer, ParamEvent, Processor
from .._timing import REALTIME, SubstitutionLog, Timing
from ..errors import GraphError, LimitError, MissingExtraError, SessionError
from ._chain import REMOTE_NAME, chain_shape_problems
from ._protocol import BLOCK, HEADER_SIZE, MAX_CHANNELS, encode_header

if TYPE_CHECKING:
    from ._linkbase import LinkBase, Rings

#: Slots in each ring beyond ``latency_blocks`` (room for a sender that falls behind).
EXTRA_SLOTS: Final = 8


class RemoteProcessor(
    ReportsHealth, WaitsElsewhere, HoldsResources, FollowsTiming, LogsSubstitutions
):
    """Processor side of a remote node; see the module docstring for the timing model."""

    def __init__(
        self,
        url: str,
        token: str,
        chain: list[Any],
        *,
        latency_blocks: int = 1,
        fallback: str = "silence",
        deadline_ms: float | None = None,
        channels_out: int | None = None,
        connect_timeout_s: float = 5.0,
        reconnect_max_ms: float = 2000.0,
        label: str = "remote",
        hang_limit_s: float | None = None,
    ) -> None:
        self.label = label
        self.url, self._token, self.chain = url, token, list(chain)
        self.latency_blocks = int(latency_blocks)
        self.fallback = fallback
        self._deadline_ms = deadline_ms
        self._channels_out = channels_out
        self._connect_timeout = float(connect_timeout_s)
        self._backoff_max = float(reconnect_max_ms) / 1000.0
        self.latency_samples = 0
        #: Blocks output as fallback (late result, node away, or misaligned).
        self.late_blocks = 0
        #: Blocks not sent because the node was away.
        self.dropped_blocks = 0
        #: Blocks that output the fallback instead of the remote chain's result.
        self.substitutions = SubstitutionLog()
        self.timing = REALTIME
        self._hang_limit_s = hang_limit_s
        #: Results of blocks in flight when a session was saved, output first on resume.
        self._carried: list[np.ndarray] = []
        self._link: LinkBase | None = None
        self._seq = 0
        self._deadline = 0.0
        self._delay = 0

    @property
    def xruns(self) -> int:
        """Real time: blocks that missed their deadline (:attr:`late_blocks`); offline: 0.

        Offline a block has no deadline; one that never came is a substitution instead.
        """
        return self.late_blocks if self.timing.realtime else 0

    def set_timing(self, timing: Timing) -> None:
        """[main-thread & !active] Real time (deadline) or offline (wait up to the hang limit)."""
        self.timing = timing

    @property
    def waits_on(self) -> RemoteProcessor:
        """[main-thread] Itself: it waits on its own connection, which no other node shares."""
        return self

    def prepare(self, sample_rate: int, max_block: int, channels: int) -> None:
        """[main-thread & !active] Allocate the rings, connect, and learn the chain's latency.

        Raises:
            GraphError: the node is unreachable, refuses the token or the chain, its
                chain outputs another channel count than the graph expects, or its HELLO
                states a channel count or latency out of range (``aers_host._limits``).
        """
        from ._linkbase import Rings

        self.close()
        channels_out = self._channels_out or channels
        slots = self.latency_blocks + EXTRA_SLOTS
        self._rings = rings = Rings.allocate(slots, channels, channels_out, max_block)
        self._in_views = [
            np.frombuffer(m, "<f4", offset=HEADER_SIZE).reshape(channels, max_block)
            for m in rings.in_msgs
        ]
        self._block, self._channels, self._seq = max_block, channels, 0
        self._delay = self.latency_blocks * max_block
        period = max_block / sample_rate
        self._deadline = (self._deadline_ms / 1000.0) if self._deadline_ms else period / 2
        if not self.timing.realtime:
            self._deadline = self.timing.hang_limit(self._hang_limit_s)
        hello = {"sample_rate": sample_rate, "block_size": max_block, "channels": channels,
                 "chain": self.chain}  # fmt: skip
        link = link_class(self.url)(
            self.url, self._token, hello, rings,
            backoff=(0.05, self._backoff_max), open_timeout=self._connect_timeout,
            poll=min(max(period / 4, 0.0005), 0.005),
        )  # fmt: skip
        link.start()
        self._link = link
        link.first_result.wait(self._connect_timeout + 1.0)
        problem = link.fatal or (
            None if link.connected else f"cannot reach the node at {self.url}: "
            f"{link.last_error or 'timed out'}"
        )  # fmt: skip
        chain_latency = 0
        if problem is None:
            try:  # the peer's word: bounded before the planner sizes a line by it
                got = check_whole(
                    link.info.get("channels_out", channels_out),
                    1, MAX_CHANNELS, self.label, "channels_out in the node's HELLO",
                )  # fmt: skip
                chain_latency = check_latency(
                    link.info.get("latency_samples", 0),
                    sample_rate, self.label, "latency_samples in the node's HELLO",
                )  # fmt: skip
            except LimitError as err:
                problem = f"{err} (node at {self.url})"
            else:
                if got != channels_out:
                    problem = (
                        f"the remote chain outputs {got} channels, the graph expects "
                        f"{channels_out}; set channels_out: {got}"
                    )
        if problem is not None:
            self.close()
            raise GraphError(f"remote node {self.label!r}: {problem}")
        self.latency_samples = self._delay + chain_latency

    def process(self, inp: Buffer, out: Buffer, start: int, events: Sequence[ParamEvent]) -> None:
        """[audio-thread & processing] Send this block; output the one ``latency_blocks`` ago."""
        link, rings = self._link, self._rings
        assert link is not None, "process() before prepare()"
        seq, frames = self._seq, inp.shape[1]
        self._seq = seq + 1
        i = seq % rings.slots
        rings.in_seq[i] = -1
        if frames == self._block:
            self._in_views[i][...] = inp
        else:  # the final, shorter block: the payload is (channels, frames) contiguous
            msg = rings.in_msgs[i]
            count = self._channels * frames
            np.frombuffer(msg, "<f4", count, HEADER_SIZE).reshape(self._channels, frames)[...] = inp
        encode_header(rings.in_msgs[i], BLOCK, seq, start, frames, self._channels)
        rings.in_len[i] = HEADER_SIZE + self._channels * frames * 4
        rings.in_epoch[i] = link.epoch if link.connected else -1
        rings.in_seq[i] = seq
        if link.connected:
            link.submit(seq)
        else:
            self.dropped_blocks += 1
        want = seq - self.latency_blocks
        if want < 0:
            if seq < len(self._carried):  # a resumed session: results in flight at its save
                carried = self._carried[seq][:, :frames]
                out.fill(0.0)
                out[:, : carried.shape[1]] = carried
            else:
                out.fill(0.0)  # the delayed stream before the first block is silence
            return
        j = want % rings.slots
        if rings.res_seq[j] != want and rings.in_epoch[j] >= 0:
            self._wait(link, rings, want, j)
        if rings.res_seq[j] == want and rings.res_start[j] == start - self._delay:
            out[...] = rings.res_audio[j, :, :frames]
        else:
            self.late_blocks += 1
            self.substitutions.note(start, frames)
            if (
                self.fallback == "bypass"
                and out.shape[0] == inp.shape[0]
                and rings.in_seq[j] == want
            ):
                if frames == self._block:
                    out[...] = self._in_views[j]
                else:
                    out[...] = self._in_views[j][:, :frames]
            else:
                out.fill(0.0)
        link.needed = want + 1

    def _wait(self, link: LinkBase, rings: Rings, want: int, j: int) -> None:
        """Wait for result ``want`` until the deadline, or until its epoch is over."""
        link.wait_result(j, want, int(rings.in_epoch[j]), perf_counter() + self._deadline)

    def health(self) -> NodeHealth:
        """[any-thread] Late blocks as xruns (real time), and the network figures."""
        return NodeHealth(xruns=self.xruns, remote=self.remote_stats())

    def remote_stats(self) -> RemoteStats:
        """[any-thread] Network round trips (µs) and fault counters, for metrics.json."""
        link = self._link
        rings = getattr(self, "_rings", None)
        count = min(rings.rtt_count, len(rings.rtt_us)) if rings is not None else 0
        rtt = rings.rtt_us[:count] if rings is not None else np.zeros(1)
        p50, p99, top = (
            float(v) for v in np.percentile(rtt if count else np.zeros(1), [50, 99, 100])
        )
        return {
            "url": self.url,
            "rtt_us": {"p50": p50, "p99": p99, "max": top, "count": count},
            "late_blocks": self.late_blocks,
            "dropped_blocks": self.dropped_blocks,
            "reconnects": link.reconnects if link else 0,
            "late_arrivals": link.late_arrivals if link else 0,
            "connected": bool(link and link.connected),
        }

    def reset(self) -> None:
        """[main-thread & !processing] Forget blocks in flight (results in flight are ignored)."""
        if getattr(self, "_rings", None) is not None:
            self._rings.res_seq.fill(-1)
            self._rings.in_seq.fill(-1)
        self._seq = 0

    def get_state(self) -> dict[str, Any]:
        """[main-thread & !processing] Settings, the chain's state on the node, blocks in flight.

        ``chain_state`` and ``in_flight`` are present when the node answered (see the
        module docstring); without them a resume starts the chain fresh.
        """
        state: dict[str, Any] = {
            "url": self.url, "latency_blocks": self.latency_blocks, "chain": self.chain,
        }  # fmt: skip
        link = self._link
        if link is None or not link.connected:
            return state
        try:
            answer = link.request_state({}, self._connect_timeout)
        except ConnectionError:
            return state
        if not isinstance(answer.get("stages"), list):
            return state
        state["chain_state"] = answer["stages"]
        rings = self._rings
        in_flight = []
        for seq in range(max(0, self._seq - self.latency_blocks), self._seq):
            j = seq % rings.slots
            if rings.res_seq[j] != seq:
                return state  # a result never came: the carried audio would be wrong
            in_flight.append(rings.res_audio[j, :, : rings.res_frames[j]].tolist())
        state["in_flight"] = in_flight
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """[main-thread & !processing] Restore the node's chain state and the blocks in flight.

        Raises:
            SessionError: the node refused the state or did not answer.
        """
        chain_state = state.get("chain_state")
        carried = state.get("in_flight") or []
        rings = self._rings
        shape = (rings.res_audio.shape[1], rings.res_audio.shape[2])
        if not isinstance(carried, list) or len(carried) > self.latency_blocks:
            raise SessionError(
                f"remote node {self.url}: in_flight must list at most {self.latency_blocks} blocks"
            )
        self._carried = []
        for block in carried:
            audio = np.asarray(block, np.float32)
            if audio.ndim != 2 or audio.shape[0] != shape[0] or audio.shape[1] > shape[1]:
                raise SessionError(
                    f"remote node {self.url}: an in_flight block of shape {audio.shape} does "
                    f"not fit ({shape[0]} channels, at most {shape[1]} frames)"
                )
            self._carried.append(audio)
        link = self._link
        if chain_state is None or link is None:
            return
        try:
            answer = link.request_state({"set": chain_state}, self._connect_timeout)
        except ConnectionError as err:
            raise SessionError(f"remote node {self.url}: cannot restore its chain: {err}") from err
        if not answer.get("ok"):
            raise SessionError(
                f"remote node {self.url}: the node refused the chain state: "
                f"{answer.get('error', 'no reason given')}"
            )

    def close(self) -> None:
        """[main-thread] Stop the link thread and close the connection."""
        if self._link is not None:
            self._link.close()  # kept: its counters still feed remote_stats()


def link_class(url: str) -> type[LinkBase]:
    """The link for ``url``'s transport: ``tcp://`` a plain socket, ``ws(s)://`` a WebSocket."""
    if urlsplit(url).scheme == "tcp":
        from ._tcp_link import TcpLink

        return TcpLink
    from ._link import Link  # websockets: an optional extra (``aers-host[remote]``)

    return Link


def _options(params: Mapping[str, Any], ctx: CheckContext) -> dict[str, Any]:
    opts = ctx.node_options
    return {
        "latency_blocks": int(params.get("latency_blocks", 1)),
        "fallback": str(opts.get("fallback", "silence")),
        "deadline_ms": float(opts["deadline_ms"]) if "deadline_ms" in opts else None,
        "channels_out": params.get("channels_out"),
        "connect_timeout_s": float(params.get("connect_timeout_s", 5.0)),
        "reconnect_max_ms": float(params.get("reconnect_max_ms", 2000.0)),
        "label": ctx.node_id or "remote",
        "hang_limit_s": float(opts["hang_limit_s"]) if "hang_limit_s" in opts else None,
    }


def _make_remote(params: Mapping[str, Any], ctx: CheckContext) -> Processor:
    token = os.environ.get(str(params["token_env"]), "")
    return RemoteProcessor(
        str(params["url"]), token, list(params.get("chain", [])), **_options(params, ctx)
    )


def _check_remote(params: Mapping[str, Any], ctx: CheckContext) -> list[ParamIssue]:
    url = str(params["url"])
    parts = urlsplit(url)
    if parts.scheme != "tcp" and missing_modules("remote"):  # before render fails to connect
        return [ParamIssue("", str(MissingExtraError("the remote node type", "remote")))]
    issues = [
        ParamIssue("chain", p.removeprefix("chain: "))
        for p in chain_shape_problems(params.get("chain", []))
    ]
    if parts.scheme == "tcp":
        from ._tcp import tcp_address  # socket: not imported by every validate

        try:
            tcp_address(url)
        except ValueError as err:
            issues.append(ParamIssue("url", str(err), "tcp://127.0.0.1:8766"))
    elif not parts.hostname:
        issues.append(ParamIssue("url", "the URL names no host", "ws://127.0.0.1:8765"))
    if not os.environ.get(str(params["token_env"])):
        issues.append(
            ParamIssue(
                "token_env",
                f"environment variable {params['token_env']} is not set",
                "export the node's token in it (the token itself never goes in a config)",
            )
        )
    return issues


def _remote_channels(params: Mapping[str, Any], n_in: int | None, ctx: CheckContext) -> int:
    if n_in is None:
        raise ChannelError("has no input connected", "connect a source to it")
    return int(params.get("channels_out", n_in))


REMOTE = BuiltinNodeType(
    name=REMOTE_NAME,
    role="processor",
    summary="Run a processor chain on a remote node (aers node serve) over WebSocket or TCP",
    factory=_make_remote,
    extra_properties={
        "url": {
            "type": "string",
            "pattern": "^(wss?|tcp)://",
            "description": "ws://host:port (WebSocket) or tcp://host:port (TCP transport)",
        },
        "token_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "chain": {"type": "array", "items": {"type": "object"}, "maxItems": 32},
        "latency_blocks": {"type": "integer", "minimum": 0, "maximum": 64, "default": 1},
        "channels_out": {"type": "integer", "minimum": 1, "maximum": 64},
        "connect_timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        "reconnect_max_ms": {"type": "number", "minimum": 10, "maximum": 60000},
    },
    required=("url", "token_env"),
    checker=_check_remote,
    channels=_remote_channels,
    traits=NodeTraits(nonlinear_reason="remote chain of unknown linearity"),
)
