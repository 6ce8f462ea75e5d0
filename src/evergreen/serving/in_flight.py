"""How many requests the gateway is answering right now: HTTP ones counted by a pure ASGI
middleware in front of every route, gRPC calls by the servicer.

The micro-batcher predicts a request on the event loop only when it is the one request being
answered (``InFlight.alone``): then nothing else could join its batch, and skipping the hand-off
to the batch thread and back saves more than the predict of a fast model costs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class InFlight:
    """The number of requests being answered (touched by the event loop's thread only)."""

    def __init__(self) -> None:
        self.count = 0

    @property
    def alone(self) -> bool:
        """Whether the request asking is the only one in flight."""
        return self.count <= 1


class InFlightMiddleware:
    def __init__(self, app: ASGIApp, counter: InFlight) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counter.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.counter.count -= 1
