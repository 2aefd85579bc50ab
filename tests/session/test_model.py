"""The session document: format versions, unknown fields, field types, plugin builds."""

from __future__ import annotations

import pytest

from aers_host.errors import SessionError
from aers_host.session import (
    FORMAT_VERSION,
    PluginChangedWarning,
    PluginFingerprint,
    Session,
    check_plugins,
)

BASE = {"format_version": FORMAT_VERSION, "name": "s", "config": {"nodes": {}}, "position": 3}


def test_round_trip() -> None:
    s = Session.from_dict(BASE)
    assert Session.from_dict(s.to_dict()) == s


def test_newer_minor_is_accepted_and_unknown_fields_survive() -> None:
    data = {**BASE, "format_version": "1.9", "mixdown": {"stems": 4}, "future": [1, 2]}
    s = Session.from_dict(data)
    assert s.extra == {"mixdown": {"stems": 4}, "future": [1, 2]}
    again = s.to_dict()
    assert again["mixdown"] == {"stems": 4} and again["future"] == [1, 2]
    assert again["format_version"] == "1.9"


@pytest.mark.parametrize(
    ("version", "why"),
    [("2.0", "upgrade AERS"), ("0.9", "too old"), ("1", "MAJOR.MINOR"), (1.0, "MAJOR.MINOR"),
     (None, "MAJOR.MINOR")],
)  # fmt: skip
def test_other_major_or_malformed_version_is_refused(version: object, why: str) -> None:
    with pytest.raises(SessionError, match=why):
        Session.from_dict({**BASE, "format_version": version})


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [("name", 3, "'name' must be str"), ("config", [], "'config' must be Mapping"),
     ("position", "0", "'position' must be int"), ("position", True, "'position' must be int"),
     ("position", -1, "≥ 0"), ("nodes", [], "'nodes' must be Mapping")],
)  # fmt: skip
def test_wrong_field_types_are_refused(field: str, value: object, why: str) -> None:
    with pytest.raises(SessionError, match=why):
        Session.from_dict({**BASE, field: value})


def test_missing_required_field() -> None:
    with pytest.raises(SessionError, match="missing field 'config'"):
        Session.from_dict({"format_version": "1.0", "name": "x"})


SAVED = {"acme-trem": PluginFingerprint("store", "1.2.0", "a" * 64)}


def test_same_plugin_build_restores_silently() -> None:
    s = Session(name="s", config={}, plugins=SAVED)
    assert check_plugins(s, dict(SAVED)) == []


@pytest.mark.parametrize(
    ("current", "why"),
    [({"acme-trem": PluginFingerprint("store", "1.2.0", "b" * 64)}, "changed"),
     ({"acme-trem": PluginFingerprint("store", "1.3.0", "a" * 64)}, "changed"),
     ({}, "not installed now")],
)  # fmt: skip
def test_changed_plugin_hash_is_refused_unless_allowed(
    current: dict[str, PluginFingerprint], why: str
) -> None:
    s = Session(name="s", config={}, plugins=SAVED)
    with pytest.raises(SessionError, match=rf"acme-trem.*{why}.*\n.*--allow-changed"):
        check_plugins(s, current)
    with pytest.warns(PluginChangedWarning, match=why):
        changes = check_plugins(s, current, allow_changed=True)
    assert len(changes) == 1
