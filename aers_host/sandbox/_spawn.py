"""Starting, talking to and killing one worker process.

A worker is ``python -I`` with a minimal environment (one BLAS thread, no ``PYTHON*``
variables, no user site), its own session (Ctrl-C in the terminal does not reach it; the
host stops it), only three inherited descriptors (doorbell pipe, reply pipe, shared
segment) — plus, for native stages, the sealed memfds of their verified libraries — and
the plugin source sent over the pipe — never a path to read.

Every worker is started from one long-lived supervisor thread (:func:`supervisor`):
``PR_SET_PDEATHSIG`` fires when the *thread* that forked the worker exits, so starting
workers from short-lived threads would kill them with the thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from .._threads import leave_signals_to_main_thread
from ..errors import SandboxError, WorkerCrashed, WorkerTimeout
from . import _protocol as proto

_BOOTSTRAP: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from aers_host.sandbox._worker import main; sys.exit(main(sys.argv[2:]))"
)
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parents[2])
_WORKER_ENV: Final = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
#: Sequence number that marks a reply to a main-thread request (block numbers skip it).
CONTROL_SEQ: Final = 0
_executor: ThreadPoolExecutor | None = None


def supervisor() -> ThreadPoolExecutor:
    """[any-thread] The process-wide pool whose (long-lived) threads start every worker."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=2,
            thread_name_prefix="aers-sandbox",
            initializer=leave_signals_to_main_thread,
        )
    return _executor


def _set_nonblocking(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


class WorkerProcess:
    """One running worker: its process and the host ends of its two pipes.

    Attributes:
        pid: the worker's process id.
        ctrl_fd: host → worker doorbell pipe (non-blocking).
        reply_fd: worker → host reply pipe (non-blocking).
        hello: what the worker reported at start (fences applied, latencies).
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], ctrl_fd: int, reply_fd: int, hello: dict[str, Any]
    ) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.ctrl_fd = ctrl_fd
        self.reply_fd = reply_fd
        self.hello = hello
        self._closed = False

    @classmethod
    def start(
        cls,
        config: dict[str, Any],
        shm_path: str,
        timeout: float,
        extra_fds: Sequence[int] = (),
    ) -> WorkerProcess:
        """[supervisor-thread] Spawn a worker, send it ``config`` and wait for its hello.

        ``extra_fds`` are inherited as they are (the sealed library memfds of native
        stages; the config names them). The host keeps its own copies open.

        Raises:
            WorkerTimeout: no hello within ``timeout`` seconds.
            WorkerCrashed: the worker exited or refused the plugin (message says why).
        """
        ctrl_r, ctrl_w = os.pipe()
        reply_r, reply_w = os.pipe()
        shm_fd = os.open(shm_path, os.O_RDWR | os.O_CLOEXEC)
        inherited = (ctrl_r, reply_w, shm_fd)
        try:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv: our interpreter and bootstrap
                [
                    sys.executable,
                    "-I",
                    "-c",
                    _BOOTSTRAP,
                    _PACKAGE_ROOT,
                    *map(str, inherited),
                    str(os.getpid()),
                ],
                env=_WORKER_ENV,
                start_new_session=True,
                close_fds=True,
                pass_fds=(*inherited, *extra_fds),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None if os.environ.get("AERS_SANDBOX_STDERR") else subprocess.DEVNULL,
            )
        except OSError as exc:
            for fd in (*inherited, ctrl_w, reply_r):
                os.close(fd)
            raise WorkerCrashed(f"cannot start a worker: {exc}") from exc
        for fd in inherited:
            os.close(fd)
        worker = cls(proc, ctrl_w, reply_r, {})
        try:
            proto.send_blob(ctrl_w, config)
            hello = proto.recv_blob(reply_r, time.monotonic() + timeout, limit=1 << 16)
        except TimeoutError as exc:
            worker.kill()
            raise WorkerTimeout(f"worker did not start within {timeout:g} s") from exc
        except (EOFError, OSError, ValueError) as exc:
            worker.kill()
            raise WorkerCrashed(f"worker exited during start-up ({exc})") from exc
        if not isinstance(hello, dict) or not hello.get("ok"):
            worker.kill()
            error = (
                hello.get("error", "no reason given") if isinstance(hello, dict) else "bad hello"
            )
            raise WorkerCrashed(f"worker refused the plugin: {error}")
        worker.hello = hello
        _set_nonblocking(ctrl_w)
        _set_nonblocking(reply_r)
        return worker

    def request(self, header: bytes, payload: object | None, timeout: float) -> dict[str, Any]:
        """[main-thread & !processing] Send a control message and wait for its JSON answer.

        Late block replies still in the pipe are skipped (they carry block numbers).

        Raises:
            SandboxError: the worker died, timed out or answered nonsense.
        """
        deadline = time.monotonic() + timeout
        try:
            fcntl.fcntl(
                self.ctrl_fd,
                fcntl.F_SETFL,
                fcntl.fcntl(self.ctrl_fd, fcntl.F_GETFL) & ~os.O_NONBLOCK,
            )
            proto.write_all(self.ctrl_fd, header)
            if payload is not None:
                proto.send_blob(self.ctrl_fd, payload)
            _set_nonblocking(self.ctrl_fd)
            while True:
                seq = proto.REPLY.unpack(
                    proto.read_exact(self.reply_fd, proto.REPLY.size, deadline)
                )[0]
                if seq == CONTROL_SEQ:
                    break
            answer = proto.recv_blob(self.reply_fd, deadline)
        except (EOFError, OSError, TimeoutError, ValueError) as exc:
            raise SandboxError(f"worker {self.pid} did not answer: {exc}") from exc
        if not isinstance(answer, dict):
            raise SandboxError(f"worker {self.pid} answered {type(answer).__name__}, not an object")
        return answer

    def stop(self, timeout: float = 1.0) -> None:
        """[main-thread] Ask the worker to quit; kill it if it does not within ``timeout``."""
        if self._closed:
            return
        with contextlib.suppress(OSError):
            os.write(self.ctrl_fd, proto.DOORBELL.pack(proto.KIND_QUIT, 0, 0, 0, 0, 0, 0))
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """[any-thread] SIGKILL the worker, reap it and close our pipe ends; idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5.0)
        for fd in (self.ctrl_fd, self.reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
