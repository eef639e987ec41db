"""Prometheus metrics for a shared server (`GET /__sim/metrics`, admin token): requests
and their latency by route and status, and what the tenants hold.

The collector is ASGI middleware that reads the route Starlette matched (its path
template, so `/sandbox/orders/{order_id}` is one series however many orders there are)
and the status the app answered; a request costs it two clock reads and a dict update.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Seconds: from a cached look-up (well under a millisecond) to a slow report.
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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
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


class Measured:
    """ASGI middleware (Starlette's `Middleware(Measured, metrics=...)`): it sits inside
    the router's scope, so after the app answers, `scope["route"]` is the route matched."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a request that ends before answering counts as

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            template = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self.metrics.observe(method, template, status, time.perf_counter() - started)


_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})


def _labels(method: str, route: str, status: int) -> str:
    route = route.replace("\\", "\\\\").replace('"', '\\"')
    return f'method="{method}",route="{route}",status="{status}"'
