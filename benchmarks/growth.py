"""Growth curves: what a request costs the server as it grows and as a key's state grows,
and what memory the server keeps.

    python benchmarks/growth.py

Every figure is server time for one request through the whole ASGI app (parsing,
validation, the operation, the journal, rendering), measured in process without a
network, median of several runs; memory is what tracemalloc sees kept after a request,
and the process's resident size after many keys. Targets (issue "A server a whole team
can share for weeks"): no request of up to 1 MiB over 100 ms or keeping over 5 MB; cost
flat as state grows; an event on a 1,000-line order under 5 ms; 10,000 journal entries
reported in under 100 ms; memory bounded by configuration.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.config import SimConfig  # noqa: E402
from simulator.contract.catalog import load_catalog  # noqa: E402
from simulator.contract.resources import default_catalog_path  # noqa: E402
from simulator.report import document  # noqa: E402
from simulator.web.app import create_app  # noqa: E402

CATALOG = load_catalog(default_catalog_path())
KEY = "sk_test_growth0001"


class Server:
    """The ASGI app, called directly."""

    def __init__(self, **config: Any):
        self.app: Any = create_app(SimConfig(catalog=CATALOG, **config))
        self.sandbox = self.app.state.sandbox
        self.loop = asyncio.new_event_loop()

    def call(
        self, method: str, path: str, body: Any = None, key: str = KEY, query: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        raw = b"" if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
        head = [
            (b"authorization", f"Bearer {key}".encode()),
            (b"hakuna-version", b"v2.0"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            *[(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        ]
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": head,
            "scheme": "http",
            "server": ("t", 80),
            "client": ("c", 1),
            "root_path": "",
            "app": self.app,
        }
        sent: list[Any] = []

        async def receive() -> Any:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    def timed(self, method: str, path: str, body: Any = None, runs: int = 7, **kw: Any) -> float:
        """Median ms of `runs` identical requests (each must succeed)."""
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            status, answer = self.call(method, path, body, **kw)
            samples.append((time.perf_counter() - t0) * 1000)
            assert status == 200, (status, answer[:300])
        return statistics.median(samples)


class Bare(Server):
    """The baseline of benchmarks/run.py, called the same way: a bare Starlette endpoint
    answering a fixed body, after parsing the request's JSON body if it has one."""

    def __init__(self) -> None:
        import bare_app  # benchmarks/, on the path as this script's folder

        self.app = bare_app.app
        self.loop = asyncio.new_event_loop()

    def same(self, method: str, body: Any = None, runs: int = 7) -> float:
        return self.timed(method, "/bare/parsed" if method == "POST" else "/sandbox/plans", body, runs=runs)


def line(i: int, product: str = "prd-iphone14", quantity: int = 1, plan_for: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"l{i}",
        "quantity": quantity,
        "price_amount": 1200 if plan_for else 112900,
        "product_id": product,
    }
    if plan_for:
        item["custom_properties"] = {"product_reference": plan_for}
    return item


def cart(lines: int, cart_id: str = "c") -> dict[str, Any]:
    return {
        "cart_id": cart_id,
        "user_session_id": "s",
        "cart_currency": "eur",
        "line_items": [line(i, "pl-prd-hakuna", plan_for="prd-iphone14") if i % 2 else line(i) for i in range(lines)],
    }


def order(order_id: str, lines: int) -> dict[str, Any]:
    items = [line(i, "pl-prd-hakuna", plan_for="prd-iphone14") if i % 2 else line(i) for i in range(lines)]
    return {
        "type": "order_placed",
        "payload": {
            "order_id": order_id,
            "placed_at": "2024-01-01T00:00:00Z",
            "order_currency": "eur",
            "customer": {"first_name": "Max", "last_name": "M", "email": "max@example.com"},
            "customer_billing_address": {"address_line_1": "x", "city": "y", "country": "de", "zip": "1"},
            "line_items": items,
        },
    }


