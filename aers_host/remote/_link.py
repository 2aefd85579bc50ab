"""The WebSocket link: one background thread running an asyncio loop and a WebSocket.

The audio-thread side, the slot rules and what each message means are shared with the TCP
transport (``_linkbase``); this module only moves bytes over ``websockets``. Each block
costs a hop through the event loop, which is why ``tcp://`` nodes use ``_tcp_link``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ._linkbase import LinkBase, LinkFailed
from ._loop import loop_factory
from ._protocol import HELLO, MAX_MESSAGE, ProtocolError, encode_json, parse_frame


class Link(LinkBase):
    """The WebSocket connection to one remote node, kept alive on a background thread.

    Arguments as :class:`LinkBase`; ``url`` is ``ws://`` or ``wss://``, and the token is
    sent as ``Authorization: Bearer`` in the handshake.
    """

    def _setup(self) -> None:
        self._loop = loop_factory()()
        self._nap_future: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None

    def kick(self) -> None:
        """[any-thread] Make the sender send what is pending now (before blocking on a result)."""
        if self._thread.is_alive():
            self._call_soon(self._wake_sender)

    def _wake_sender(self) -> None:
        nap = self._nap_future
        if nap is not None and not nap.done():
            nap.set_result(None)

    def _send_control(self, message: bytes, timeout: float) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"the node at {self.url} is not connected")
        try:
            asyncio.run_coroutine_threadsafe(ws.send(message), self._loop).result(timeout)
        except (RuntimeError, TimeoutError, ConnectionClosed, OSError) as err:
            raise ConnectionError(f"cannot reach the node at {self.url}: {err}") from err

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """[main-thread] Stop the thread and close the connection (waits up to 2 s)."""
        if self._thread.is_alive():
            if self._task is not None:
                self._call_soon(self._task.cancel)
            self._thread.join(timeout=2.0)

    def _call_soon(self, callback: Callable[[], object]) -> None:
        """[any-thread] Run ``callback`` on the link thread, if its loop still runs.

        The link thread closes its loop on the way out (after a fatal refusal, say), so a
        caller that saw the thread alive can still find the loop closed a moment later.
        A closed loop means the thread is finishing: there is nothing left to wake or cancel.
        """
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:
            if not self._loop.is_closed():
                raise

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._main())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self.connected = False
            self.first_result.set()
            self._loop.close()

    # -- link-thread side --------------------------------------------------------------

    async def _main(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    compression=None,
                    max_size=MAX_MESSAGE,
                    open_timeout=self._open_timeout,
                    ping_interval=None,
                    close_timeout=1.0,
                ) as ws:
                    await self._greet(ws)
                    delay = self._backoff[0]
                    await self._pump(ws)
            except LinkFailed as err:
                self.fatal = str(err)
                self.first_result.set()
                return
            except InvalidStatus as err:
                status = err.response.status_code
                if status in (401, 403):
                    self.fatal = f"the node at {self.url} refused the token (HTTP {status})"
                    self.first_result.set()
                    return
                self.last_error = f"HTTP {status}"
            except InvalidURI as err:
                self.fatal = f"invalid node URL {self.url!r}: {err}"
                self.first_result.set()
                return
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as err:
                self.last_error = str(err) or type(err).__name__
            except ProtocolError as err:
                self.malformed += 1
                self.last_error = f"malformed reply: {err}"
            finally:
                self.connected = False
                self.arrived.set()  # an audio thread waiting on this link stops waiting
            self.first_result.set()
            await asyncio.sleep(delay * (0.75 + random.random() / 2))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2.0, self._backoff[1])

    async def _greet(self, ws: ClientConnection) -> None:
        await ws.send(encode_json(HELLO, self._hello))
        self._accept_hello(parse_frame(await asyncio.wait_for(ws.recv(), self._open_timeout)))

    async def _pump(self, ws: ClientConnection) -> None:
        tasks = [asyncio.create_task(self._send_loop(ws)), asyncio.create_task(self._recv(ws))]
        self._ws = ws
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # re-raise what ended the connection

    async def _send_loop(self, ws: ClientConnection) -> None:
        pending = self._pending
        while True:
            while pending:
                seq = pending.popleft()
                view = self._pending_message(seq)
                if view is None:
                    continue
                data = bytes(view)  # ws.send may keep it past the next await
                if self._still_wanted(seq):
                    await ws.send(data)
            nap: asyncio.Future[None] = self._loop.create_future()
            timer = self._loop.call_later(self._poll, _finish, nap)
            self._nap_future = nap
            try:
                await nap
            finally:
                timer.cancel()
                self._nap_future = None

    async def _recv(self, ws: ClientConnection) -> None:
        async for message in ws:
            self._on_frame(parse_frame(message))


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
