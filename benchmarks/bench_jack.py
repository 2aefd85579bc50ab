"""What AERS's JACK process callback costs, against the floor any Python JACK client pays.

Both run in one private ``jackd -d dummy`` (48 kHz, ``--period`` frames) at the same time,
each with ``--channels`` playback ports:

* reference: a JACK-Client callback that copies one preallocated block into each port
  (what the simplest Python client does every cycle);
* AERS: :class:`aers_host.device.JackDevice`'s callback (ring → ports, debt and underrun
  bookkeeping), with an engine thread keeping the ring full, as in ``aers run --jack``.

Each callback is timed from inside (``perf_counter_ns``), so GIL waits before it starts
are not counted: this is the work the callback adds, not the machine's scheduling. The
ratio AERS/reference is the figure to watch.

Run: ``.venv/bin/python benchmarks/bench_jack.py [--seconds 5] [--period 256] [--channels 2]``
Writes ``benchmarks/results/jack.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import numpy as np
from _results import write_results

RATE = 48_000


def start_jackd(period: int) -> tuple[subprocess.Popen[bytes], str]:
    jackd = shutil.which("jackd")
    if jackd is None:
        sys.exit("jackd is not installed (Debian: apt install jackd2)")
    name = f"aers-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        [jackd, "-n", name, "-d", "dummy", "-r", str(RATE), "-p", str(period)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"},
    )
    os.environ["JACK_DEFAULT_SERVER"] = name
    return proc, name


def timed(fn: Any, into: list[int]) -> Any:
    def call(frames: int) -> None:
        t0 = time.perf_counter_ns()
        fn(frames)
        into.append(time.perf_counter_ns() - t0)

    return call


def reference_client(jack: Any, channels: int, period: int, into: list[int]) -> Any:
    client = jack.Client("reference", no_start_server=True)
    ports = [client.outports.register(f"out_{i + 1}") for i in range(channels)]
    block = np.full(period, 0.25, np.float32)

    def process(frames: int) -> None:
        for port in ports:
            port.get_array()[:] = block

    client.set_process_callback(timed(process, into))
    return client


def summary(ns: list[int]) -> dict[str, float]:
    us = np.asarray(ns[len(ns) // 10 :], np.float64) / 1000.0  # drop the start-up tenth
    return {
        "cycles": int(us.size),
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--period", type=int, default=256)
    parser.add_argument("--channels", type=int, default=2)
    args = parser.parse_args()
    server, name = start_jackd(args.period)
    try:
        time.sleep(1.0)
        from aers_host.device import JackDevice, import_jack

        jack = import_jack()
        ref_ns: list[int] = []
        aers_ns: list[int] = []
        reference = reference_client(jack, args.channels, args.period, ref_ns)
        device = JackDevice.open("aers-bench", periods=4)
        device._process = timed(device._process, aers_ns)  # type: ignore[method-assign]
        device.attach(inputs={}, outputs={"main": args.channels}, block=args.period,
                      latencies={"main": 0})  # fmt: skip
        device.out_block[:] = 0.25
        stop = threading.Event()

        def engine() -> None:
            while not stop.is_set():
                device.wait_ready(args.period)
                device.write_outputs(args.period)

        reference.activate()
        device.start()
        feeder = threading.Thread(target=engine, daemon=True)
        feeder.start()
        time.sleep(args.seconds)
        stop.set()
        feeder.join(2.0)
        underruns, xruns = device.underruns, device.xruns
        device.close()
        reference.deactivate()
        reference.close()
    finally:
        server.terminate()
        server.wait(10)
    ref, ours = summary(ref_ns), summary(aers_ns)
    result = {
        "server": name,
        "period": args.period,
        "channels": args.channels,
        "seconds": args.seconds,
        "reference": ref,
        "aers": ours,
        "ratio_p50": ours["p50_us"] / ref["p50_us"],
        "ratio_p99": ours["p99_us"] / ref["p99_us"],
        "period_us": args.period / RATE * 1e6,
        "underruns": underruns,
        "jack_xruns": xruns,
    }
    write_results("jack", result)
    print(
        f"JACK callback, {args.channels} ch × {args.period} frames "
        f"(period {result['period_us']:.0f} µs): reference p50 {ref['p50_us']:.1f} µs "
        f"p99 {ref['p99_us']:.1f} µs; AERS p50 {ours['p50_us']:.1f} µs "
        f"p99 {ours['p99_us']:.1f} µs → ×{result['ratio_p50']:.2f} (p50), "
        f"×{result['ratio_p99']:.2f} (p99); underruns {underruns}, JACK xruns {xruns}"
    )


if __name__ == "__main__":
    main()
