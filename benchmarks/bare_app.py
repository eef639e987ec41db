"""The baseline: a bare Starlette endpoint answering a fixed JSON body (the guide's plan
look-up response), served exactly as the simulator is.

POST /sandbox/carts answers without reading the body it was sent; POST /bare/parsed
reads it as JSON first, as Starlette's own `request.json()` does, which is the least
any endpoint taking a JSON body does with it."""

from __future__ import annotations

import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract_tests.guide import PLAN_RESPONSE

BODY = json.dumps(PLAN_RESPONSE, separators=(",", ":")).encode()


async def fixed(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


async def parsed(request: Request) -> Response:
    await request.json()
    return Response(BODY, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/sandbox/plans", fixed, methods=["GET"]),
        Route("/sandbox/carts", fixed, methods=["POST"]),
        Route("/bare/parsed", parsed, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)

if __name__ == "__main__":
    # The same settings as simulator/server.py.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="auto",
        http="auto",
        lifespan="off",
    )
