"""A private JACK server (dummy backend) and test clients that play and record.

Every server gets a unique name (``jackd -n NAME``; clients find it through
``$JACK_DEFAULT_SERVER``), so parallel test runs on one machine never share one. The dummy
backend runs in real time, so tests wait on JACK's own clock, never on wall-clock budgets.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

AERS = Path(sys.executable).with_name("aers")
RATE = 48_000
PERIOD = 256


def require_jackd() -> str:
    """Path of ``jackd``, or skip (with the reason) where JACK is not installed."""
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd is not installed (Debian: apt install jackd2; scripts/test.sh does)")
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as err:
        pytest.skip(f"JACK-Client/libjack unavailable: {err} (pip install 'aers-host[jack]')")
    return jackd


@dataclass
class JackServer:
    """A running ``jackd`` of the test."""

    name: str
    proc: subprocess.Popen[bytes]


@contextmanager
def jack_server(rate: int = RATE, period: int = PERIOD) -> Iterator[JackServer]:
    """Start ``jackd -d dummy`` under a unique name; yield it; stop it."""
    name = f"aers-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with _jackd(name, rate, period) as proc:
        try:
            yield JackServer(name, proc)
        finally:
            killed = proc.poll() == -signal.SIGKILL
    if killed:
        # A killed jackd keeps its slot in JACK's machine-wide server registry (8 slots);
        # only a server of the same name reclaims it. Do that, so test runs never fill it.
        with _jackd(name, rate, period):
            pass


@contextmanager
def _jackd(name: str, rate: int, period: int) -> Iterator[subprocess.Popen[bytes]]:
    jackd = require_jackd()
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [jackd, "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            _wait_for_server(name, proc, log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            proc.wait()
            # semaphores of clients that were still connected when the server went away
            for leftover in Path("/dev/shm").glob(f"jack_sem.*_{name}_*"):
                leftover.unlink(missing_ok=True)


def _wait_for_server(name: str, proc: subprocess.Popen[bytes], log: Any) -> None:
    import jack

    jack.set_error_function(lambda message: None)  # "cannot connect" while it starts
    try:
        for _ in range(200):
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"jackd exited {proc.returncode}: {log.read().decode()[-500:]}")
            try:
                with keep_signal_mask():
                    client = jack.Client("probe", no_start_server=True, servername=name)
            except jack.JackOpenError:
                time.sleep(0.05)
                continue
            with keep_signal_mask():
                client.close()
            return
        pytest.fail(f"jackd {name} did not come up")
    finally:
        jack.set_error_function(None)


@contextmanager
def keep_signal_mask() -> Iterator[None]:
    """libjack blocks SIGPIPE on open and re-applies that mask on close: undo both, so
    processes the test starts afterwards (which inherit the mask) behave normally."""
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


class Tap:
    """A JACK client of the test: records its inputs and plays ``signal`` on its output.

    Everything is preallocated; the process callback only copies and notes JACK frame
    times, so recordings carry the absolute frame time of their first sample.
    """

    def __init__(self, name: str, server: str, *, inputs: int = 0, seconds: float = 10.0):
        import jack

        self.jack = jack
        with keep_signal_mask():
            self.client = jack.Client(name, no_start_server=True, servername=server)
        self.period = int(self.client.blocksize)
        self.ins = [self.client.inports.register(f"in_{i + 1}") for i in range(inputs)]
        self.out = self.client.outports.register("out_1")
        self.rec = np.zeros((inputs, int(seconds * RATE)), np.float32)
        self.fill = 0
        #: JACK frame time of ``rec[:, 0]`` (None until recording starts).
        self.rec_t0: int | None = None
        #: JACK frame time of each recorded cycle: JACK may skip cycles (an xrun), and
        #: what was heard is the recorded cycles back to back.
        self.times = np.zeros(self.rec.shape[1] // 16 + 1, np.int64)
        self.cycles = 0
        self.signal = np.zeros(0, np.float32)
        self.play = False
        self.pos = 0
        #: JACK frame time of ``signal[0]`` (None until it starts playing).
        self.play_t0: int | None = None
        self.recording = False
        self.client.set_process_callback(self._process)
        with keep_signal_mask():
            self.client.activate()

    def _process(self, frames: int) -> None:
        now = self.client.last_frame_time
        out = self.out.get_array()
        out.fill(0.0)
        if self.play and self.pos < len(self.signal):
            if self.pos == 0:
                self.play_t0 = now
            chunk = self.signal[self.pos : self.pos + frames]
            out[: len(chunk)] = chunk
            self.pos += len(chunk)
        if self.recording and self.fill + frames <= self.rec.shape[1]:
            if self.rec_t0 is None:
                self.rec_t0 = now
            self.times[self.cycles] = now
            self.cycles += 1
            for i, port in enumerate(self.ins):
                self.rec[i, self.fill : self.fill + frames] = port.get_array()
            self.fill += frames

    def stream_index(self, frame_time: int) -> int:
        """Where the cycle that started at JACK ``frame_time`` sits in :meth:`recorded`."""
        (cycle,) = np.flatnonzero(self.times[: self.cycles] == frame_time)
        return int(cycle) * self.period

    def seams(self) -> np.ndarray:
        """Indices ``i`` of :meth:`recorded` where JACK skipped this client's cycles between
        sample ``i - 1`` and ``i`` (an xrun anywhere in the graph can skip a client)."""
        times = self.times[: self.cycles]
        skipped = np.flatnonzero(np.diff(times) != self.period) + 1
        return skipped * self.period

    def recorded(self) -> np.ndarray:
        """What was recorded so far, (inputs, frames)."""
        return self.rec[:, : self.fill]

    def close(self) -> None:
        """Deactivate and close."""
        with keep_signal_mask():
            self.client.deactivate()
            self.client.close()


def wait_for_ports(tap: Tap, pattern: str, count: int, proc: subprocess.Popen[str]) -> list[Any]:
    """The ``count`` ports matching ``pattern`` once they exist and JACK set their latency.

    Their latency is declared by AERS's latency callback, which JACK calls on activation:
    a non-zero range means the client is running. Fails when the process exits first.
    """
    from aers_host.device._latency import CAPTURE, LatencyBinding

    binding = LatencyBinding(tap.jack)
    for _ in range(1200):  # startup under a loaded machine can take many seconds
        if proc.poll() is not None:
            pytest.fail(f"aers exited {proc.returncode} early: {proc.communicate()[1][-2000:]}")
        ports = tap.client.get_ports(pattern)
        if len(ports) == count and all(binding.get_range(p, CAPTURE)[1] > 0 for p in ports
                                       if p.is_output):  # fmt: skip
            return list(ports)
        time.sleep(0.05)
    pytest.fail(f"ports {pattern} did not appear")


def connections(tap: Tap, port: Any, expected: int) -> list[str]:
    """Names ``port`` is connected to, once there are ``expected`` (AERS connects just
    after it activates; give it a moment on a loaded machine)."""
    for _ in range(400):
        names = [p.name for p in tap.client.get_all_connections(port)]
        if len(names) >= expected:
            return names
        time.sleep(0.05)
    return names


def output_latency(tap: Tap, port: Any) -> tuple[int, int]:
    """The capture latency range JACK reports for another client's output ``port``."""
    from aers_host.device._latency import CAPTURE, LatencyBinding

    return LatencyBinding(tap.jack).get_range(port, CAPTURE)


