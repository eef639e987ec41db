"""The HTTP surface: the route table and endpoints that only translate.

Each endpoint picks the schema for its input, asks the facade, and returns the body;
`transport.Pipeline` does auth, parsing, idempotency and error rendering for all.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from simulator.config import SimConfig
from simulator.contract.openapi import control_document, served_document
from simulator.contract.queries import plans_query, session_query
from simulator.contract.shapes import classify_orders_body
from simulator.domain.deviations import ORDERS_URL
from simulator.domain.errors import SimError
from simulator.facade import Sandbox
from simulator.state.store import Store
from simulator.web import admin, dashboard, sim_api
from simulator.web.metrics import Metrics, measured
from simulator.web.requests import error_response, json_response
from simulator.web.shadow import Shadow
from simulator.web.transport import Call, Endpoint, Operation, Pipeline
from simulator.web.upstream import Upstream


class VendorApi:
    """Endpoints of docs/contract.md §3."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def plans(self, call: Call) -> Any:
        return self.sandbox.look_up_plans(call.tenant, plans_query(call.request.scope["query_string"]))

    def cart_connections(self, call: Call) -> Any:
        session = session_query(call.request.scope["query_string"])
        return self.sandbox.cart_connections(call.tenant, call.request.path_params["cart_id"], session)

    def update_cart(self, call: Call) -> Any:
        return self.sandbox.update_cart(call.tenant, call.validated("cart-update-request.json"), call.rules)

    def check_out(self, call: Call) -> Any:
        return self.sandbox.check_out(call.tenant, call.validated("checkout-request.json"), call.rules)

    def publish_event(self, call: Call) -> Any:
        return self.sandbox.publish_event(call.tenant, call.validated("event-request.json"), call.rules)

    def orders_post(self, call: Call) -> Any:
        """The guide's one URL for cart updates, checkouts and order events. It is the
        only published URL for the first two; for events the docs publish
        /sandbox/events, so an event sent here is a deviation (refused under --strict)."""
        shape = classify_orders_body(call.body)
        if shape == "event":
            if self.sandbox.config.strict:
                raise SimError(
                    "invalid_request_parameters",
                    "an order event was posted to /sandbox/orders, the guide's URL; the docs publish "
                    "order events at POST /sandbox/events: post it there (--strict)",
                )
            call.deviations.append(ORDERS_URL)
        return {"cart": self.update_cart, "checkout": self.check_out, "event": self.publish_event}[shape](call)

    def event(self, call: Call) -> Any:
        return self.sandbox.event(call.tenant, call.request.path_params["event_id"])

    def order(self, call: Call) -> Any:
        return self.sandbox.order(call.tenant, call.request.path_params["order_id"])

    def order_connections(self, call: Call) -> Any:
        return self.sandbox.order_connections(call.tenant, call.request.path_params["order_id"])


def routes(pipeline: Pipeline, api: VendorApi) -> list[BaseRoute]:
    get = pipeline.endpoint

    def post(operation: Operation) -> Endpoint:
        return pipeline.endpoint(operation, json_body=True)

    return [
        Route("/sandbox/plans", get(api.plans), methods=["GET"]),
        Route("/sandbox/carts", post(api.update_cart), methods=["POST"]),
        Route("/sandbox/carts/{cart_id}/plan_connections", get(api.cart_connections), methods=["GET"]),
        Route("/sandbox/checkouts", post(api.check_out), methods=["POST"]),
        Route("/sandbox/events", post(api.publish_event), methods=["POST"]),
        Route("/sandbox/events/{event_id}", get(api.event), methods=["GET"]),
        Route("/sandbox/orders", post(api.orders_post), methods=["POST"]),
        Route("/sandbox/orders/{order_id}", get(api.order), methods=["GET"]),
        Route("/sandbox/orders/{order_id}/plan_connections", get(api.order_connections), methods=["GET"]),
    ]


def _no_route(request: Request) -> str:
    """What a request to an unknown path should have asked for."""
    path = request.url.path
    said = f"no route {request.method} {path}"
    if not path.startswith("/sandbox"):
        return f"{said}: the vendor API lives under /sandbox (routes: GET /openapi.json)"
    known = sorted({getattr(r, "path", "") for r in request.app.routes if getattr(r, "path", "").startswith("/sandbox")})
    shapes = [re.sub(r"\{[^}]+\}", "x", k) for k in known]
    close = difflib.get_close_matches(
        re.sub(r"/sandbox/(carts|orders|events)/[^/]+", r"/sandbox/\1/x", path), shapes, n=1, cutoff=0.75
    )
    hint = f"; did you mean {known[shapes.index(close[0])]}?" if close else ""
    return f"{said}{hint} (the routes under /sandbox: {', '.join(known)})"


def _request_id(request: Request) -> str:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox.ids.request_id()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = SimError("method_not_allowed", f"{request.method} is not allowed on {request.url.path}")
        error.headers["Allow"] = (exc.headers or {}).get("Allow", "")
    elif exc.status_code == 404:
        error = SimError("entity_not_found", _no_route(request))
    else:
        error = SimError("invalid_request_parameters", str(exc.detail))
    return error_response(error, _request_id(request))


