"""Seeds of procedural sources: one top-level ``seed`` derives every source's own.

A config's ``seed`` (default 0) is the seed of the whole graph. A source that takes a seed
— a node type whose params declare an integer ``seed`` (``noise``, and any plugin that
declares one), or a generated scene event — and does not set its own gets
``derive_seed(its id, seed)``: stable across runs and machines, different for every node
and event, and different for every top-level seed. So a sweep axis ``seed: [1, 2]`` changes
every unseeded source, exactly as editing ``seed:`` in the file does (docs/config.md).

At ``seed: 0`` an event's seed is the CRC-32 of its id plus one, what scenes used before
the top-level seed reached them, so their audio is unchanged.

Example:
    >>> derive_seed("rain") == derive_seed("rain")
    True
    >>> len({derive_seed("rain", 1), derive_seed("rain", 2), derive_seed("wind", 1)})
    3
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, Final

#: The params key a seeded source reads.
SEED_KEY: Final = "seed"


def derive_seed(name: str, seed: int = 0) -> int:
    """[any-thread] The seed of source ``name`` (node or event id) under top-level ``seed``.

    CRC-32 of the name, started from the top-level seed folded to 32 bits, plus one (so
    never 0): in ``1 … 2**32``. Not ``hash()``, which Python salts per process.
    """
    folded = (seed ^ (seed >> 32)) & 0xFFFFFFFF
    return zlib.crc32(name.encode("utf-8"), folded) + 1


def takes_seed(params_schema: Mapping[str, Any]) -> bool:
    """[any-thread] Whether a node type's params schema declares an integer ``seed``."""
    prop = params_schema.get("properties", {}).get(SEED_KEY)
    return isinstance(prop, Mapping) and prop.get("type") == "integer"
