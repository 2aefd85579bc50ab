"""``aers run``: a real-time simulation, paced to the wall clock, with a live table."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.live import Live
from rich.table import Table

from .._extras import require_extra
from .._features import health_of
from ..device import DEFAULT_PERIODS, MAX_PERIODS
from ..errors import AudioDeviceError
from ._app import app, finite_seconds, out_console, print_json
from ._graph import (
    BlockOpt,
    ConfigArg,
    JsonOpt,
    ThreadsOpt,
    _load,
    report_node_health,
    with_threads,
)

if TYPE_CHECKING:
    from ..config import GraphConfig
    from ..device import JackDevice
    from ..graph import BlockTimings, Engine, Pacing, Plan
    from ..plugins import NodeRegistry

#: Seconds between refreshes of the live table.
REFRESH_S = 0.25


class LiveTable:
    """Observer of a paced render that redraws a node table a few times a second.

    Reads what the engine already keeps (each node's last output block and the timing
    arrays); the table is built between blocks on the main thread, never inside one.
    """

    def __init__(self, live: Live, pacing: Pacing, device: JackDevice | None = None) -> None:
        self.live = live
        self.pacing = pacing
        self.device = device
        self._plan: Plan | None = None
        self._timings: BlockTimings | None = None
        self._next = 0.0

    def bind(self, plan: Plan, timings: BlockTimings) -> None:
        """Remember the plan and the timing arrays."""
        self._plan, self._timings = plan, timings

    def after_block(self, engine: Engine, frames: int) -> None:
        """Redraw when the refresh interval has passed."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + REFRESH_S
            self.live.update(self.table(engine.position), refresh=True)

    def finish(self) -> None:
        """Nothing to release."""

    def table(self, position: int) -> Table:
        """Nodes with their peak level, process time and latency."""
        plan, timings = self._plan, self._timings
        assert plan is not None and timings is not None
        seconds = position / plan.sample_rate
        device = self.device
        table = Table(
            title=f"{seconds:7.2f} s · JACK {device.name}: underruns {device.underruns} · "
            f"xruns {device.xruns}"
            if device is not None
            else f"{seconds:7.2f} s · deadline misses {self.pacing.misses} · "
            f"worst late {self.pacing.worst_late_s * 1000:.1f} ms"
        )
        for column in ("node", "type", "peak dBFS", "p50 µs", "p99 µs", "latency", "xruns"):
            table.add_column(column, justify="left" if column in ("node", "type") else "right")
        count = max(timings.count, 1)
        recent = timings.node_ns[max(0, count - 400) : count] / 1000.0
        for i, node in enumerate(plan.nodes):
            block = node.out_buf if node.role != "sink" else node.in_buf
            peak = float(np.abs(block).max()) if block.size else 0.0
            level = f"{20 * np.log10(peak):6.1f}" if peak > 1e-6 else "  -inf"
            table.add_row(
                node.id,
                node.type_name,
                level,
                f"{np.percentile(recent[:, i], 50):.1f}",
                f"{np.percentile(recent[:, i], 99):.1f}",
                str(node.path_latency),
                str(health_of(node.proc).xruns),
            )
        return table


JackOpt = Annotated[
    bool, typer.Option("--jack", help="Play and record through JACK (docs/live-audio.md).")
]
ClientNameOpt = Annotated[
    str, typer.Option("--client-name", help="JACK client name (ports: NAME:<node>_<channel>).")
]
ConnectOpt = Annotated[
    bool,
    typer.Option("--connect", help="Connect outputs to system playback, inputs to capture."),
]
PeriodsOpt = Annotated[
    int,
    typer.Option(
        "--jack-periods",
        min=1,
        max=MAX_PERIODS,
        help="JACK periods of pre-roll between engine and device (added latency).",
    ),
]