async def _crash(request: Request, exc: Exception) -> Response:
    error = SimError(
        "internal_server_error",
        f"the simulator failed on this request ({type(exc).__name__}: {exc}); please report it with the request that caused it",
    )
    return error_response(error, _request_id(request))


def _with_request_id(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Every response carries an X-Request-Id (docs/contract.md §1), pages and documents too."""

    async def handle(request: Request) -> Response:
        response = await endpoint(request)
        response.headers["X-Request-Id"] = _request_id(request)
        return response

    return handle


def _counted(
    metrics: Metrics, handler: Callable[[Request, Exception], Awaitable[Response]]
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An exception handler that counts its answers, as `measured` does for endpoints."""

    async def handle(request: Request, exc: Exception) -> Response:
        return await measured(metrics, lambda r: handler(r, exc))(request)

    return handle


class Direct:
    """The app as served. A request for one of the vendor's routes (a look-up, a cart,
    a checkout, an event, an order, their connections) with its method goes straight to
    its endpoint; anything else goes through Starlette. Starlette's middleware and router
    cost a plan look-up about a quarter of its rate (served, side by side), and add
    nothing there: the endpoint answers every refusal itself, and a crash is answered
    here as Starlette's error middleware would."""

    def __init__(self, app: Starlette, pipeline: Pipeline):
        self.starlette = app
        self.state = app.state
        # The connection layer's refusal of a head too large to read, journaled as any other.
        self.refuse_head = pipeline.refuse_head
        self._fixed: dict[tuple[str, str], tuple[Route, Endpoint]] = {}
        self._patterned: list[tuple[Route, Endpoint]] = []  # /sandbox/orders/{order_id} and the like
        for route in app.routes:
            if isinstance(route, Route) and isinstance(route.endpoint, Endpoint) and route.path.startswith("/sandbox/"):
                if "{" in route.path:
                    self._patterned.append((route, route.endpoint))
                    continue
                for method in route.methods or ():
                    if method != "HEAD":  # Starlette answers HEAD for GET routes
                        self._fixed[(method, route.path)] = (route, route.endpoint)
        self._crash = app.exception_handlers[Exception]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._route(scope) if scope["type"] == "http" else None
        if found is None:
            await self.starlette(scope, receive, send)
            return
        scope["app"] = self.starlette
        scope["route"] = found[0]  # what Starlette's router would set (metrics read it)
        try:
            await found[1](scope, receive, send)
        except Exception as exc:
            # (An endpoint sends its answer last: a crash comes before it started.)
            response = await self._crash(Request(scope, receive), exc)
            await response(scope, receive, send)
            raise  # for the server's log, as Starlette does

    def _route(self, scope: Scope) -> tuple[Route, Endpoint] | None:
        found = self._fixed.get((scope["method"], scope["path"]))
        if found is not None or not scope["path"].startswith("/sandbox/"):
            return found
        for route, endpoint in self._patterned:
            match, child = route.matches(scope)
            if match is Match.FULL:  # path and method (a wrong method is Starlette's 405)
                scope.update(child)  # the path parameters
                return route, endpoint
        return None


def create_app(config: SimConfig, clock: Callable[[], datetime] | None = None, store: Store | None = None) -> Direct:
    """The app; `store` keeps tenant state (default: memory), and is closed when the app stops."""
    sandbox = Sandbox(config, clock, store) if clock is not None else Sandbox(config, store=store)
    metrics = Metrics()
    upstream = Upstream(config.upstream, config.upstream_timeout) if config.upstream else None
    pipeline = Pipeline(sandbox, metrics)
    if upstream is not None:
        pipeline.forwarding = Shadow(pipeline, upstream)
    links = dashboard.LoginLinks()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with pipeline.workers.serving():
            yield
        if upstream is not None:  # shadow mode: close the connections to the upstream
            await upstream.aclose()
        sandbox.store.close()

    document, controls = served_document(), control_document()

    async def openapi(request: Request) -> Response:
        return json_response(200, document, {})

    async def control_openapi(request: Request) -> Response:
        return json_response(200, controls, {})

    async def healthz(request: Request) -> Response:
        return json_response(200, {"status": "ok"}, {})

    # --no-sim-api: the vendor's surface alone (with its document and the health check),
    # for a server whose users must not reach each other's controls or the dashboard.
    simulator_surface = (
        [
            *sim_api.routes(pipeline, sandbox, links),
            *[
                Route(r.path, measured(metrics, _with_request_id(r.endpoint)), methods=r.methods)
                for r in dashboard.routes(sandbox, links, pipeline.workers)
                if isinstance(r, Route)
            ],
            *admin.routes(sandbox, metrics, config.admin_token),
            Route("/__sim/openapi.json", measured(metrics, _with_request_id(control_openapi)), methods=["GET"]),
        ]
        if config.sim_api
        else []
    )
    app = Starlette(
        routes=[
            *routes(pipeline, VendorApi(sandbox)),
            *simulator_surface,
            Route("/openapi.json", measured(metrics, _with_request_id(openapi)), methods=["GET"]),
            Route("/healthz", measured(metrics, _with_request_id(healthz)), methods=["GET"]),
        ],
        exception_handlers={HTTPException: _counted(metrics, _http_error), Exception: _counted(metrics, _crash)},
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    app.state.metrics = metrics
    return Direct(app, pipeline)
