"""The gateway's event loop (uvloop accepting every waiting connection at once), driven with real
sockets on loopback."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator
from typing import ClassVar, cast

import pytest

from evergreen.serving.event_loop import EagerServer, new_event_loop
from evergreen.serving.server import listen

CLIENTS = 50


class Echo(asyncio.Protocol):
    made: ClassVar[list[Echo]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        Echo.made.append(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    Echo.made = []
    loop = new_event_loop()
    yield loop
    for protocol in Echo.made:
        protocol.transport.close()
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()


def turn(loop: asyncio.AbstractEventLoop) -> None:
    """Let the loop poll for I/O and run what is ready."""
    loop.run_until_complete(asyncio.sleep(0.001))


def run_busy(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """Run the loop for ``seconds`` with each of its turns taking 2 ms, as a busy gateway's do."""
    busy = True

    def work() -> None:
        time.sleep(0.002)
        if busy:
            loop.call_soon(work)

    loop.call_soon(work)
    loop.run_until_complete(asyncio.sleep(seconds))
    busy = False
    turn(loop)


def test_a_burst_of_waiting_connections_is_accepted_at_once(
    loop: asyncio.AbstractEventLoop,
) -> None:
    pytest.importorskip("uvloop")  # what the gateway runs on wherever uvloop installs
    assert type(loop).__module__ == "evergreen.serving.event_loop"
    sock = listen("127.0.0.1", 0)
    server = loop.run_until_complete(loop.create_server(Echo, sock=sock, backlog=128))
    assert isinstance(server, EagerServer) and server.is_serving()
    port = sock.getsockname()[1]
    # the kernel completes every handshake into the backlog while the loop is not running
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(CLIENTS)]
    try:
        # ~15 busy turns: libuv's own accept takes one connection a turn (17 of 50 in a try)
        run_busy(loop, 0.03)
        assert len(Echo.made) == CLIENTS
        # each is a working connection
        for i, client in enumerate(clients):
            client.sendall(f"ping {i}".encode())
        for _ in range(3):
            turn(loop)
        assert [c.recv(64) for c in clients] == [f"PING {i}".encode() for i in range(CLIENTS)]
    finally:
        for client in clients:
            client.close()
        server.close()
        loop.run_until_complete(server.wait_closed())


def test_a_closed_server_refuses_new_connections_and_keeps_the_accepted_ones(
    loop: asyncio.AbstractEventLoop,
) -> None:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = loop.run_until_complete(loop.create_server(Echo, sock=sock))
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    turn(loop)
    server.close()
    loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 1.0))
    assert not server.is_serving() and server.sockets == ()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(b"still here")
    turn(loop)
    assert client.recv(64) == b"STILL HERE"
    client.close()


def test_without_uvloop_the_loop_is_asyncios_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where uvloop does not install
    loop = new_event_loop()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop)
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()


def test_a_busy_port_is_one_clear_error() -> None:
    from evergreen.errors import Unavailable

    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(Unavailable, match=f"cannot listen on 127.0.0.1:{port}: .*--port"):
            listen("127.0.0.1", port)
        # sockets of the gateway's own workers share a port; nothing else joins them
        workers = [listen("127.0.0.1", 0, reuse_port=True)]
        shared = workers[0].getsockname()[1]
        workers.append(listen("127.0.0.1", shared, reuse_port=True))
        with pytest.raises(Unavailable):
            listen("127.0.0.1", shared)
        for worker in workers:
            worker.close()
    finally:
        taken.close()
