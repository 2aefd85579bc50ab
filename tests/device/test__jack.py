"""JackDevice refusals that need no JACK server: missing library, bad sizes, rate mismatch."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aers_host.device import JackDevice, import_jack, port_names, probe_jack
from aers_host.errors import AudioDeviceError

from .jack_helpers import require_jackd


class _FakeClient:
    """What JackDevice reads from a JACK-Client ``Client`` before ports exist."""

    name = "aers"
    samplerate = 48_000
    blocksize = 256


def _device(periods: int) -> JackDevice:
    require_jackd()  # the latency binding loads libjack itself
    return JackDevice(import_jack(), _FakeClient(), periods)


def test_ports_are_named_after_the_node_one_per_channel() -> None:
    assert port_names("main", 2) == ["main_1", "main_2"]
    assert port_names("mic", 1) == ["mic_1"]


def test_missing_libjack_is_one_line_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoLib:
        def find_spec(self, name: str, *args: Any) -> None:
            if name == "jack":
                raise OSError("JACK library not found")

    monkeypatch.delitem(sys.modules, "jack", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoLib(), *sys.meta_path])
    with pytest.raises(AudioDeviceError) as err:
        import_jack()
    message = str(err.value)
    assert "\n" not in message and "JACK library not found" in message
    assert "apt install jackd2" in message and "aers-host[jack]" in message


def test_a_missing_server_is_one_readable_line(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_jackd()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "aers-test-no-such-server")
    cfg = tmp_path / "g.yaml"
    cfg.write_text("version: 1\nnodes: {}\nconnections: []\n", encoding="utf-8")
    result = run_cli("run", str(cfg), "--jack")
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: cannot connect to a JACK server") and "pw-jack" in line


def test_an_overlong_client_name_is_refused_before_connecting() -> None:
    require_jackd()
    longest = import_jack().client_name_size() - 1  # libjack's own limit
    with pytest.raises(AudioDeviceError, match=rf"must be 1…{longest} characters, got {longest + 1}"):
        JackDevice.open("x" * (longest + 1))


def test_a_rate_mismatch_names_both_rates() -> None:
    with pytest.raises(AudioDeviceError, match=r"g\.yaml: sample_rate 44100 Hz .* 48000 Hz"):
        _device(4).check_rate(44_100, "g.yaml")


def test_a_pre_roll_shorter_than_a_block_and_a_period_is_refused() -> None:
    with pytest.raises(AudioDeviceError, match="use --jack-periods 3 or more"):
        _device(2).attach(inputs={}, outputs={"main": 2}, block=512, latencies={})


def test_doctor_reports_the_binding_the_server_and_real_time(
    run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_jackd()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "aers-test-no-such-server")
    result = run_cli("doctor", "--json")
    assert result.code == 0, result.err
    checks = json.loads(result.out)
    assert checks["jack"].endswith("no server running (docs/live-audio.md)")
    assert checks["jack real-time"]


def test_libjack_leaves_the_callers_signal_mask_alone(jack_name: str, monkeypatch: Any) -> None:
    """Opening and closing clients must not block Ctrl-C for the processes we start later."""
    import signal

    monkeypatch.setenv("JACK_DEFAULT_SERVER", jack_name)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    device = JackDevice.open("aers-mask")
    device.attach(inputs={"mic": 1}, outputs={"main": 2}, block=256, latencies={})
    device.start()
    device.close()
    probe_jack()
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