@app.command("run")
def run_command(
    config: ConfigArg,
    duration: Annotated[
        float | None, typer.Option(
            "--duration", min=0.001, help="Seconds to run.", callback=finite_seconds
        )
    ] = None,
    block_size: BlockOpt = None,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Folder for outputs and metrics.json.")
    ] = Path("out/run"),
    as_json: JsonOpt = False,
    jack: JackOpt = False,
    client_name: ClientNameOpt = "aers",
    connect: ConnectOpt = False,
    jack_periods: PeriodsOpt = DEFAULT_PERIODS,
    threads: ThreadsOpt = None,
) -> None:
    """Run CONFIG in real time (paced to the wall clock), showing deadline misses live.

    With --jack, JACK's clock paces the run and the graph is heard: outputs play to JACK
    ports, inputs record from them (docs/live-audio.md).
    """
    from .._builtins import default_registry

    registry = default_registry()
    if jack:
        _run_jack(config, block_size, duration, registry, out_dir, as_json,
                  client_name, connect, jack_periods, threads)  # fmt: skip
        return
    from .._pipeline import render_run
    from ..graph import Pacing

    cfg = with_threads(_load(config, block_size, duration, registry), threads)
    pacing = Pacing()
    interactive = sys.stdout.isatty() and not as_json
    live = Live(console=out_console, auto_refresh=False, transient=False)
    with live if interactive else contextlib.nullcontext():
        outcome = render_run(
            cfg,
            registry,
            out_dir=out_dir,
            duration=duration,
            pacing=pacing,
            watcher=LiveTable(live, pacing) if interactive else None,
        )
    metrics = outcome.metrics
    if as_json:
        print_json(metrics)
        return
    report_node_health(metrics)
    out_console.print(
        f"ran {outcome.result.frames / cfg.sample_rate:.2f} s in real time: "
        f"{pacing.misses} deadline misses (worst {pacing.worst_late_s * 1000:.1f} ms late); "
        f"metrics → {out_dir / 'metrics.json'}"
    )


def _run_jack(
    config: Path,
    block_size: int | None,
    duration: float | None,
    registry: NodeRegistry,
    out_dir: Path,
    as_json: bool,
    client_name: str,
    connect: bool,
    periods: int,
    threads: str | None = None,
) -> None:
    """``aers run --jack``: the render driven by JACK's clock; block size from the server.

    Raises:
        AudioDeviceError: no JACK, a rate mismatch, or the server went away mid-run
            (outputs and ``metrics.json`` of the part that played are written first).
    """
    from .._pipeline import render_run
    from .._timing import REALTIME
    from ..device import JackDevice, JackRun
    from ..graph import Pacing
    from ..graph._render import RenderInterrupted

    require_extra("jack", "aers run --jack")
    device = JackDevice.open(client_name, periods=periods)
    try:
        cfg = with_threads(_load(config, block_size or device.period, duration, registry), threads)
        device.check_rate(cfg.sample_rate, str(config))
        runner = JackRun(device, connect=connect)
        sys.setswitchinterval(device.switch_interval)
        interactive = sys.stdout.isatty() and not as_json
        live = Live(console=out_console, auto_refresh=False, transient=False)
        watchers: list[Any] = [runner]
        if interactive:
            watchers.append(LiveTable(live, Pacing(), device))
        with live if interactive else contextlib.nullcontext():
            try:
                outcome = render_run(
                    cfg,
                    registry,
                    out_dir=out_dir,
                    duration=duration,
                    watcher=watchers,
                    extra_metrics=lambda: _jack_metrics(runner),
                    timing=REALTIME,  # paced by JACK's clock, not by Pacing: still real time
                )
            except RenderInterrupted as stop:
                cause = stop.__cause__
                if isinstance(cause, AudioDeviceError):
                    played = stop.result.frames / cfg.sample_rate
                    raise AudioDeviceError(
                        f"{cause} after {played:.2f} s; what played and metrics.json are in "
                        f"{out_dir}"
                    ) from None
                raise
    finally:
        device.close()
    _report_jack(outcome.metrics, as_json, cfg, device, out_dir, outcome.result.frames)


def _jack_metrics(runner: Any) -> dict[str, Any]:
    """``metrics.json`` additions of a JACK run: the device section, misses as underruns."""
    section = runner.metrics()
    return {"jack": section, "deadline_misses": section["underruns"]}


def _report_jack(
    metrics: dict[str, Any],
    as_json: bool,
    cfg: GraphConfig,
    device: JackDevice,
    out_dir: Path,
    frames: int,
) -> None:
    if as_json:
        print_json(metrics)
        return
    report_node_health(metrics)
    section = metrics["jack"]
    out_console.print(
        f"played {frames / cfg.sample_rate:.2f} s through JACK as {device.name!r} "
        f"(+{device.ring_latency} frames of pre-roll): {section['underruns']} underruns, "
        f"{section['xruns']} JACK xruns; metrics → {out_dir / 'metrics.json'}"
    )
