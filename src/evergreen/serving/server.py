"""Running the gateway: in the foreground (``evergreen serve``, one or several worker
processes) or in a background thread (tests, the demo, notebooks).

Every way runs uvicorn on :mod:`evergreen.serving.event_loop`'s loop, which accepts every
waiting connection at once. Several workers on Linux each listen on a socket of their own on
the port (``SO_REUSEPORT``), so the kernel spreads new connections evenly over them; sharing one
socket, the worker that woke first took a burst of connections whole while the other idled.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from evergreen.errors import Unavailable
from evergreen.serving.access_log import configure as configure_access_log
from evergreen.serving.event_loop import LOOP_FACTORY

BACKLOG = 2048  # connections the kernel holds for the gateway to accept (uvicorn's default)
log = logging.getLogger("uvicorn.error")  # printed as uvicorn prints its own lines


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: a free port); ``reuse_port``: one of several
    on the port, each process with its own. Raises ``Unavailable`` naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise Unavailable(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port or "
            "stop what is using it"
        ) from None
    return sock


def serve(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "info",
    *,
    access_log: bool = True,
) -> None:
    """Serve ``app`` with uvicorn until interrupted (Ctrl-C or SIGTERM); ``access_log`` writes
    the gateway's JSON access lines to stdout (uvicorn's own access log is always off)."""
    if access_log:
        configure_access_log()
    sock = listen(host, port)
    config = uvicorn.Config(
        app, loop=LOOP_FACTORY, log_level=log_level, ws="none", access_log=False, backlog=BACKLOG
    )
    server = uvicorn.Server(config)
    log.info("Gateway on http://%s:%d (press CTRL+C to quit)", host, port)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # as uvicorn.run does
        pass
    finally:
        sock.close()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # the app's startup failed: its error is in the log


def serve_workers(
    factory: str, workers: int, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info"
) -> None:
    """Serve with ``workers`` processes on one port, each building its app with ``factory``
    (``module:function``); uvicorn restarts a worker that dies. Each worker writes its own
    access lines (see ``bootstrap.gateway_from_environment``)."""
    # elsewhere SO_REUSEPORT does not spread connections: the workers share one socket, on
    # uvloop's own loop (one connection a turn, so no worker takes a burst whole)
    shared = not sys.platform.startswith("linux")
    listen(host, port).close()  # a clear error now rather than one from every worker
    config = uvicorn.Config(
        factory,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        loop="auto" if shared else LOOP_FACTORY,
        log_level=log_level,
        ws="none",
        access_log=False,
        backlog=BACKLOG,
    )
    log.info("Gateway on http://%s:%d, %d workers (press CTRL+C to quit)", host, port, workers)
    sockets = [config.bind_socket()] if shared else _OwnListener(host, port)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run does
        Multiprocess(config, sockets=sockets).run()


class _OwnListener(list[socket.socket]):
    """What uvicorn hands each worker process as its sockets: empty here, and unpickled in the
    worker as a socket of the worker's own on ``host:port`` (``SO_REUSEPORT``)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[object, tuple[str, int]]:
        return (_worker_listener, (self.host, self.port))


def _worker_listener(host: str, port: int) -> list[socket.socket]:
    return [listen(host, port, reuse_port=True)]


class GatewayThread:
    """Runs ``app`` with uvicorn in a daemon thread on ``host:port`` (0 picks a free port).

    ``start()`` returns once the port answers; ``stop()`` shuts down gracefully (in-flight
    requests finish, then the app's lifespan shutdown runs). Also a context manager.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        timeout_graceful_shutdown: int = 10,
    ) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self.port = port
        self._config = uvicorn.Config(
            app,
            loop=LOOP_FACTORY,
            log_level=log_level,
            ws="none",
            lifespan="on",
            access_log=False,  # the gateway writes its own (evergreen.access)
            timeout_graceful_shutdown=timeout_graceful_shutdown,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> GatewayThread:
        if self._thread is not None:
            return self
        sock = listen(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run,
            args=(sock,),
            name=f"evergreen-gateway-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (self._server.started and self._answers()):
            if not self._thread.is_alive():
                sock.close()
                self._thread = None
                raise Unavailable(f"the gateway on {self.url} failed to start; see its log")
            if time.monotonic() > deadline:
                self.stop()
                raise Unavailable(f"the gateway on {self.url} did not start within {timeout}s")
            time.sleep(0.02)
        return self

    def _run(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        except SystemExit:
            pass  # uvicorn exits when the app's startup fails; start() reports it
        finally:
            sock.close()

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down gracefully and wait for the thread (and the app's shutdown) to finish."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(5.0)
        self._thread = None

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
