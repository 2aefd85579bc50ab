"""The one "did you mean" phrasing shared by config, events, the graph API and the CLI."""

from __future__ import annotations

from aers_host._hints import did_you_mean


def test_the_closest_name_is_offered() -> None:
    assert did_you_mean("revreb", ["delay", "reverb", "gain"]) == "did you mean 'reverb'?"


def test_nothing_close_gives_no_hint() -> None:
    assert did_you_mean("xyz", ["reverb", "delay"]) == ""
    assert did_you_mean("gain", []) == ""


def test_several_close_names_best_first() -> None:
    hint = did_you_mean("rendr", ["run", "renders", "render"], n=2)
    assert hint == "did you mean 'render' or 'renders'?"


def test_non_text_choices_compare_as_text() -> None:
    assert did_you_mean("4800", [44100, 48000]) == "did you mean '48000'?"
