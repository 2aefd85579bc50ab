"""Stems that sum to the mix: exact on linear graphs, residual and pre fallbacks otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_scenes import (
    DIRECT,
    LINEAR,
    NONLINEAR,
    dbfs,
    read,
    render_mix,
    wav_sum,
)
from graphs import LoadGraph, Registry

from aers_host.dataset import NonlinearStemsError, StemsReport, render_stems

LIMIT = -120.0


def test_exact_event_stems_plus_bed_sum_to_the_mix(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(LINEAR)
    report = render_stems(cfg, registry, tmp_path / "out")
    mixes = render_mix(registry, cfg)  # an independent render, as `aers events record` makes it
    for output in ("main", "dlg_out"):
        folder = tmp_path / "out" / "stems" / output
        parts = [folder / "bed.wav", *sorted((folder / "events").glob("*.wav"))]
        error = dbfs(mixes[output] - wav_sum(parts, mixes[output]))
        assert error <= LIMIT, (output, error)
        measured = report.groups[output]["error_dbfs"]["events"]  # None: bit-exact
        assert measured is None or measured <= LIMIT
    assert report.within_tolerance()
    assert {e["status"] for e in report.entries} == {"played", "stolen"}


def test_exact_residual_is_rounding_and_completes_the_sum(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(LINEAR)
    report = render_stems(cfg, registry, tmp_path)
    mix = render_mix(registry, cfg)["main"]
    folder = tmp_path / "stems" / "main"
    residual = read(folder / "residual.wav")
    assert dbfs(residual) <= LIMIT
    assert report.residual_dbfs() == pytest.approx(dbfs(residual), abs=0.01)
    parts = [folder / "bed.wav", folder / "residual.wav", *(folder / "events").glob("*.wav")]
    assert dbfs(mix - wav_sum(parts, mix)) <= -140.0


def test_tolerance_counts_the_residual_only_in_exact_mode(tmp_path: Path) -> None:
    groups = {
        "out": {
            "residual": "r.wav",
            "residual_peak_dbfs": -100.0,
            "error_dbfs": {"events": -150.0, "buses": None},
        }
    }
    exact = StemsReport("exact", tmp_path, 48000, 1, 0, [], [], groups=groups)
    residual = StemsReport("residual", tmp_path, 48000, 1, 0, [], [], groups=groups)
    assert not exact.within_tolerance()  # the stems alone miss the mix by -100 dBFS
    assert residual.within_tolerance()  # there the residual is the point
    assert exact.manifest()["residual_dbfs"] == -100.0


def test_exact_bus_stems_plus_bed_sum_to_the_mix(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(LINEAR)
    render_stems(cfg, registry, tmp_path)
    mix = render_mix(registry, cfg)["main"]
    folder = tmp_path / "stems" / "main"
    buses = sorted((folder / "buses").glob("*.wav"))
    assert [p.stem for p in buses] == ["amb", "dlg", "sfx"]
    assert dbfs(mix - wav_sum([folder / "bed.wav", *buses], mix)) <= LIMIT


def test_bed_is_the_mix_without_events(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(LINEAR)
    render_stems(cfg, registry, tmp_path)
    bed = read(tmp_path / "stems" / "main" / "bed.wav")
    assert dbfs(bed) == pytest.approx(-20.0 + 20 * np.log10(1 + 10 ** (-10 / 20)), abs=3.0)


def test_event_called_bed_does_not_overwrite_the_bed(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(LINEAR)
    report = render_stems(cfg, registry, tmp_path)
    assert report.event_files["bed"]["main"] == "stems/main/events/bed.wav"
    assert report.groups["main"]["bed"] == "stems/main/bed.wav"


def test_output_no_event_reaches_gets_no_stems(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    report = render_stems(load_graph(LINEAR), registry, tmp_path)
    assert set(report.groups) == {"main", "dlg_out"}
    assert not (tmp_path / "stems" / "hum_out").exists()
    assert set(report.event_files["d1"]) == {"main", "dlg_out"}


def test_windowed_pass_equals_a_pass_from_sample_zero(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    # exact mode starts each pass at the event's block; residual mode always starts at 0
    cfg = load_graph(LINEAR)
    render_stems(cfg, registry, tmp_path / "win", mode="exact")
    render_stems(cfg, registry, tmp_path / "full", mode="residual")
    for event in ("s2", "b1", "d1", "bed"):
        rel = Path("stems") / "main" / "events" / f"{event}.wav"
        windowed, full = read(tmp_path / "win" / rel), read(tmp_path / "full" / rel)
        assert np.array_equal(windowed, full), event


def test_exact_mode_refuses_a_nonlinear_graph_before_writing(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    with pytest.raises(NonlinearStemsError) as info:
        render_stems(load_graph(NONLINEAR), registry, tmp_path)
    assert [n.id for n in info.value.nodes] == ["lim", "duck"]
    assert not (tmp_path / "stems").exists()


def test_residual_makes_stems_sum_exactly_on_a_nonlinear_graph(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(NONLINEAR)
    report = render_stems(cfg, registry, tmp_path, mode="residual")
    mix = render_mix(registry, cfg)["out"]
    folder = tmp_path / "stems" / "out"
    events = sorted((folder / "events").glob("*.wav"))
    without = dbfs(mix - wav_sum([folder / "bed.wav", *events], mix))
    with_residual = dbfs(mix - wav_sum([folder / "bed.wav", folder / "residual.wav", *events], mix))
    assert without > -60.0  # the limiter and the ducker really interact
    assert with_residual <= LIMIT
    assert report.groups["out"]["residual_peak_dbfs"] == pytest.approx(without, abs=0.01)
    manifest = json.loads((folder.parent / "stems.json").read_text(encoding="utf-8"))
    assert manifest["mode"] == "residual"
    assert [n["id"] for n in manifest["nonlinear"]] == ["lim", "duck"]


def test_pre_stems_sum_to_the_target_input(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    cfg = load_graph(DIRECT)
    report = render_stems(cfg, registry, tmp_path, mode="pre")
    mix = render_mix(registry, cfg)["out"]  # the events node feeds the output unchanged
    folder = tmp_path / "stems-pre" / "ev"
    assert dbfs(mix - read(folder / "bus.wav")) <= LIMIT
    events = sorted((folder / "events").glob("*.wav"))
    assert [p.stem for p in events] == ["t1", "t2"]
    assert dbfs(mix - wav_sum(events, mix)) <= LIMIT
    assert report.event_files["t1"] == {"ev": "stems-pre/ev/events/t1.wav"}


def test_pre_mode_works_on_a_nonlinear_graph(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    report = render_stems(load_graph(NONLINEAR), registry, tmp_path, mode="pre")
    assert set(report.groups) == {"sfx", "dlg", "amb"}
    assert report.worst_error_dbfs() is None


def test_unknown_mode_is_a_caller_bug(
    registry: Registry, load_graph: LoadGraph, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="unknown stem mode"):
        render_stems(load_graph(DIRECT), registry, tmp_path, mode="wet")  # type: ignore[arg-type]
