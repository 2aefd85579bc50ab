"""A sweep axis means what the config key means, and an axis that changes nothing is refused.

Issue 21, item 4: ``seed: "1..2"`` over a graph with an unseeded pink ``noise`` source made
two variants with byte-identical audio; now the axis reaches the source, and an axis that
still changes nothing (every source seeds itself, a route no event takes) is an error
naming the axis before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sweep_fakes import WriteSweep

from aers_host.batch import load_sweep, run_sweep
from aers_host.errors import ConfigError

PINK = """
    duration: 0.05
    block_size: 256
    nodes:
      n: {type: noise, params: {color: pink, channels: 1}}
      out: {type: output}
    connections:
      - {from: n, to: out}
"""


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    return [str(p) for p in info.value.problems]


def test_seed_axis_reaches_an_unseeded_noise_source(
    write_sweep: WriteSweep, tmp_path: Path
) -> None:
    sweep = load_sweep(write_sweep('base: base.yaml\naxes:\n  seed: "1..2"\n', PINK))
    report = run_sweep(sweep, tmp_path / "out", scheduler="threads")
    assert report.counts["done"] == 2
    first, second = (sf.read(tmp_path / "out" / v.id / "out.wav")[0] for v in sweep.variants)
    assert np.abs(first).max() > 0 and not np.array_equal(first, second)


def test_seed_axis_over_self_seeded_sources_is_refused(write_sweep: WriteSweep) -> None:
    base = PINK.replace("{color: pink, channels: 1}", "{color: pink, channels: 1, seed: 7}")
    path = write_sweep("base: base.yaml\naxes:\n  seed: [1, 2, 3]\n", base)
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:3: axes.seed: axis 'seed' changes nothing")
    assert "3 values" in problem and "set no seed of their own" in problem


def test_route_no_event_takes_is_an_idle_axis(write_sweep: WriteSweep) -> None:
    base = """
        duration: 0.05
        nodes:
          a: {type: events}
          b: {type: events}
          out: {type: output}
        connections:
          - {from: a, to: out}
          - {from: b, to: out}
        routing: {footsteps: a, ambience: a}
        events:
          - {id: e1, category: footsteps, at: 0, source: {generator: impulse}}
    """
    used = write_sweep("base: base.yaml\naxes:\n  routing.footsteps: [a, b]\n", base)
    assert len(load_sweep(used).variants) == 2  # the route is taken: the axis matters
    idle = write_sweep("base: base.yaml\naxes:\n  routing.ambience: [a, b]\n", base)
    (problem,) = _problems(idle)
    assert "axes.routing.ambience: axis 'routing.ambience' changes nothing" in problem


def test_single_value_axis_is_an_override_not_a_sweep(write_sweep: WriteSweep) -> None:
    base = PINK.replace("channels: 1}", "channels: 1, seed: 7}")
    assert len(load_sweep(write_sweep("base: base.yaml\naxes:\n  seed: [5]\n", base)).variants) == 1
