"""Remote audio nodes over WebSocket or TCP: the ``remote`` node type and ``aers node serve``.

Public surface only; see ``_protocol`` (the binary frame format), ``_chain`` (validated
processor chains), ``_session`` (what a node answers, on either transport), ``_server``
(the node; WebSocket), ``_tcp``/``_tcp_server``/``_tcp_link`` (the TCP transport),
``_linkbase``/``_link`` (the client's network thread) and ``_client`` (the ``remote``
Processor and node type).

Names load on first use (PEP 562): the ``remote`` node type is a built-in that every
registry lists, while ``websockets`` is an optional extra (``aers-host[remote]``) that only
a ``ws://`` connection or a WebSocket node needs; ``tcp://`` needs nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports_from

__all__ = [
    "BLOCK",
    "ERROR",
    "HEADER",
    "HEADER_SIZE",
    "HELLO",
    "MAGIC",
    "MAX_CHAIN",
    "MAX_CHANNELS",
    "MAX_FRAMES",
    "MAX_MESSAGE",
    "MIN_TOKEN_LENGTH",
    "PROTOCOL_VERSION",
    "REMOTE",
    "RESULT",
    "Chain",
    "ChainError",
    "Frame",
    "NodeServer",
    "NodeStats",
    "ProtocolError",
    "RemoteProcessor",
    "chain_shape_problems",
    "encode_block",
    "encode_header",
    "encode_json",
    "parse_frame",
]

_WHERE = {
    "BLOCK": "._protocol",
    "ERROR": "._protocol",
    "HEADER": "._protocol",
    "HEADER_SIZE": "._protocol",
    "HELLO": "._protocol",
    "MAGIC": "._protocol",
    "MAX_CHAIN": "._chain",
    "MAX_CHANNELS": "._protocol",
    "MAX_FRAMES": "._protocol",
    "MAX_MESSAGE": "._protocol",
    "MIN_TOKEN_LENGTH": "._server",
    "PROTOCOL_VERSION": "._protocol",
    "REMOTE": "._client",
    "RESULT": "._protocol",
    "Chain": "._chain",
    "ChainError": "._chain",
    "Frame": "._protocol",
    "NodeServer": "._server",
    "NodeStats": "._server",
    "ProtocolError": "._protocol",
    "RemoteProcessor": "._client",
    "chain_shape_problems": "._chain",
    "encode_block": "._protocol",
    "encode_header": "._protocol",
    "encode_json": "._protocol",
    "parse_frame": "._protocol",
}

if TYPE_CHECKING:
    from ._chain import MAX_CHAIN, Chain, ChainError, chain_shape_problems
    from ._client import REMOTE, RemoteProcessor
    from ._protocol import (
        BLOCK,
        ERROR,
        HEADER,
        HEADER_SIZE,
        HELLO,
        MAGIC,
        MAX_CHANNELS,
        MAX_FRAMES,
        MAX_MESSAGE,
        PROTOCOL_VERSION,
        RESULT,
        Frame,
        ProtocolError,
        encode_block,
        encode_header,
        encode_json,
        parse_frame,
    )
    from ._server import MIN_TOKEN_LENGTH, NodeServer, NodeStats


__getattr__ = exports_from(__name__, _WHERE)
