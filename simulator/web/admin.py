"""Server-wide operations for whoever runs a shared simulator (docs/contract.md §7):
the keys it holds with their size and last use, evicting one, and Prometheus metrics.

They act on every tenant, so an API key does not open them: they need the token the
server was started with (`--admin-token`, or HAKUNA_SIM_ADMIN_TOKEN), sent as
`Authorization: Bearer <token>`. Without a token configured they are off (403), so a
server on a network never exposes them by accident.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from simulator.domain.errors import SimError, not_found
from simulator.facade import Sandbox
from simulator.web.metrics import Metrics, measured
from simulator.web.requests import error_response, json_response

Handler = Callable[[Request], Awaitable[Response]]


def _authorized(request: Request, token: str | None) -> None:
    if token is None:
        raise SimError(
            "forbidden",
            "server-wide routes are off on this simulator: start it with --admin-token TOKEN "
            "(or HAKUNA_SIM_ADMIN_TOKEN) to use them",
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise SimError("unauthorized", 'this route needs the server\'s admin token: send "Authorization: Bearer <token>"')
    # Compared in constant time: the answer's timing says nothing about the token.
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise SimError("unauthorized", "the admin token is wrong (an API key does not open server-wide routes)")


def routes(sandbox: Sandbox, metrics: Metrics, token: str | None) -> list[BaseRoute]:
    tenants = sandbox.tenants

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _authorized(request, token)
                return await handler(request)
            except SimError as error:
                return error_response(error, sandbox.ids.request_id())

        return measured(metrics, endpoint)

    async def list_tenants(request: Request) -> Response:
        now = time.monotonic()
        listed = [
            {
                "key": t.key,
                "size_bytes": t.size(),
                "journal_bytes": t.journal.bytes,
                "requests": t.journal.dropped + len(t.journal),
                "idle_seconds": round(max(0.0, now - t.last_used), 3),
            }
            for t in tenants.all()
        ]
        listed.reverse()  # the most recently used first
        body = {"count": len(listed), "total_bytes": tenants.total, "tenants": listed}
        return json_response(200, body, {"X-Request-Id": sandbox.ids.request_id()})

    async def evict(request: Request) -> Response:
        key = request.path_params["key"]
        if not await sandbox.forget(key):  # answered once the state file no longer has it
            raise not_found(f"this simulator holds no sandbox for key {key!r}")
        return json_response(200, {"evicted": key}, {"X-Request-Id": sandbox.ids.request_id()})

    async def prometheus(request: Request) -> Response:
        held = tenants.all()
        values = {
            "hakuna_sim_tenants": ("gauge", "Keys whose sandbox the server holds.", len(held)),
            "hakuna_sim_tenants_evicted_total": (
                "counter",
                "Sandboxes evicted for idleness or the memory bounds.",
                tenants.evicted,
            ),
            "hakuna_sim_state_bytes": (
                "gauge",
                "What all sandboxes hold, roughly (carts, orders, events, journals).",
                tenants.total,
            ),
            "hakuna_sim_journal_bytes": ("gauge", "What all journals hold.", sum(t.journal.bytes for t in held)),
        }
        stored = tenants.store.figures()  # serve --state: the file, and the keys it holds
        if stored:
            values["hakuna_sim_store_bytes"] = ("gauge", "The state file's size, with its write-ahead log.", stored["bytes"])
            values["hakuna_sim_store_keys"] = ("gauge", "Keys the state file holds, in memory or not.", stored["keys"])
        return Response(
            metrics.render(values),
            media_type="text/plain; version=0.0.4; charset=utf-8",
            headers={"X-Request-Id": sandbox.ids.request_id()},
        )

    return [
        Route("/__sim/admin/tenants", guarded(list_tenants), methods=["GET"]),
        Route("/__sim/admin/tenants/{key}", guarded(evict), methods=["DELETE"]),
        Route("/__sim/metrics", guarded(prometheus), methods=["GET"]),
    ]
