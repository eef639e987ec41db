"""Prometheus metrics for a shared server (`GET /__sim/metrics`, admin token): requests
and their latency by route and status, and what the tenants hold.

Each endpoint counts its own answer, by the path template of the route Starlette matched
(`/sandbox/orders/{order_id}` is one series however many orders there are): two clock
reads and a dict update per request, where a middleware layer around the whole app cost
a look-up about a twentieth of its rate. Paths no route knows, wrong methods and crashes
are counted by the error handlers that answer them, with the time the handler took.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

Scope = MutableMapping[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UNMATCHED = "unmatched"  # every path no route knows is one series, whatever was asked


class _Series:
    __slots__ = ("count", "total", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(BUCKETS)


class Metrics:
    def __init__(self) -> None:
        self.series: dict[tuple[str, str, int], _Series] = {}
        self.answered = 0  # requests answered, all series together

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        self.answered += 1
        route = getattr(scope.get("route"), "path", None) or UNMATCHED
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (method, route, status)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series()
        series.count += 1
        series.total += seconds
        at = bisect.bisect_left(BUCKETS, seconds)
        if at < len(BUCKETS):
            series.buckets[at] += 1

    def render(self, values: Mapping[str, tuple[str, str, float]]) -> str:
        """The Prometheus text format (version 0.0.4)."""
        out = [
            "# HELP hakuna_sim_requests_total Requests answered, by method, route and status.",
            "# TYPE hakuna_sim_requests_total counter",
        ]
        for (method, route, status), series in sorted(self.series.items()):
            out.append(f"hakuna_sim_requests_total{{{_labels(method, route, status)}}} {series.count}")
        out += [
            "# HELP hakuna_sim_request_seconds Time from a request's arrival to its answer, by method, route and status.",
            "# TYPE hakuna_sim_request_seconds histogram",
        ]
        for (method, route, status), series in sorted(self.series.items()):
            labels = _labels(method, route, status)
            running = 0
            for bound, count in zip(BUCKETS, series.buckets, strict=True):
                running += count
                out.append(f'hakuna_sim_request_seconds_bucket{{{labels},le="{bound}"}} {running}')
            out.append(f'hakuna_sim_request_seconds_bucket{{{labels},le="+Inf"}} {series.count}')
            out.append(f"hakuna_sim_request_seconds_sum{{{labels}}} {series.total:.6f}")
            out.append(f"hakuna_sim_request_seconds_count{{{labels}}} {series.count}")
        for name, (kind, help_text, value) in values.items():  # kind: gauge or counter
            shown = int(value) if float(value).is_integer() else value
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {shown}"]
        return "\n".join(out) + "\n"


def measured(metrics: Metrics, handler: Handler) -> Handler:
    """A plain endpoint (a page, the document, an error handler) that counts its answers."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        response = await handler(request)
        metrics.observe(request.scope, response.status_code, time.perf_counter() - started)
        return response

    return endpoint


_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})


def _labels(method: str, route: str, status: int) -> str:
    route = route.replace("\\", "\\\\").replace('"', '\\"')
    return f'method="{method}",route="{route}",status="{status}"'
