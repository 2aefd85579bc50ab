"""What a node does with one client's messages, whatever transport carries them.

A :class:`NodeSession` answers the client's HELLO (validating the stream format and the
chain against the node's registry, or the node's fixed chain), then each BLOCK with a
RESULT written into one preallocated buffer, and each STATE request with the chain's state.
The WebSocket node (``_server``) and the TCP node (``_tcp_server``) only read and write the
bytes around these calls, so both transports accept exactly the same messages.

Example:
    >>> from aers_host import default_registry
    >>> from aers_host.remote import parse_frame
    >>> session = NodeSession(default_registry(entry_points=False, store=False))
    >>> reply = session.hello({"sample_rate": 48000, "block_size": 64, "channels": 1,
    ...                        "chain": []})
    >>> parse_frame(reply).json()
    {'latency_samples': 0, 'channels_out': 1}
    >>> session.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._limits import check_whole
from .._nodetype import NodeType
from ..config import schema_range
from ..errors import LimitError
from ._chain import Chain, ChainError
from ._protocol import (
    BLOCK,
    ERROR,
    HEADER_SIZE,
    HELLO,
    MAX_CHANNELS,
    MAX_FRAMES,
    RESULT,
    STATE,
    Frame,
    ProtocolError,
    encode_header,
    encode_json,
)


class NodeSession:
    """One client's chain on the node, and the buffers its blocks are answered from.

    Args:
        registry: node types a chain may use.
        fixed_chain: the node's ``--chain``; a client may then send none or exactly this one.
    """

    def __init__(
        self, registry: Mapping[str, NodeType], fixed_chain: list[Any] | None = None
    ) -> None:
        self._registry = registry
        self._fixed = fixed_chain
        #: The prepared chain once HELLO was accepted (None before, or when refused).
        self.chain: Chain | None = None
        self._inp = np.zeros((0, 0), np.float32)
        self._out = bytearray()
        self._samples = np.zeros(0, np.float32)

    def hello(self, hello: Mapping[str, Any]) -> bytes:
        """[node-thread] The answer to the client's HELLO: HELLO, or ERROR ``{error, problems}``.

        On HELLO, :attr:`chain` is prepared (and warmed) and the block buffers allocated,
        sized by the stream format after it was checked: the sample rate against the
        config's own range (:func:`~aers_host.config.schema_range`, so a node accepts no
        rate a graph cannot have), frames and channels against the protocol's caps.
        """
        try:
            sample_rate, block, channels = (
                _int_field(hello, "sample_rate", *schema_range("sample_rate")),
                _int_field(hello, "block_size", 1, MAX_FRAMES),
                _int_field(hello, "channels", 1, MAX_CHANNELS),
            )
            chain_spec = self._chosen_chain(hello.get("chain", []))
            chain = Chain.build(chain_spec, self._registry, sample_rate, block, channels)
            chain.warm()
        except ChainError as err:
            return encode_json(ERROR, {"error": "invalid chain", "problems": err.problems})
        self.chain = chain
        self._inp = np.zeros((channels, block), np.float32)  # writable copy of each block
        self._out = bytearray(HEADER_SIZE + chain.channels_out * block * 4)
        self._samples = np.frombuffer(self._out, dtype="<f4", offset=HEADER_SIZE)
        return encode_json(
            HELLO, {"latency_samples": chain.latency_samples, "channels_out": chain.channels_out}
        )

    def _chosen_chain(self, requested: Any) -> Any:
        if self._fixed is None:
            return requested
        if requested not in ([], None, self._fixed):
            raise ChainError(["this node runs a fixed chain (--chain); send an empty chain"])
        return self._fixed

    def answer(self, frame: Frame) -> bytes | memoryview:
        """[node-thread] The reply to a BLOCK (a RESULT, a view of the reused buffer) or STATE.

        Raises:
            ProtocolError: any other message, or a block of another shape than the HELLO's.
        """
        chain = self.chain
        assert chain is not None, "answer() before an accepted hello()"
        if frame.type == STATE:
            return _state_message(chain, frame.json())
        block, channels = chain.block_size, chain.channels_in
        if frame.type != BLOCK or frame.channels != channels or frame.frames > block:
            raise ProtocolError(
                f"expected BLOCK of {channels} channels × ≤{block} frames, got type "
                f"{frame.type} {frame.channels}×{frame.frames}"
            )
        view = self._inp[:, : frame.frames]
        view[...] = frame.audio()
        result = chain.process(view, frame.start)
        size = result.size
        self._samples[:size].reshape(result.shape)[...] = result
        encode_header(self._out, RESULT, frame.seq, frame.start, frame.frames, chain.channels_out)
        return memoryview(self._out)[: HEADER_SIZE + size * 4]

    def close(self) -> None:
        """Release the chain's outside resources (sandbox workers, native handles)."""
        if self.chain is not None:
            self.chain.close()


def _state_message(chain: Chain, request: Mapping[str, Any]) -> bytes:
    """[node-thread] Answer a STATE request: the chain's state, or the result of restoring it."""
    try:
        if "set" in request:
            chain.set_state(request["set"])
            return encode_json(STATE, {"ok": True})
        return encode_json(STATE, {"stages": chain.get_state()})
    except ChainError as err:
        return encode_json(STATE, {"error": "; ".join(err.problems)})
    except ValueError as err:  # over MAX_STATE_BYTES, or not JSON data
        return encode_json(STATE, {"error": f"the chain's state cannot be sent: {err}"})


def _int_field(hello: Mapping[str, Any], key: str, low: int, high: int) -> int:
    """``hello[key]`` if it is a whole number in ``low…high`` (the one check, ``_limits``).

    Raises:
        ChainError: anything else, worded for the peer with at most 40 characters of what
            it sent (:attr:`~aers_host.errors.LimitError.shown`).
    """
    try:
        return check_whole(hello.get(key), low, high, "", f"hello.{key}")
    except LimitError as err:
        raise ChainError(
            [f"{err.field} must be an integer in [{low}, {high}], got {err.shown}"]
        ) from err
