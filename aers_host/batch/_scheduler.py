"""``--scheduler``: check the value up front, and reach a scheduler address with a deadline.

Accepted values are ``local``, ``threads`` and ``tcp://HOST:PORT`` (PORT an integer 1-65535,
an IPv6 HOST in brackets). ``tls://`` is refused: the CLI has no way to pass certificates;
from Python, hand :func:`run_sweep` a ``distributed.Client`` built with ``security=…``.

Reaching an address is bounded by :data:`CONNECT_TIMEOUT_S` in all (``run_sweep``'s
``connect_timeout`` overrides it) and every failure is an
:class:`AersError` (``cannot connect to the Dask scheduler at …: reason``):

1. a plain TCP connection first, so a closed port or an unknown host fails at once (Dask's
   own ``connect`` retries a refused connection until its timeout);
2. then Dask's handshake, in a thread of its own under ``asyncio.wait_for``: a server that
   is not a Dask scheduler either never answers (Dask's handshake read has no timeout) or
   answers bytes whose "frame length" Dask then tries to allocate (exbibytes);
3. only then the ``Client``, with the rest of the deadline as its timeout.

Example:
    >>> parse_scheduler(" tcp://127.0.0.1:8786 ")
    'tcp://127.0.0.1:8786'
    >>> parse_scheduler("tcp://[::1]:8786")
    'tcp://[::1]:8786'
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import time
from collections.abc import Iterator
from typing import Any, Final

from .._threads import helper_thread
from ..errors import AersError

#: Seconds allowed to reach a scheduler address (TCP connection plus Dask's handshake).
CONNECT_TIMEOUT_S: float = 10.0
#: A host name or IPv4 address (an IPv6 address comes in brackets).
HOST_PATTERN: Final = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
EXAMPLE: Final = "tcp://127.0.0.1:8786"
NOT_DASK: Final = "is it a Dask scheduler?"


def parse_scheduler(text: str) -> str:
    """Check and normalise ``--scheduler``: ``local``, ``threads`` or ``tcp://HOST:PORT``.

    Raises:
        AersError: anything else, including a malformed address or an unsupported protocol.
    """
    value = text.strip()
    if value in ("local", "threads"):
        return value
    if "://" not in value:
        raise AersError(
            f"unknown scheduler {text!r}: use local, threads or an address such as {EXAMPLE}"
        )
    scheme, _, rest = value.partition("://")
    scheme = scheme.lower()
    if scheme == "tls":
        raise AersError(
            f"scheduler {text!r}: tls:// addresses are not supported by aers batch (it takes "
            "no certificates); use tcp://HOST:PORT, or from Python pass run_sweep(client=...) "
            "a distributed.Client made with security=..."
        )
    if scheme != "tcp":
        raise AersError(
            f"scheduler {text!r}: unsupported protocol {scheme + '://'!r}; use tcp://HOST:PORT "
            f"such as {EXAMPLE}"
        )
    host, port = _host_port(text, rest)
    return f"tcp://{host}:{port}"


def _host_port(text: str, rest: str) -> tuple[str, int]:
    def bad(message: str) -> AersError:
        return AersError(f"scheduler {text!r}: {message}; write tcp://HOST:PORT such as {EXAMPLE}")

    if rest.startswith("["):  # [IPv6]:PORT
        inside, closed, after = rest[1:].partition("]")
        if not closed:
            raise bad("unclosed '[' in the host")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            raise bad(f"{inside!r} is not an IPv6 address") from None
        host = f"[{inside}]"
        if not after.startswith(":"):
            raise bad("no port")
        port_text = after[1:]
    else:
        host, colon, port_text = rest.rpartition(":")
        if not colon:
            host, port_text = rest, ""
        if not host and not port_text:
            raise bad("no host and no port")
        if ":" in host:
            raise bad("an IPv6 host must be written in brackets, as in tcp://[::1]:8786")
        if not HOST_PATTERN.match(host):
            raise bad(f"{host!r} is not a host name or address" if host else "no host")
        if not colon:
            raise bad("no port")
    if not port_text.isascii() or not port_text.isdigit():
        raise bad(f"port {port_text!r} is not a number" if port_text else "no port")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise bad(f"port {port} is out of range 1-65535")
    return host, port


def unreachable(address: str, reason: str) -> AersError:
    """The one-line error for a scheduler address that cannot be used."""
    return AersError(f"cannot connect to the Dask scheduler at {address}: {reason}")


@contextlib.contextmanager
def remote_client(address: str, timeout: float | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` on the scheduler at ``address`` (from :func:`parse_scheduler`).

    Args:
        address: ``tcp://HOST:PORT``.
        timeout: seconds to reach it (default: :data:`CONNECT_TIMEOUT_S`).

    Raises:
        AersError: the address cannot be reached in time, or what answers there is not a
            Dask scheduler.
    """
    from distributed import Client

    limit = CONNECT_TIMEOUT_S if timeout is None else timeout
    if not limit > 0:
        raise ValueError(f"connect timeout must be positive, got {limit}")
    deadline = time.monotonic() + limit
    _check_tcp(address, deadline, limit)
    _check_handshake(address, deadline, limit)
    left = max(0.1, deadline - time.monotonic())
    try:
        client = Client(address, timeout=left)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as err:  # CommClosedError is an OSError
        raise unreachable(address, str(err) or type(err).__name__) from None
    with client:
        yield client


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    return host.strip("[]"), int(port)


def _check_tcp(address: str, deadline: float, limit: float) -> None:
    host, port = _split(address)
    try:
        with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())):
            pass
    except socket.gaierror as err:
        raise unreachable(address, f"unknown host {host!r} ({err.strerror or err})") from None
    except TimeoutError:
        raise unreachable(address, f"no connection within {limit:g} s") from None
    except OSError as err:  # refused, unreachable network, ...
        raise unreachable(address, (err.strerror or str(err)).lower()) from None


def _check_handshake(address: str, deadline: float, limit: float) -> None:
    """Exchange Dask's handshake with ``address``, in a thread with its own event loop.

    A thread keeps this usable where an event loop already runs (a notebook).
    """
    from distributed.comm.core import connect

    timeout = max(0.1, deadline - time.monotonic())
    outcome: list[BaseException | None] = []

    async def handshake() -> None:
        comm = await connect(address, timeout=timeout)  # type: ignore[no-untyped-call]
        comm.abort()

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(handshake(), timeout))
        except BaseException as err:  # judged in the calling thread
            outcome.append(err)
        else:
            outcome.append(None)

    thread = helper_thread(run, "aers-scheduler-probe")  # Ctrl-C stays the main thread's
    thread.start()
    thread.join(timeout + 5.0)  # wait_for ends the loop; this is only a backstop
    err = outcome[0] if outcome else TimeoutError()
    if err is None:
        return
    if isinstance(err, TimeoutError):
        reason = f"no Dask handshake within {limit:g} s ({NOT_DASK})"
    elif isinstance(err, OSError):  # includes CommClosedError
        reason = f"the connection closed during Dask's handshake ({NOT_DASK})"
    elif isinstance(err, Exception):  # junk bytes: a huge allocation, a decode error, ...
        reason = f"the server there does not speak Dask's protocol ({NOT_DASK})"
    else:  # KeyboardInterrupt, SystemExit: not ours to swallow
        raise err
    raise unreachable(address, reason)