def items(order_id: str, lines: int, kind: str) -> dict[str, Any]:
    field, stamp = (
        ("fulfillment_line_items", "fulfilled_at") if kind == "order_fulfillment_added" else ("refund_line_items", "refunded_at")
    )
    return {
        "type": kind,
        "payload": {
            "order_id": order_id,
            field: [{"line_item_id": f"l{i}", "quantity": 1, stamp: "2024-01-02T00:00:00Z"} for i in range(0, lines, 2)],
        },
    }


def kept_bytes(action: Callable[[], Any]) -> tuple[float, int]:
    """(ms, bytes still allocated after `action`)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    t0 = time.perf_counter()
    action()
    ms = (time.perf_counter() - t0) * 1000
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return ms, after - before


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for row in status:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    print("server time per request, in process (median ms); 'bare' is the bare endpoint of")
    print("benchmarks/run.py given the same request: it parses the body as JSON and answers a fixed body")
    s, bare = Server(), Bare()
    print(
        "  cart update by lines:      "
        + "  ".join(
            f"{n:>5}: {s.timed('POST', '/sandbox/carts', cart(n, f'c{n}')):6.2f} (bare {bare.same('POST', cart(n)):4.2f})"
            for n in (1, 10, 100, 1000)
        )
    )
    row = []
    for n in (10, 100, 1000):
        oid = f"o{n}"
        s.call("POST", "/sandbox/events", order(oid, n))
        fulfil = items(oid, n, "order_fulfillment_added")
        ms = s.timed("POST", "/sandbox/events", fulfil, runs=1)
        refund = s.timed("POST", "/sandbox/events", items(oid, n, "order_refund_added"), runs=1)
        read = s.timed("GET", f"/sandbox/orders/{oid}")
        row.append(
            f"{n:>5}: fulfil {ms:5.2f} (bare {bare.same('POST', fulfil):4.2f}), refund {refund:5.2f}, "
            f"read {read:5.2f} (bare {bare.same('GET'):4.2f})"
        )
    print("  events by order lines:     " + "\n                             ".join(row))

    print(
        f"cost as a key's state grows (median ms); the bare endpoint: GET {bare.same('GET'):.2f}, "
        f"POST of a 3-line cart {bare.same('POST', cart(3)):.2f}"
    )
    for carts in (0, 10_000, 40_000):
        g = Server()
        for i in range(carts):
            g.call("POST", "/sandbox/carts", cart(3, f"bulk-{i}"))
        g.call("POST", "/sandbox/carts", cart(3, "mine"))
        checkout = g.timed("POST", "/sandbox/checkouts", {"cart_id": "mine", "user_session_id": "s", "order_id": "o-mine"})
        update = g.timed("POST", "/sandbox/carts", cart(3, "other"))
        g.call("POST", "/sandbox/events", order("o-x", 10))
        event = g.timed("POST", "/sandbox/events", items("o-x", 10, "order_fulfillment_added"), runs=1)
        read = g.timed("GET", "/sandbox/orders/o-x")
        print(
            f"  {carts:>6} carts: checkout {checkout:5.2f}, cart update {update:5.2f}, event {event:5.2f}, order read {read:5.2f}"
        )

    print(f"report and journal by journal entries (ms); the bare GET: {bare.same('GET'):.2f}")
    for entries in (100, 1_000, 10_000):
        r = Server()
        for i in range(entries // 2):
            r.call("POST", "/sandbox/carts", cart(3, f"r-{i % 50}"))
            r.call(
                "GET",
                "/sandbox/plans",
                query="product_id=p&product_category=smartphones&product_price_amount="
                "112900&product_price_currency=eur&user_session_id=s",
            )
        tenant = r.sandbox.tenants.get(KEY)
        runs = []
        for _ in range(5):
            view = tenant.view()
            t0 = time.perf_counter()
            document.report(view)
            runs.append((time.perf_counter() - t0) * 1000)
        alone = statistics.median(runs)
        report = r.timed("GET", "/__sim/report", runs=3)
        journal = r.timed("GET", "/__sim/journal", runs=3)
        print(
            f"  {entries:>6} entries: report {alone:6.1f} (rules alone), GET /__sim/report {report:6.1f}, "
            f"GET /__sim/journal {journal:6.1f}"
        )

    print("the largest requests (bodies of up to 1 MiB, orders at the unit limit): ms, memory kept")
    timing, tracing = Server(), Server()  # tracemalloc slows what it watches: time on the other

    def largest(label: str, method: str, path: str, body: Any) -> None:
        size = len(orjson.dumps(body))
        assert size <= 1024 * 1024, (label, size)
        t0 = time.perf_counter()
        status, _ = timing.call(method, path, body)
        ms = (time.perf_counter() - t0) * 1000
        _, kept = kept_bytes(lambda: tracing.call(method, path, body))
        print(f"  {label} ({size // 1024} KiB): {ms:.1f} ms, {kept / 1e6:.1f} MB kept, status {status}")

    largest("cart of 9,000 lines", "POST", "/sandbox/carts", cart(9_000, "huge"))
    largest(
        "order_placed of 10,000 units on 8,000 lines",
        "POST",
        "/sandbox/events",
        order("o-max", 8_000)
        | {
            "payload": order("o-max", 8_000)["payload"]
            | {
                "line_items": [
                    dict(l, quantity=2) if i < 2_000 and i % 2 == 0 else l
                    for i, l in enumerate(order("o-max", 8_000)["payload"]["line_items"])
                ]
            }
        },
    )
    largest("fulfilling its 4,000 product lines", "POST", "/sandbox/events", items("o-max", 8_000, "order_fulfillment_added"))
    largest("refunding them", "POST", "/sandbox/events", items("o-max", 8_000, "order_refund_added"))
    bands = {
        "plans": [
            {
                "merchant_product_id": "pl-x",
                "title": {"en": "x"},
                "insurance_details_url": "https://x.example",
                "currency": "eur",
                "countries": ["de"],
                "term_months": 12,
                "categories": ["x"],
                "price_bands": [
                    {"min_price_amount": i * 10, "max_price_amount": i * 10 + 10, "plan_price_amount": 1} for i in range(14_000)
                ],
            }
        ]
    }
    largest("catalog of 14,000 bands", "PUT", "/__sim/catalog", bands)
    overlapping = {
        "plans": [
            dict(
                bands["plans"][0], price_bands=[{"min_price_amount": 0, "max_price_amount": 10, "plan_price_amount": 1}] * 14_000
            )
        ]
    }
    largest("catalog of 14,000 identical bands (refused)", "PUT", "/__sim/catalog", overlapping)

    print("memory (resident size of this process)")
    m = Server()
    base = rss_mb()
    for i in range(20_000):
        m.call(
            "GET",
            "/sandbox/plans",
            key=f"sk_test_many{i:08d}",
            query="product_id=p&product_category=smartphones&product_price_amount=112900"
            "&product_price_currency=eur&user_session_id=s",
        )
    print(
        f"  after 20,000 keys: +{rss_mb() - base:.0f} MB ({len(m.sandbox.tenants)} tenants kept, "
        f"{m.sandbox.tenants.total / 1e6:.0f} MB tracked)"
    )
    i_base = rss_mb()
    for i in range(40_000):
        m.call(
            "POST",
            "/sandbox/carts",
            cart(3, f"idem-{i}"),
            key="sk_test_idempotent1",
            headers={"Hakuna-Idempotency-Key": f"key-{i}"},
        )
    tenant = m.sandbox.tenants.get("sk_test_idempotent1")
    print(
        f"  after 40,000 POSTs with fresh idempotency keys on one key: +{rss_mb() - i_base:.0f} MB "
        f"({len(tenant.idempotency)} keys kept, journal {len(tenant.journal)} entries / "
        f"{tenant.journal.bytes / 1e6:.1f} MB, state {tenant.state_bytes / 1e6:.1f} MB tracked)"
    )


if __name__ == "__main__":
    main()
