"""OS fences: each one is applied on this machine, reported, and holds by behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aers_host.sandbox import probe_fences
from aers_host.sandbox._spawn import _WORKER_ENV

from ._helpers import PASS

ROOT = Path(__file__).resolve().parents[2]

#: Runs in a fresh process with the worker's environment: fences up, then try to escape.
PROBE = textwrap.dedent(
    """
    import json, os, resource, socket, sys
    sys.path.insert(0, sys.argv[1])
    from aers_host.sandbox import _fences
    target = sys.argv[2]
    report = {"netns": _fences.enter_private_netns()}
    report.update(_fences.apply_all(address_space_bytes=2 << 30, cpu_seconds=60, open_files=64))
    seen = {}
    def attempt(name, fn):
        try:
            fn()
            seen[name] = "allowed"
        except OSError as exc:
            seen[name] = type(exc).__name__
    attempt("socket_inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    attempt("socket_unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    attempt("open_write", lambda: open(os.path.join(target, "created.txt"), "w"))
    attempt("open_read", lambda: open("/etc/hostname", "rb").read())
    attempt("listdir", lambda: os.listdir(target))
    attempt("fork", lambda: os.fork() or None)
    attempt("exec", lambda: os.execv("/bin/true", ["true"]))
    attempt("mkdir", lambda: os.mkdir(os.path.join(target, "d")))
    attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
    seen["fsize"] = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    seen["core"] = resource.getrlimit(resource.RLIMIT_CORE)[0]
    print(json.dumps({"report": report, "seen": seen}))
    """
)


@pytest.fixture(scope="module")
def fenced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    target = tmp_path_factory.mktemp("fenced")
    proc = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(ROOT), str(target)],
        env=_WORKER_ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, object]] = json.loads(proc.stdout)
    result["target"] = {"path": str(target)}
    return result


def test_probe_fences_reports_every_fence_applied() -> None:
    report = probe_fences()
    for fence in ("rlimits", "no_new_privs", "netns", "seccomp", "landlock", "pdeathsig"):
        assert report[fence].startswith("applied"), (fence, report[fence])


def test_probe_fences_is_cached() -> None:
    assert probe_fences() == probe_fences()


@pytest.mark.security
def test_fence_functions_report_applied(fenced: dict[str, dict[str, object]]) -> None:
    assert all(str(v).startswith("applied") for v in fenced["report"].values()), fenced["report"]


@pytest.mark.security
@pytest.mark.parametrize(
    "attempt",
    ["socket_inet", "socket_unix", "open_write", "open_read", "listdir", "fork", "exec", "mkdir",
     "kill_parent"],
)  # fmt: skip
def test_fenced_process_cannot(fenced: dict[str, dict[str, object]], attempt: str) -> None:
    assert fenced["seen"][attempt] != "allowed", fenced["seen"]


@pytest.mark.security
def test_fenced_process_created_nothing(fenced: dict[str, dict[str, object]]) -> None:
    assert os.listdir(str(fenced["target"]["path"])) == []


@pytest.mark.security
def test_file_size_and_core_limits_are_zero(fenced: dict[str, dict[str, object]]) -> None:
    assert fenced["seen"]["fsize"] == 0 and fenced["seen"]["core"] == 0


@pytest.mark.security
def test_worker_reports_no_new_privs_and_seccomp_in_proc_status(prepared: object) -> None:
    proc = prepared(PASS)  # type: ignore[operator]
    status = Path(f"/proc/{proc._worker.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # filter mode
    assert os.readlink(f"/proc/{proc._worker.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert os.getsid(proc._worker.pid) == proc._worker.pid  # its own session
