"""Remote audio nodes over WebSocket: the ``remote`` node type and ``aers node serve``.

Public surface only; see ``_protocol`` (the binary frame format), ``_chain`` (validated
processor chains), ``_server`` (the node), ``_link`` (the client's network thread) and
``_client`` (the ``remote`` Processor and node type).
"""

from ._chain import MAX_CHAIN, Chain, ChainError, chain_shape_problems
from ._client import REMOTE, RemoteProcessor
from ._link import Link, Rings
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
from ._server import MIN_TOKEN_LENGTH, NodeServer, NodeStats, token_from_request

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
    "Link",
    "NodeServer",
    "NodeStats",
    "ProtocolError",
    "RemoteProcessor",
    "Rings",
    "chain_shape_problems",
    "encode_block",
    "encode_header",
    "encode_json",
    "parse_frame",
    "token_from_request",
]
