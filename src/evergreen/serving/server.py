"""Running the gateway: in the foreground (``evergreen serve``) or in a background thread
(tests, the demo, notebooks)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from evergreen.errors import Unavailable
from evergreen.serving.access_log import configure as configure_access_log


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
    uvicorn.run(app, host=host, port=port, log_level=log_level, ws="none", access_log=False)


def serve_workers(
    factory: str, workers: int, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info"
) -> None:
    """Serve with ``workers`` processes on one port, each building its app with ``factory``
    (``module:function``); uvicorn restarts a worker that dies. Each worker writes its own
    access lines (see ``bootstrap.gateway_from_environment``)."""
    uvicorn.run(
        factory,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        ws="none",
        access_log=False,
    )


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
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise Unavailable(
                f"cannot listen on {self.host}:{self._requested_port}: {exc}"
            ) from None
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
