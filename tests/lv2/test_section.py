"""The signed ``lv2`` section is a trust boundary: inconsistent records are refused."""

from __future__ import annotations

from typing import Any

import pytest

from aers_host.errors import PluginValidationError
from aers_host.lv2 import ControlParam, Lv2Section

GOOD: dict[str, Any] = {
    "uri": "urn:x", "audio_in": [0], "audio_out": [1], "controls": {"gain": 2},
    "outputs": [3], "latency_port": 3, "atom_ports": [], "state": False,
}  # fmt: skip
PARAMS = ({"name": "gain", "default": 0.0, "min": -1.0, "max": 1.0},)


def test_a_consistent_section_round_trips():
    section = Lv2Section.from_manifest(GOOD, PARAMS, "x")
    assert section.to_dict() == GOOD and section.port_count == 4


@pytest.mark.security
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"outputs": [2]}, "a port index is used twice"),
        ({"audio_in": [0, 4]}, "2 audio inputs but 1 outputs"),
        ({"latency_port": 1}, "latency_port is not a control output"),
    ],
)
def test_inconsistent_sections_are_refused(change: dict[str, Any], reason: str):
    with pytest.raises(PluginValidationError, match=reason):
        Lv2Section.from_dict({**GOOD, **change}, "x")


@pytest.mark.security
def test_params_without_a_control_port_are_refused():
    extra = (*PARAMS, {"name": "ghost", "default": 0.0, "min": 0.0, "max": 1.0})
    with pytest.raises(PluginValidationError, match="differ: ghost"):
        Lv2Section.from_manifest(GOOD, extra, "x")
    with pytest.raises(PluginValidationError, match="without an lv2 section"):
        Lv2Section.from_manifest(None, PARAMS, "x")


def test_control_values_are_clamped_rounded_and_snapped():
    toggle = ControlParam("t", 0, 0.0, 0.0, 1.0, toggle=True)
    integer = ControlParam("i", 0, 0.0, 0.0, 10.0, integer=True)
    choice = ControlParam("c", 0, 1.0, 0.0, 8.0, choices=(0.0, 1.0, 5.0))
    assert (toggle.snap(0.6), toggle.snap(0.4), toggle.snap(7.0)) == (1.0, 0.0, 1.0)
    assert (integer.snap(2.5), integer.snap(-3.0), integer.snap(99.0)) == (3.0, 0.0, 10.0)
    assert (choice.snap(3.2), choice.snap(2.9), choice.snap(100.0)) == (5.0, 1.0, 5.0)
