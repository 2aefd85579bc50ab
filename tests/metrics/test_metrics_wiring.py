"""From a real render to metrics.json, CSV, Prometheus text and the report."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from graphs import Registry

from aers_host.config import load_config
from aers_host.events import scheduler_for_config
from aers_host.graph import BlockTimings, Engine, RenderResult, build_plan, render, render_metrics
from aers_host.metrics import (
    CpuClock,
    RunObserver,
    collector_from_render,
    export_run,
    merge_summaries,
)

CONFIG = """
    duration: 3.5
    nodes:
      ev:  {type: events, params: {channels: 2}}
      g:   {type: gain, params: {gain_db: 0}}
      out: {type: output}
    connections:
      - {from: ev, to: g}
      - {from: g, to: out}
    events:
      - {id: ref, category: tone, at: 0, duration: 3.5, source: {generator: tone, freq: 1000},
         gain_db: -23, to: ev}
"""


@pytest.fixture(scope="module")
def run(registry: Registry, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("run")
    path = folder / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    cfg = load_config(path, registry=registry)
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None
    clock = CpuClock()
    clock.start()
    result = render(
        cfg, registry, out_dir=None, events=sched, event_targets=sched.targets(), capture=True
    )
    clock.stop()
    return cfg, sched, result, collector_from_render(result, scheduler=sched, clock=clock)


def test_collector_from_render_measures_the_output(run) -> None:  # type: ignore[no-untyped-def]
    _, _, result, collector = run
    summary = collector.summary()
    assert summary["blocks"] == result.timings.count
    out = summary["outputs"]["out"]
    # A centre-panned tone at -23 dB peak: -3 dB per channel, so -26 LUFS on two channels.
    assert out["integrated_lufs"] == pytest.approx(-26.0, abs=0.1)
    assert out["peak_dbfs"] == pytest.approx(-26.01, abs=0.02)
    assert summary["events"] == {"count": 1, "in_flight_max": 1}
    assert set(summary["nodes"]) == {"ev", "g", "out"}
    assert summary["cpu"]["process_percent"] > 0


def test_export_run_writes_everything(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg, sched, result, collector = run
    edges = [(c.src, c.dst, c.port) for c in cfg.connections]
    summary = export_run(
        collector,
        tmp_path,
        base=render_metrics(result),
        events=sched.events,
        edges=edges,
        report="html",
        csv=tmp_path / "series.csv",
        prometheus=tmp_path / "metrics.prom",
    )
    saved = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert saved["nodes"]["g"]["type"] == "gain"  # from the engine's own metrics
    assert "cpu_percent" in saved["nodes"]["g"]  # from the collector
    assert saved["files"]["report"] == str(tmp_path / "report.html")
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert 'aers_output_integrated_lufs{output="out"}' in (tmp_path / "metrics.prom").read_text(
        encoding="utf-8"
    )
    assert len((tmp_path / "series.csv").read_text(encoding="utf-8").splitlines()) == (
        summary["blocks"] + 1
    )


def test_merge_keeps_both_sides_per_node() -> None:
    merged = merge_summaries(
        {"nodes": {"a": {"type": "gain"}}, "x": 1},
        {"nodes": {"a": {"p50_us": 2.0}, "b": {}}, "y": 2},
    )
    assert merged == {"nodes": {"a": {"type": "gain", "p50_us": 2.0}, "b": {}}, "x": 1, "y": 2}


def test_levels_per_block_follow_the_capture(run) -> None:  # type: ignore[no-untyped-def]
    _, _, _, collector = run
    series = collector.timeseries()
    peak = series["levels"]["out"]["peak_db"]
    assert np.all(np.abs(peak[1:] - (-26.02)) < 0.1)


def observed_render(registry: Registry, cfg, sched, observer: RunObserver) -> RenderResult:  # type: ignore[no-untyped-def]
    """The render loop with the three observer calls ``graph.render`` is asked to make."""
    plan = build_plan(cfg, registry, event_targets=sched.targets())
    total = round(cfg.duration * cfg.sample_rate)
    timings = BlockTimings.allocate(-(-total // cfg.block_size), len(plan.nodes))
    engine = Engine(plan, events=sched, timings=timings)
    observer.bind(plan, timings)
    done = 0
    while done < total:
        frames = min(cfg.block_size, total - done)
        for sink in plan.sinks():
            if sink.proc.needs_drain(frames):  # type: ignore[attr-defined]
                sink.proc.take()  # type: ignore[attr-defined]
        engine.process_block(frames)
        observer.after_block(engine, frames)
        done += frames
    observer.finish()
    plan.close()
    return RenderResult(plan, total, 0.1, timings)


def test_observer_meters_every_bus_per_block(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    cfg = load_config(path, registry=registry, overrides={"block_size": 256})
    sched = scheduler_for_config(cfg, registry)
    assert sched is not None
    observer = RunObserver()
    result = observed_render(registry, cfg, sched, observer)
    assert observer.meter.node_ids == ["ev"]  # the events source; `g` is not a bus
    assert observer.clock.wall > 0 and observer.clock.cpu > 0
    collector = collector_from_render(result, scheduler=sched, observer=observer)
    levels = collector.timeseries()["levels"]["ev"]
    assert np.all(np.abs(levels["peak_db"] - (-26.02)) < 0.1)
    assert np.all(np.abs(levels["rms_db"] - (-29.03)) < 0.3)  # 5.3 cycles per block: ripple
    assert collector.summary()["cpu"]["process_percent"] > 0


def test_observer_with_chosen_meters(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "graph.yaml"
    path.write_text(textwrap.dedent(CONFIG).lstrip(), encoding="utf-8")
    cfg = load_config(path, registry=registry)
    sched = scheduler_for_config(cfg, registry)
    observer = RunObserver(["g", "out"])  # a sink is metered on the buffer it reads
    observed_render(registry, cfg, sched, observer)
    assert observer.meter.node_ids == ["g", "out"]
    assert observer.meter.peak[:, 0].max() == pytest.approx(10 ** (-26.02 / 20), rel=0.01)
    np.testing.assert_array_equal(observer.meter.peak[:, 1], observer.meter.peak[:, 0])


def test_merge_wraps_bare_values_such_as_output_paths() -> None:
    merged = merge_summaries(
        {"outputs": {"out": "out/out.wav"}}, {"outputs": {"out": {"integrated_lufs": -23.0}}}
    )
    assert merged["outputs"] == {"out": {"path": "out/out.wav", "integrated_lufs": -23.0}}


NOISY = """\
duration: 4.0
block_size: 300
nodes:
  src: {type: noise, params: {level_db: -20, seed: 3}}
  eq: {type: eq, params: {bands: [{type: highshelf, freq: 4000, gain_db: 6, q: 0.7}]}}
  main: {type: output}
