"""Imports every command module so each registers its commands on the app."""

from . import (  # noqa: F401
    _batch,
    _dataset,
    _doctor,
    _edit,
    _events,
    _graph,
    _keys,
    _lv2,
    _node,
    _plugin,
    _run,
    _serve,
    _session,
)
