"""The count of requests in flight that lets a lone request skip the batch thread."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from evergreen.serving.in_flight import InFlight, InFlightMiddleware


def test_in_flight_counts_the_requests_being_answered() -> None:
    counter = InFlight()
    release = asyncio.Event()
    seen: list[int] = []

    async def slow(request: Request) -> JSONResponse:
        seen.append(counter.count)
        if request.query_params.get("wait"):
            await release.wait()
        return JSONResponse({"alone": counter.alone})

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
