"""A JACK client that plays a graph's outputs and feeds its inputs (docs/live-audio.md).

Design (real-time safety): the engine never runs inside JACK's process callback. It runs
in its own thread and exchanges audio with the callback through two lock-free
:class:`~._ring.FrameRing` s (outputs → playback ports, capture ports → inputs). The
callback only copies between preallocated ring storage and JACK's port buffers and bumps
counters; it never waits for the engine, takes no lock and does no I/O. When the engine
is late the callback plays silence for the missing frames and counts an *underrun*.

Invariants:

* At start the output ring holds ``periods × period`` frames of silence (the *pre-roll*,
  :attr:`JackDevice.ring_latency`). The engine renders a block only when the frames queued
  ahead of the playhead stay within the pre-roll and, with inputs, when a block of captured
  frames is waiting. So an input frame captured at JACK frame *t* leaves the matching output
  port at exactly *t* + pre-roll + the graph's path latency, which is what the ports report
  as their latency range.
* After an underrun the callback owes the frames it could not play (its *debt*) and drops
  that many when the engine catches up, so that alignment holds for the rest of the run.
* Python's callback still needs the GIL; :func:`gil_switch_interval` keeps the longest wait
  for it below half a period (the engine's numba kernels hold it for microseconds).
* JACK's threads are created with the terminal signals blocked, so Ctrl-C reaches the main
  thread (see ``aers_host._threads``).

Example:
    >>> device = JackDevice.open("aers", periods=4)          # doctest: +SKIP
    >>> device.attach(inputs={"mic": 1}, outputs={"main": 2}, block=256,
    ...               latencies={"main": 0})                  # doctest: +SKIP
    >>> device.start(connect=True)                            # doctest: +SKIP
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import numpy as np

from .._threads import TERMINAL_SIGNALS
from ..errors import AudioDeviceError
from ._latency import CAPTURE, PLAYBACK, LatencyBinding
from ._ring import F32, FrameRing

#: Periods of pre-roll between the engine and the callback unless ``--jack-periods`` says.
DEFAULT_PERIODS: Final = 4
#: Largest ``--jack-periods`` (at 8192-frame periods, about 22 s at 48 kHz).
MAX_PERIODS: Final = 128
#: Seconds of capture the input ring holds beyond the pre-roll: an engine stall shorter
#: than this loses no input, so inputs and outputs stay aligned (docs/live-audio.md).
CAPTURE_BACKLOG_S: Final = 2.0
#: What to install when libjack or JACK-Client is missing.
INSTALL_HINT: Final = (
    "install JACK (Debian/Ubuntu: apt install jackd2, or PipeWire's pipewire-jack) "
    "and the Python binding: pip install 'aers-host[jack]'"
)


def import_jack() -> Any:
    """The ``jack`` module (JACK-Client), imported only when ``--jack`` asks for it.

    Raises:
        AudioDeviceError: JACK-Client or libjack is missing (with the install hint).
    """
    try:
        import jack
    except ImportError as err:
        raise AudioDeviceError(f"JACK-Client is not installed ({err}); {INSTALL_HINT}") from err
    except OSError as err:  # JACK-Client raises OSError when libjack cannot be found
        raise AudioDeviceError(f"{err}; {INSTALL_HINT}") from err
    # libjack prints its own diagnostics ("Cannot connect to server socket", "Server is
    # not running") to stderr; AERS says what went wrong in one line instead.
    jack.set_error_function(_ignore)
    jack.set_info_function(_ignore)
    return jack


def probe_jack() -> dict[str, str]:
    """What ``aers doctor`` reports about JACK: the binding, the server, real-time priority."""
    from ._sched import RealtimeThread

    checks = {"jack": _probe_server()}
    realtime = RealtimeThread()
    allowed = realtime.enter()
    realtime.leave()
    checks["jack real-time"] = (
        "SCHED_FIFO allowed for the engine thread"
        if allowed
        else "not allowed: add the user to the audio group with an rtprio limit"
    )
    return checks


def _probe_server() -> str:
    try:
        jack = import_jack()
    except AudioDeviceError as err:
        return f"missing: {err}"
    try:
        with _signals_to_main_thread():
            client = jack.Client("aers-doctor", no_start_server=True)
    except jack.JackOpenError:
        return f"JACK-Client {jack.__version__}; no server running (docs/live-audio.md)"
    found = f"JACK-Client {jack.__version__}; server at {client.samplerate} Hz, "
    found += f"period {client.blocksize}"
    with _signals_to_main_thread():
        client.close()
    return found


def _ignore(message: str) -> None:
    """Drop a libjack console message (the CLI reports the failure itself)."""


@contextmanager
def _signals_to_main_thread() -> Iterator[None]:
    """Block the terminal signals while libjack starts its threads (they inherit the mask).

    Also undoes what libjack does to the caller's mask: opening a client blocks SIGPIPE
    in the calling thread, and closing it re-applies the mask it saw at open (found when
    Ctrl-C stopped working in processes started after an in-process ``--jack`` run). Every
    libjack call that starts or stops client threads goes through here.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def port_names(node_id: str, channels: int) -> list[str]:
    """JACK port short names of a node: ``<id>_1`` … ``<id>_<channels>`` (one per channel)."""
    return [f"{node_id}_{ch}" for ch in range(1, channels + 1)]