connections:
  - {from: src, to: eq}
  - {from: eq, to: main}
"""


def test_outputs_are_measured_from_their_drained_chunks_as_written(
    registry: Registry, tmp_path: Path
) -> None:
    """Per-block levels and loudness of an output equal what its WAV file holds."""
    import soundfile as sf

    from aers_host._pipeline import render_run
    from aers_host.metrics import measure

    path = tmp_path / "g.yaml"
    path.write_text(NOISY, encoding="utf-8")
    cfg = load_config(path, registry=registry)
    outcome = render_run(cfg, registry, out_dir=tmp_path / "o", csv=tmp_path / "m.csv")
    audio = sf.read(tmp_path / "o" / "main.wav", dtype="float32", always_2d=True)[0].T
    assert outcome.result.captured == {}  # nothing kept in memory for the metrics
    blocks = [audio[:, s : s + 300] for s in range(0, audio.shape[1], 300)]
    peak = np.array([20 * np.log10(np.abs(b).max()) for b in blocks])
    rms = np.array([10 * np.log10(np.mean(b.astype(np.float64) ** 2)) for b in blocks])
    rows = np.genfromtxt(tmp_path / "m.csv", delimiter=",", names=True)
    np.testing.assert_allclose(rows["main_peak_db"], peak, atol=0.01)
    np.testing.assert_allclose(rows["main_rms_db"], rms, atol=0.01)
    reference = measure(audio, 48000)
    written = json.loads((tmp_path / "o" / "metrics.json").read_text())["outputs"]["main"]
    assert written["integrated_lufs"] == pytest.approx(reference.integrated_lufs, abs=1e-6)
    assert written["true_peak_dbtp"] == pytest.approx(reference.true_peak_dbtp, abs=1e-6)
    assert written["loudness_range_lu"] == pytest.approx(reference.loudness_range_lu, abs=1e-6)
