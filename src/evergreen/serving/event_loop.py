"""The gateway's event loop: uvloop, but taking every waiting connection at once.

libuv (under uvloop) accepts one connection per turn of the loop. A busy gateway's turn takes
tens of milliseconds, so 64 clients connecting together waited up to two seconds for their first
answer (a p99 of 1.2 s where the p50 was 60 ms), while the connections already accepted were
served. Here a listening socket is watched by the loop itself and every connection waiting on
it is accepted when it becomes readable, as asyncio's own loop does; the connections are then
uvloop's (``connect_accepted_socket``), as fast as before. Without uvloop (Windows), asyncio's
loop is used: it already accepts that way.

``LOOP_FACTORY`` is the import string uvicorn's ``loop`` setting takes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

LOOP_FACTORY = "evergreen.serving.event_loop:new_event_loop"
ACCEPT_RETRY = 1.0  # seconds before accepting again after running out of file descriptors
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop that accepts eagerly, or asyncio's loop where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()

    class EagerAcceptLoop(uvloop.Loop):
        async def create_server(  # type: ignore[override]
            self,
            protocol_factory: ProtocolFactory,
            host: Any = None,
            port: Any = None,
            *,
            sock: socket.socket | None = None,
            backlog: int = 100,
            ssl: Any = None,
            **kwargs: Any,
        ) -> asyncio.AbstractServer:
            if sock is None or ssl is not None or sock.type != socket.SOCK_STREAM:
                server: asyncio.AbstractServer = await super().create_server(
                    protocol_factory, host, port, sock=sock, backlog=backlog, ssl=ssl, **kwargs
                )
                return server
            return EagerServer(self, protocol_factory, sock, backlog)

    loop: asyncio.AbstractEventLoop = EagerAcceptLoop()
    return loop


class EagerServer(asyncio.AbstractServer):
    """Serves a listening socket: accepts up to ``backlog`` waiting connections each time it is
    readable and hands each to the loop as an accepted socket."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: ProtocolFactory,
        sock: socket.socket,
        backlog: int,
    ) -> None:
        self._loop = loop
        self._protocol_factory = protocol_factory
        self._sock = sock
        self._backlog = max(backlog, 1)
        self._serving = True
        self._closed: asyncio.Future[None] = loop.create_future()
        sock.setblocking(False)
        sock.listen(self._backlog)
        loop.add_reader(sock.fileno(), self._accept)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,) if self._serving else ()

    def _accept(self) -> None:
        for _ in range(self._backlog):
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # none left (or the client gave up first)
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                log.error(
                    "cannot accept connections (%s); trying again in %.0f s: raise the open "
                    "files limit (ulimit -n) or run more gateway workers",
                    exc,
                    ACCEPT_RETRY,
                )
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(ACCEPT_RETRY, self._resume)
                return
            conn.setblocking(False)
            self._loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._protocol_factory, conn)
        except OSError as exc:  # reset before the transport was made
            log.debug("connection dropped before it was served: %s", exc)
            conn.close()

    def _resume(self) -> None:
        if self._serving:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting and close the listening socket (connections already accepted stay)."""
        if not self._serving:
            return
        self._serving = False
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until closed (connections are tracked, and drained, by the HTTP server)."""
        await asyncio.shield(self._closed)

    def is_serving(self) -> bool:
        return self._serving

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def start_serving(self) -> None:
        """Already serving since it was made."""

    async def serve_forever(self) -> None:
        await asyncio.shield(self._closed)