class JackDevice:
    """One JACK client: capture ports for ``input`` nodes, playback ports for ``output`` nodes."""

    def __init__(self, jack: Any, client: Any, periods: int) -> None:
        """[main-thread] Wrap an open client; use :meth:`open`."""
        self._jack = jack
        self.client = client
        #: The client name JACK gave us (it appends ``-01`` … when the name is taken).
        self.name = str(client.name)
        #: The server's sample rate and period (frames per process cycle).
        self.sample_rate = int(client.samplerate)
        self.period = int(client.blocksize)
        self.periods = periods
        #: Frames of pre-roll between engine and callback (what the ring adds to latency).
        self.ring_latency = periods * self.period
        #: Process cycles that found fewer frames than they needed (the engine was late).
        self.underruns = 0
        #: Cycles whose captured frames did not fit the input ring (the engine stalled for
        #: longer than :data:`CAPTURE_BACKLOG_S`): input was lost and later outputs are
        #: that much early relative to their inputs.
        self.capture_overflows = 0
        #: JACK's own xrun notifications (the server missed a cycle deadline).
        self.xruns = 0
        #: The reason JACK gave when it shut the client down (None while it runs).
        self.lost: str | None = None
        self.inputs: dict[str, int] = {}
        self.outputs: dict[str, int] = {}
        self.latencies: dict[str, int] = {}
        self._in_ports: list[Any] = []
        self._out_ports: list[Any] = []
        self._out_owner: list[str] = []
        #: Channel index (0-based) of each port within its node, for ``--connect``.
        self._in_channel: list[int] = []
        self._out_channel: list[int] = []
        self._in_ring: FrameRing | None = None
        self._out_ring = FrameRing(1, 1)
        self.in_block: F32 = np.zeros((0, 0), np.float32)
        self.out_block: F32 = np.zeros((0, 0), np.float32)
        self._debt = 0
        self._armed = False
        self._draining = False
        self._active = False
        self._latency = LatencyBinding(jack)

    @classmethod
    def open(cls, name: str = "aers", *, periods: int = DEFAULT_PERIODS) -> JackDevice:
        """[main-thread] Connect to the running JACK server (``$JACK_DEFAULT_SERVER``).

        Raises:
            AudioDeviceError: libjack/JACK-Client missing, no server, bad ``periods``.
        """
        if not 1 <= periods <= MAX_PERIODS:
            raise AudioDeviceError(f"--jack-periods must be 1…{MAX_PERIODS}, got {periods}")
        jack = import_jack()
        longest = jack.client_name_size() - 1  # the size counts the terminating NUL
        if not 0 < len(name) <= longest:
            raise AudioDeviceError(
                f"--client-name must be 1…{longest} characters, got {len(name)}"
            )
        try:
            with _signals_to_main_thread():
                client = jack.Client(name, no_start_server=True)
        except jack.JackOpenError as err:
            raise AudioDeviceError(
                f"cannot connect to a JACK server as {name!r} ({err}); start one "
                "(jackd -d alsa, qjackctl) or run under PipeWire: pw-jack aers …"
            ) from err
        return cls(jack, client, periods)

    @property
    def switch_interval(self) -> float:
        """The interpreter switch interval to set while the callback runs, in seconds.

        The process callback must take the GIL from the engine thread; CPython hands it
        over after at most this long. Half a period leaves the callback half its cycle;
        5 ms (CPython's default) is the cap, as for ``aers serve`` (docs/live-audio.md).
        """
        return min(0.005, self.period / self.sample_rate / 2)

    def check_rate(self, sample_rate: int, where: str) -> None:
        """[main-thread] Refuse a graph whose sample rate is not the server's.

        Raises:
            AudioDeviceError: naming both rates and the fix.
        """
        if sample_rate != self.sample_rate:
            raise AudioDeviceError(
                f"{where}: sample_rate {sample_rate} Hz but the JACK server runs at "
                f"{self.sample_rate} Hz; set `sample_rate: {self.sample_rate}` or restart JACK "
                f"at {sample_rate} Hz (jackd -r {sample_rate})"
            )

    def attach(
        self,
        *,
        inputs: Mapping[str, int],
        outputs: Mapping[str, int],
        block: int,
        latencies: Mapping[str, int],
    ) -> None:
        """[main-thread & !active] Register the ports and allocate the rings.

        Args:
            inputs: ``input`` node id → channels (capture ports).
            outputs: ``output`` node id → channels (playback ports).
            block: the engine's block size (frames per ``process_block``).
            latencies: output node id → its path latency in the graph, in frames.

        Raises:
            AudioDeviceError: the pre-roll is shorter than a block plus a period, or JACK
                refuses a port.
        """
        if self.ring_latency < block + self.period:
            need = -(-(block + self.period) // self.period)
            raise AudioDeviceError(
                f"--jack-periods {self.periods} gives {self.ring_latency} frames of pre-roll, "
                f"less than a block ({block}) plus a JACK period ({self.period}); "
                f"use --jack-periods {need} or more"
            )
        self.inputs, self.outputs = dict(inputs), dict(outputs)
        self.latencies = {k: int(latencies.get(k, 0)) for k in outputs}
        try:
            for node_id, channels in self.inputs.items():
                for ch, short in enumerate(port_names(node_id, channels)):
                    self._in_ports.append(self.client.inports.register(short))
                    self._in_channel.append(ch)
            for node_id, channels in self.outputs.items():
                for ch, short in enumerate(port_names(node_id, channels)):
                    self._out_ports.append(self.client.outports.register(short))
                    self._out_owner.append(node_id)
                    self._out_channel.append(ch)
        except self._jack.JackError as err:
            raise AudioDeviceError(f"JACK refused a port of client {self.name!r}: {err}") from err
        n_in, n_out = len(self._in_ports), len(self._out_ports)
        capacity = self.ring_latency + block + self.period
        # Captured frames wait here while the engine is stalled; the outputs owed for them
        # are skipped when it catches up. A frame dropped for want of room would shift
        # every later output, so the capture ring has room for a long stall.
        backlog = round(CAPTURE_BACKLOG_S * self.sample_rate)
        self._in_ring = FrameRing(n_in, capacity + backlog) if n_in else None
        self._out_ring = FrameRing(n_out, capacity)
        self.in_block = np.zeros((n_in, block), np.float32)
        self.out_block = np.zeros((n_out, block), np.float32)
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.set_shutdown_callback(self._shutdown)
        self._latency.on_latency(self.client, self._declare_latency)

    def start(self, *, connect: bool = False) -> None:
        """[main-thread] Pre-roll, activate, and with ``connect`` wire the system ports.

        Raises:
            AudioDeviceError: JACK refuses to activate the client.
        """
        self._out_ring.write_silence(self.ring_latency)
        try:
            with _signals_to_main_thread():
                self.client.activate()
        except self._jack.JackError as err:
            raise AudioDeviceError(f"JACK refused to activate {self.name!r}: {err}") from err
        self._active = True
        if connect:
            self._connect_system()
        self._armed = True  # from the next cycle on, capture and playback run in step

    def _connect_system(self) -> None:
        """Output channel k → system playback k; system capture k → input channel k."""
        playback = self.client.get_ports(is_physical=True, is_input=True, is_audio=True)
        capture = self.client.get_ports(is_physical=True, is_output=True, is_audio=True)
        for port, ch in zip(self._out_ports, self._out_channel, strict=True):
            if ch < len(playback):
                self.client.connect(port, playback[ch])
        for port, ch in zip(self._in_ports, self._in_channel, strict=True):
            if ch < len(capture):
                self.client.connect(capture[ch], port)

    # ----------------------------------------------------------------- JACK's threads

    def _process(self, frames: int) -> None:
        """[jack-process-thread] Copy between rings and port buffers; never wait."""
        outs = [port.get_array() for port in self._out_ports]
        if not self._armed:
            for row in outs:
                row.fill(0.0)
            return
        ring = self._in_ring
        if ring is not None:
            if ring.space() >= frames:
                ring.write_channels([port.get_array() for port in self._in_ports], frames)
            else:
                self.capture_overflows += 1
        out = self._out_ring
        avail = out.fill
        if self._debt:
            drop = min(self._debt, avail)
            out.skip(drop)
            self._debt -= drop
            avail -= drop
        take = min(avail, frames)
        if take:
            out.read_channels(outs, take)
        if take < frames:
            for row in outs:
                row[take:] = 0.0
            if not self._draining:
                self.underruns += 1
                self._debt += frames - take

    def _xrun(self, delay_usecs: float) -> None:
        """[jack-thread] JACK missed a cycle."""
        self.xruns += 1

    def _shutdown(self, status: Any, reason: str) -> None:
        """[jack-thread] The server went away: only note it (the engine thread stops)."""
        self.lost = reason or "the JACK server shut down"

    def _declare_latency(self, mode: int) -> None:
        """[jack-thread] Port latency = upstream/downstream + pre-roll + graph latency."""
        binding = self._latency
        added = {k: self.ring_latency + v for k, v in self.latencies.items()}
        if mode == CAPTURE:
            ranges = [binding.get_range(p, CAPTURE) for p in self._in_ports] or [(0, 0)]
            low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
            for port, owner in zip(self._out_ports, self._out_owner, strict=True):
                binding.set_range(port, CAPTURE, low + added[owner], high + added[owner])
        elif added:
            ranges = [binding.get_range(p, PLAYBACK) for p in self._out_ports]
            low = min(r[0] for r in ranges) + min(added.values())
            high = max(r[1] for r in ranges) + max(added.values())
            for port in self._in_ports:
                binding.set_range(port, PLAYBACK, low, high)

    # ---------------------------------------------------------------- engine thread

    def ready(self, frames: int) -> bool:
        """[engine-thread] Whether a block of ``frames`` may be rendered now.

        Ready means: the frames queued ahead of the playhead plus ``frames`` fit within the
        pre-roll (and the ring), and with inputs, ``frames`` captured frames are waiting.
        """
        out, inp = self._out_ring, self._in_ring
        return (
            out.fill - self._debt + frames <= self.ring_latency
            and out.space() >= frames
            and (inp is None or inp.fill >= frames)
        )

    def wait_ready(self, frames: int, poll: float | None = None) -> None:
        """[engine-thread] Sleep until :meth:`ready` (polling a quarter period at a time).

        Raises:
            AudioDeviceError: the JACK server went away.
        """
        nap = poll if poll is not None else self.period / self.sample_rate / 4
        while True:
            if self.lost is not None:
                raise AudioDeviceError(f"JACK server stopped: {self.lost}")
            if self.ready(frames):
                return
            time.sleep(nap)

    def read_inputs(self, frames: int) -> F32:
        """[engine-thread, after :meth:`wait_ready`] The next ``frames`` captured frames.

        Returns:
            A view of :attr:`in_block` (channels of every input node, in order).
        """
        block = self.in_block[:, :frames]
        if self._in_ring is not None:
            self._in_ring.read_into(block)
        return block

    def write_outputs(self, frames: int) -> None:
        """[engine-thread] Queue the first ``frames`` frames of :attr:`out_block` for playback."""
        self._out_ring.write(self.out_block[:, :frames])

    def drain(self, timeout: float) -> None:
        """[main-thread] Wait until everything queued has played (or ``timeout`` seconds)."""
        self._draining = True
        end = time.monotonic() + timeout
        while self._out_ring.fill > 0 and self.lost is None and time.monotonic() < end:
            time.sleep(self.period / self.sample_rate)

    def close(self) -> None:
        """[main-thread] Deactivate and close the client (safe after the server died)."""
        self._armed = False
        try:
            with _signals_to_main_thread():
                if self._active and self.lost is None:
                    self.client.deactivate()
                self.client.close()
        except self._jack.JackError:
            pass  # the server is gone: there is nothing left to release on its side
        self._active = False

    def metrics(self) -> dict[str, Any]:
        """What the device saw, for ``metrics.json`` (``jack`` section)."""
        return {
            "client": self.name,
            "sample_rate": self.sample_rate,
            "period": self.period,
            "periods": self.periods,
            "ring_latency_samples": self.ring_latency,
            "port_latency_samples": {k: self.ring_latency + v for k, v in self.latencies.items()},
            "underruns": self.underruns,
            "capture_overflows": self.capture_overflows,
            "xruns": self.xruns,
            "stopped_by_server": self.lost,
        }
