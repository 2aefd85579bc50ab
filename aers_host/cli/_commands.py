"""Imports every command module so each registers its commands on the app."""

from . import _doctor, _events, _graph, _keys, _plugin  # noqa: F401
