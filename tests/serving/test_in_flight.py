"""The count of requests in flight that lets a lone request skip the batch thread."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from evergreen.serving.in_flight import InFlight, InFlightMiddleware


def test_in_flight_counts_the_requests_being_answered() -> None:
    counter = InFlight()
    release = asyncio.Event()
    seen: list[int] = []

    async def slow(request: Request) -> JSONResponse:
        seen.append(counter.count)
        if request.query_params.get("wait"):
            await release.wait()
        return JSONResponse({"alone": await counter.alone()})

    app = InFlightMiddleware(Starlette(routes=[Route("/", slow)]), counter)

    async def run() -> list[bool]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            alone = (await client.get("/")).json()["alone"]
            waiting = asyncio.create_task(client.get("/", params={"wait": "1"}))
            while not seen[1:]:
                await asyncio.sleep(0.001)
            crowded = (await client.get("/")).json()["alone"]
            release.set()
            await waiting
        return [alone, crowded]

    assert asyncio.run(run()) == [True, False]
    assert seen == [1, 1, 2] and counter.count == 0


def test_requests_that_arrive_together_are_not_alone() -> None:
    """Requests read together start one after the other: one answered at once (as a lone
    request predicted on the loop is) must not leave the next believing it is alone too."""
    counter = InFlight()
    answers: list[bool] = []
    everyone = asyncio.Event()

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        alone = await counter.alone()
        answers.append(alone)
        if len(answers) == 8:
            everyone.set()
        if not alone:  # would join a batch: waits for the others
            await everyone.wait()

    app = InFlightMiddleware(handler, counter)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    async def run() -> None:
        await app({"type": "http"}, receive, send)  # one by one: each alone
        await asyncio.gather(*(app({"type": "http"}, receive, send) for _ in range(8)))

    asyncio.run(run())
    assert answers == [True] + [False] * 8
    assert counter.count == 0