def start_aers(args: list[str], server: str) -> subprocess.Popen[str]:
    """Run ``aers ARGS`` against JACK server ``server``."""
    return subprocess.Popen(
        [str(AERS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "JACK_DEFAULT_SERVER": server, "COLUMNS": "200"},
    )


def sine_fit(x: np.ndarray, freq: float) -> tuple[float, np.ndarray]:
    """Least-squares fit of ``a·sin + b·cos + c`` at ``freq``: (amplitude, residual)."""
    n = np.arange(len(x))
    w = 2 * np.pi * freq / RATE
    basis = np.stack([np.sin(w * n), np.cos(w * n), np.ones(len(x))], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    return float(np.hypot(coef[0], coef[1])), x - basis @ coef


def glitched_cycles(error: np.ndarray, start: int, tol: float, period: int = PERIOD) -> int:
    """How many recorded cycles hold a sample whose ``error`` exceeds ``tol``.

    ``error[i]`` belongs to recording index ``start + i``; cycles are the recorder's. A
    JACK xrun (a client late for its cycle, e.g. waiting for its interpreter lock on a
    loaded machine) garbles at most the cycle it happens in, and JACK reports it, so tests
    allow one glitched cycle per reported xrun and no more.
    """
    bad = np.flatnonzero(np.abs(error) > tol) + start
    return int(np.unique(bad // period).size)
