from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from fastapi import FastAPI

from evergreen.bootstrap import Context
from evergreen.errors import Unavailable
from evergreen.serving import GatewayThread, create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_gateway_thread_answers_once_started(context: Context) -> None:
    with GatewayThread(create_app(context.registry, None)) as gateway:
        assert gateway.port > 0
        assert httpx.get(f"{gateway.url}/v2/health/live").json() == {"live": True}
    assert not answers(gateway.port)


def test_gateway_thread_on_a_given_port(context: Context) -> None:
    port = free_port()
    gateway = GatewayThread(create_app(context.registry, None), port=port).start()
    try:
        assert gateway.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{gateway.url}/v2/health/ready", timeout=5).status_code in (200, 503)
    finally:
        gateway.stop()
    gateway.stop()  # stopping twice is harmless


def test_port_in_use_is_unavailable(context: Context) -> None:
    with GatewayThread(create_app(context.registry, None)) as running:
        second = GatewayThread(create_app(context.registry, None), port=running.port)
        with pytest.raises(Unavailable, match=str(running.port)):
            second.start()


def test_failed_startup_is_unavailable() -> None:
    async def broken(_: FastAPI):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")
        yield

    with pytest.raises(Unavailable, match="failed to start"):
        GatewayThread(FastAPI(lifespan=broken), log_level="critical").start()


@pytest.mark.slow  # a fresh interpreter imports the whole stack
def test_serve_runs_until_terminated() -> None:
    port = free_port()
    script = (
        "from fastapi import FastAPI\n"
        "from evergreen.serving import serve\n"
        f"serve(FastAPI(), port={port}, log_level='warning')\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not answers(port):
            assert process.poll() is None, "serve() exited early"
            assert time.monotonic() < deadline, "serve() did not listen in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
