"""A team server under real load, for minutes or hours: many keys, each a merchant
running the guide's whole flows in a loop, with bad requests, big B2B carts, idempotent
replays and a few keys reading their report and journal.

    python benchmarks/soak.py [--keys 200] [--minutes 10] [--rate 550] [--readers 4]
                              [--bad 0.09] [--large 0.02] [--replays 0.03] [--state FILE]
                              [--memory-budget-mb MB] [--every 30] [--json FILE]

The server runs as a user starts it (`hakuna-sim serve`, pinned to core 0 where the
machine has two); the load comes from this process, on the other core, at `--rate`
requests a second in all (each key paced at its share, with jitter). Every `--every`
seconds it prints the server's RSS, the state it says it tracks, req/s, the server's CPU
(a share of one core), p50 and p99 per kind of request, 5xx, correct requests refused,
evictions, the state file's size, the bytes the server wrote to disk per request, and
how long /__sim/metrics took. At the end it checks that every write the server
acknowledged is there (each key's snapshot: its carts, orders with their quantities, and
events), times SIGTERM, and compares the second minute of the run with the last, each
minute's requests pooled whole: req/s, p99, and p99 of the flows alone (the readers'
reports and journals wait for their turn by design).

Exit status 0 when every invariant that does not depend on the machine's speed held: no
5xx, no correct request refused, no acknowledged write missing, no bad request
accepted; `--json` writes every figure for a test to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "soak-admin-token-0123456789"
TWO_CORES = shutil.which("taskset") is not None and (os.cpu_count() or 1) > 1

PHONES = [
    ("prd-iphone14", "smartphones", 112900, "pl-prd-hakuna", 1200),
    ("prd-galaxy-s23", "smartphones", 84900, "pl-prd-hakuna", 999),
    ("prd-pixel-8a", "smartphones", 54900, "pl-prd-hakuna", 799),
]
CASE = ("prd-bb-32", "accessories", 1200)


# -- a small HTTP/1.1 client: a load generator must cost far less than the server ------------


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None, timeout: float = 60.0
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            try:
                return await asyncio.wait_for(self._exchange(method, path, headers, body), timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:  # a kept-alive connection the server closed
                self.close()
                if attempt:
                    raise RuntimeError(f"{method} {path}: {exc}") from exc
        raise AssertionError("unreachable")

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        assert self.reader is not None
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        answer_headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                answer_headers[name.strip().lower()] = value.strip()
        content = await self.reader.readexactly(int(answer_headers.get("content-length", "0")))
        if answer_headers.get("connection") == "close":
            self.close()
        return status, answer_headers, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# -- what the load measures ---------------------------------------------------------------


@dataclass
class Window:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: int = 0
    refused_correct: list[str] = field(default_factory=list)
    accepted_bad: list[str] = field(default_factory=list)


@dataclass
class Minute:
    """The windows of one whole minute of the run, pooled: the summary compares minutes."""

    overall: list[float] = field(default_factory=list)
    flows: list[float] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    rss_mb: float = 0.0  # the highest of its windows

    def add(self, window: Window, requests: int, seconds: float, rss_mb: float) -> None:
        for kind, latencies in window.latencies.items():
            self.overall += latencies
            if kind not in READS:
                self.flows += latencies
        self.requests += requests
        self.seconds += seconds
        self.rss_mb = max(self.rss_mb, rss_mb)

    def figures(self) -> dict[str, float]:
        return {
            "rss_mb": self.rss_mb,
            "req_s": round(self.requests / max(self.seconds, 1e-9), 1),
            "p99": round(percentile(self.overall, 0.99), 1),
            "p99_flows": round(percentile(self.flows, 0.99), 1),
        }


@dataclass
class Ledger:
    """What the server acknowledged to one merchant, to find again at the end."""

    carts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # cart id -> its lines after the last update
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> lines' quantities, status
    events: set[str] = field(default_factory=set)


class Load:
    def __init__(self, args: argparse.Namespace, port: int):
        self.args, self.port = args, port
        self.window = Window()
        self.totals = Window()
        self.requests = 0
        self.stop_at = time.monotonic() + args.minutes * 60
        self.ledgers: dict[str, Ledger] = {}

    def note(self, kind: str, seconds: float, status: int, expect: int, what: str) -> None:
        """`expect`: 200 for a correct request, 400 for one whose right answer is a
        refusal (a product no plan covers), 0 for a bad request (any 4xx)."""
        self.requests += 1
        for w in (self.window, self.totals):
            w.latencies[kind].append(seconds)
            if status >= 500:
                w.server_errors += 1
            elif expect and status != expect:
                w.refused_correct.append(f"{what}: {status}")
            elif not expect and not 400 <= status < 500:
                w.accepted_bad.append(what)


class Merchant:
    """One key: a storefront and an ERP running the guide's flows, paced at `interval`."""

    def __init__(self, load: Load, key: str, interval: float, rng: random.Random):
        self.load, self.key, self.interval, self.rng = load, key, interval, rng
        self.connection = Connection(load.port)
        self.ledger = load.ledgers.setdefault(key, Ledger())
        self.headers = {"Authorization": f"Bearer {key}", "Hakuna-Version": "v2.0"}
        self.next_at = time.monotonic() + rng.random() * interval
        self.flows = 0

    async def send(
        self,
        kind: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int = 200,
        key: str | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        delay = self.next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.next_at = max(self.next_at, time.monotonic() - self.interval) + self.interval * (0.5 + self.rng.random())
        headers = dict(self.headers)
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if content is not None:
            headers["Content-Type"] = "application/json"
            if expect == 200 and method == "POST":
                headers["Hakuna-Idempotency-Key"] = key or str(uuid.uuid4())
        started = time.perf_counter()
        status, answer_headers, answer = await self.connection.request(method, path, headers, content)
        self.load.note(kind, time.perf_counter() - started, status, expect, f"{method} {path}")
        parsed = json.loads(answer) if answer and answer_headers.get("content-type", "").startswith("application/json") else None
        return status, answer_headers, parsed

    async def run(self) -> None:
        while time.monotonic() < self.load.stop_at:
            self.flows += 1
            try:
                await self.flow()
            except Exception as exc:  # noqa: BLE001 - counted, the merchant goes on
                self.load.totals.refused_correct.append(f"flow failed: {type(exc).__name__}: {exc}")
                self.connection.close()
        self.connection.close()

    async def bad(self) -> None:
        """One of the mistakes a broken integration makes; each must be refused."""
        choice = self.rng.randrange(5)
        if choice == 0:
            await self.send("bad", "POST", "/sandbox/carts", raw=b'{"cart_id": ', expect=0)
        elif choice == 1:
            await self.send("bad", "POST", "/sandbox/carts", {"cart_id": "c", "line_items": []}, expect=0)
        elif choice == 2:
            await self.send(
                "bad",
                "POST",
                "/sandbox/events",
                {
                    "type": "order_cancelled",
                    "payload": {"order_id": f"o-missing-{uuid.uuid4().hex[:8]}", "cancelled_at": "2024-01-01T00:00:00Z"},
                },
                expect=0,
            )
        elif choice == 3:
            await self.send("bad", "GET", "/sandbox/carts/c-missing/plan_connections?user_session_id=s", expect=0)
        else:
            await self.send("bad", "GET", "/sandbox/plans?product_id=x", expect=0)

    async def flow(self) -> None:
        rng, n = self.rng, self.flows
        phone_id, category, price, plan_id, plan_price = rng.choice(PHONES)
        session = f"s-{self.key[-6:]}-{n}"
        cart_id, order_id = f"c-{n}", f"o-{n}"
        query = urlencode(
            {
                "product_id": phone_id,
                "product_category": category,
                "product_price_amount": price,
                "product_price_currency": "eur",
                "user_session_id": session,
            }
        )
        await self.send("look-up", "GET", f"/sandbox/plans?{query}")
        if rng.random() < 0.3:
            case_query = urlencode(
                {
                    "product_id": CASE[0],
                    "product_category": CASE[1],
                    "product_price_amount": CASE[2],
                    "product_price_currency": "eur",
                    "user_session_id": session,
                }
            )
            await self.send("look-up", "GET", f"/sandbox/plans?{case_query}", expect=400)  # no plan: product_unsupported
        if rng.random() < self.load.args.bad * 5:
            await self.bad()
        phones = rng.randint(1, 3)
        lines: list[dict[str, Any]] = [
            {"id": "phone", "quantity": phones, "price_amount": price, "product_id": phone_id},
            {
                "id": "plan",
                "quantity": 1,
                "price_amount": plan_price,
                "product_id": plan_id,
                "custom_properties": {"product_reference": phone_id},
            },
        ]
        if rng.random() < self.load.args.large:  # a B2B cart of 200-500 lines
            lines += [
                {
                    "id": f"case-{i}",
                    "quantity": 1,
                    "price_amount": CASE[2],
                    "product_id": f"{CASE[0]}-{i % 40}",
                    "product_title": "Silikon Case, B2B pack",
                }
                for i in range(rng.randint(200, 500))
            ]
        else:
            lines.append({"id": "case", "quantity": 1, "price_amount": CASE[2], "product_id": CASE[0]})
        cart = {"cart_id": cart_id, "user_session_id": session, "cart_currency": "eur", "line_items": lines}
        for _ in range(4):  # the reconciliation loop
            key = str(uuid.uuid4())
            status, _, answer = await self.send("cart", "POST", "/sandbox/carts", cart, key=key)
            if status != 200:
                return
            if rng.random() < self.load.args.replays * 4:
                status, headers, again = await self.send("replay", "POST", "/sandbox/carts", cart, key=key)
                if headers.get("idempotent-replayed") != "true" or again != answer:
                    self.load.totals.refused_correct.append("a replay was not the first answer")
            if not answer["actions"]:
                break
            for action in answer["actions"]:
                line = next(l for l in lines if l["id"] == action["payload"]["line_item_id"])
                if action["type"] == "update_line_item":
                    line["quantity"] = action["payload"]["line_item_quantity"]
                else:
                    lines.remove(line)
        self.ledger.carts[cart_id] = [dict(l) for l in lines]
        await self.send("read", "GET", f"/sandbox/carts/{cart_id}/plan_connections?user_session_id={session}")
        status, _, _ = await self.send(
            "checkout", "POST", "/sandbox/checkouts", {"cart_id": cart_id, "user_session_id": session, "order_id": order_id}
        )
        if status != 200:
            return
        placed = {
            "type": "order_placed",
            "payload": {
                "order_id": order_id,
                "placed_at": "2024-06-01T10:00:00Z",
                "order_currency": "eur",
                "cart_id": cart_id,
                "customer": {"first_name": "Max", "last_name": "Mustermann", "email": "max@example.com"},
                "customer_billing_address": {
                    "address_line_1": "Musterstrasse 1",
                    "city": "Musterstadt",
                    "country": "de",
                    "zip": "12345",
                },
                "line_items": lines,
            },
        }
        status, _, answer = await self.send("event", "POST", "/sandbox/events", placed)
        if status != 200:
            return
        self.ledger.events.add(answer["event_id"])
        quantities: dict[str, list[int]] = {l["id"]: [l["quantity"], 0, 0] for l in lines}  # ordered, fulfilled, refunded
        record = self.ledger.orders[order_id] = {"status": "placed", "lines": quantities}
        await self.send("read", "GET", f"/sandbox/orders/{order_id}/plan_connections")
        if rng.random() < 0.1:
            status, _, answer = await self.send(
                "event",
                "POST",
                "/sandbox/events",
                {"type": "order_cancelled", "payload": {"order_id": order_id, "cancelled_at": "2024-06-01T12:00:00Z"}},
            )
            if status == 200:
                self.ledger.events.add(answer["event_id"])
                record["status"] = "cancelled"
            return
        shipped = [l["id"] for l in lines]
        status, _, answer = await self.send(
            "event",
            "POST",
            "/sandbox/events",
            {
                "type": "order_fulfillment_added",
                "payload": {
                    "order_id": order_id,
                    "fulfillment_line_items": [
                        {"line_item_id": i, "quantity": quantities[i][0], "fulfilled_at": "2024-06-02T10:00:00Z"} for i in shipped
                    ],
                },
            },
        )
        if status != 200:
            return
        self.ledger.events.add(answer["event_id"])
        for i in shipped:
            quantities[i][1] = quantities[i][0]
        if rng.random() < 0.5 and "plan" in quantities:
            status, _, answer = await self.send(
                "event",
                "POST",
                "/sandbox/events",
                {
                    "type": "order_refund_added",
                    "payload": {
                        "order_id": order_id,
                        "refund_line_items": [
                            {"line_item_id": i, "quantity": 1, "refunded_at": "2024-06-05T10:00:00Z"} for i in ("phone", "plan")
                        ],
                    },
                },
            )
            if status == 200:
                self.ledger.events.add(answer["event_id"])
                quantities["phone"][2] += 1
                quantities["plan"][2] += 1
        await self.send("read", "GET", f"/sandbox/orders/{order_id}")


async def reader(load: Load, key: str) -> None:
    """A CI job reading its key's report and journal every 5 seconds."""
    connection = Connection(load.port)
    headers = {"Authorization": f"Bearer {key}", "Hakuna-Version": "v2.0"}
    while time.monotonic() < load.stop_at:
        for kind, path in (("report", "/__sim/report"), ("journal", "/__sim/journal")):
            started = time.perf_counter()
            status, _, _ = await connection.request("GET", path, headers)
            load.note(kind, time.perf_counter() - started, status, 200, f"GET {path}")
        await asyncio.sleep(5)
    connection.close()


# -- the server, seen from outside ----------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """The server's user and system time: how close one core is to full tells queueing from a slower path."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def metrics(port: int) -> tuple[dict[str, float], float]:
    connection = Connection(port)
    started = time.perf_counter()
    status, _, body = await connection.request("GET", "/__sim/metrics", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    took = time.perf_counter() - started
    connection.close()
    values = {}
    for line in body.decode().splitlines():
        if line.startswith("hakuna_sim_") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values, took


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000 if ordered else 0.0


async def verify(load: Load) -> list[str]:
    """Every acknowledged cart, order and event, in each key's snapshot."""
    missing: list[str] = []
    connection = Connection(load.port)
    for key, ledger in load.ledgers.items():
        status, _, body = await connection.request("GET", "/__sim/state", {"Authorization": f"Bearer {key}"}, timeout=300)
        if status != 200:
            missing.append(f"{key}: GET /__sim/state answered {status}")
            continue
        state = json.loads(body)
        carts = {c["cart_id"]: c for c in state["carts"]}
        orders = {o["order_id"]: o for o in state["orders"]}
        events = {e["event_id"] for e in state["events"]}
        for cart_id, lines in ledger.carts.items():
            held = carts.get(cart_id)
            if held is None or [(l["id"], l["quantity"]) for l in held["line_items"]] != [
                (l["id"], l["quantity"]) for l in lines
            ]:
                missing.append(f"{key}: cart {cart_id}")
        for order_id, expected in ledger.orders.items():
            held = orders.get(order_id)
            if held is None or held["status"] != expected["status"]:
                missing.append(f"{key}: order {order_id}")
                continue
            for line in held["line_items"]:
                want = expected["lines"].get(line["id"])
                if want != [line["quantity"], len(line["fulfilled_at"]), len(line["refunded_at"])]:
                    missing.append(f"{key}: order {order_id} line {line['id']}")
        missing += [f"{key}: event {e}" for e in ledger.events - events]
    connection.close()
    return missing


READS = ("report", "journal")  # the kinds of request the readers send


def report_window(
    load: Load,
    elapsed: float,
    seconds: float,
    pid: int,
    state: Path | None,
    values: dict[str, float],
    metrics_took: float,
    wrote: int,
    requests: int,
    cpu: float,
) -> dict[str, Any]:
    w = load.window
    kinds = {
        kind: {"n": len(v), "p50": percentile(v, 0.5), "p99": percentile(v, 0.99)} for kind, v in sorted(w.latencies.items())
    }
    size = sum(p.stat().st_size for p in (state, Path(f"{state}-wal")) if p.exists()) if state else 0
    row = {
        "minute": round(elapsed / 60, 2),
        "rss_mb": round(rss_mb(pid), 1),
        "tracked_mb": round(values.get("hakuna_sim_state_bytes", 0) / 2**20, 1),
        "req_s": round(requests / seconds, 1),
        "cpu_percent": round(100 * cpu / seconds),
        "kinds": kinds,
        "server_errors": w.server_errors,
        "refused_correct": len(w.refused_correct),
        "accepted_bad": len(w.accepted_bad),
        "evictions": int(values.get("hakuna_sim_tenants_evicted_total", 0)),
        "tenants": int(values.get("hakuna_sim_tenants", 0)),
        "state_file_mb": round(size / 2**20, 1),
        "written_per_request_kb": round(wrote / max(1, requests) / 1024, 2),
        "metrics_ms": round(metrics_took * 1000, 1),
    }
    overall = [x for v in w.latencies.values() for x in v]
    row["p50"], row["p99"] = round(percentile(overall, 0.5), 1), round(percentile(overall, 0.99), 1)
    # The merchants' own traffic: every request but the readers' reports and journals,
    # which wait for their turn by design (simulator/web/workers.py).
    flows = [x for k, v in w.latencies.items() if k not in READS for x in v]
    row["p99_flows"] = round(percentile(flows, 0.99), 1)
    print(
        f"{row['minute']:6.2f} min  RSS {row['rss_mb']:7.1f} MB  tracked {row['tracked_mb']:6.1f} MB  "
        f"{row['req_s']:6.0f} req/s  CPU {row['cpu_percent']:3d}%  "
        f"p50 {percentile(overall, 0.5):6.1f} ms  p99 {percentile(overall, 0.99):7.1f} ms  "
        f"5xx {row['server_errors']}  refused {row['refused_correct']}  evictions {row['evictions']}  "
        f"file {row['state_file_mb']:6.1f} MB  {row['written_per_request_kb']:5.1f} KB written/req  "
        f"metrics {row['metrics_ms']:.0f} ms",
        flush=True,
    )
    print("         " + "  ".join(f"{k} {v['n']}: {v['p50']:.1f}/{v['p99']:.1f}" for k, v in kinds.items()), flush=True)
    load.window = Window()
    return row


async def drive(args: argparse.Namespace, port: int, pid: int, state: Path | None) -> dict[str, Any]:
    load = Load(args, port)
    rng = random.Random(args.seed)
    interval = args.keys / args.rate  # each key's share of the rate
    keys = [f"sk_test_soak{n:05d}{uuid.uuid4().hex[:6]}" for n in range(args.keys)]
    merchants = [Merchant(load, key, interval, random.Random(rng.random())) for key in keys]
    tasks = [asyncio.create_task(m.run()) for m in merchants]
    tasks += [asyncio.create_task(reader(load, key)) for key in keys[: args.readers]]
    rows, started = [], time.monotonic()
    last, last_requests, last_written, last_cpu = started, 0, written_bytes(pid), cpu_seconds(pid)
    pending: set[asyncio.Task[None]] = set(tasks)
    minutes: dict[int, Minute] = defaultdict(Minute)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=args.every)
        now = time.monotonic()
        window = load.window  # (report_window starts the next one)
        values, took = await metrics(port)
        written, cpu = written_bytes(pid), cpu_seconds(pid)
        rows.append(
            report_window(
                load,
                now - started,
                now - last,
                pid,
                state,
                values,
                took,
                written - last_written,
                load.requests - last_requests,
                cpu - last_cpu,
            )
        )
        if now - started <= args.minutes * 60 + 3:  # not the final check's windows
            minute = minutes[math.ceil((now - started) / 60 - 0.01)]
            minute.add(window, load.requests - last_requests, now - last, rows[-1]["rss_mb"])
        last, last_requests, last_written, last_cpu = now, load.requests, written, cpu
    for t in tasks:
        t.result()
    missing = await verify(load)
    totals = load.totals
    return {
        "rows": rows,
        "minutes": {n: m.figures() for n, m in sorted(minutes.items())},
        "missing": missing,
        "server_errors": totals.server_errors,
        "refused_correct": totals.refused_correct[:50],
        "refused_correct_count": len(totals.refused_correct),
        "accepted_bad": totals.accepted_bad[:50],
        "requests": load.requests,
        "acknowledged": {
            "carts": sum(len(l.carts) for l in load.ledgers.values()),
            "orders": sum(len(l.orders) for l in load.ledgers.values()),
            "events": sum(len(l.events) for l in load.ledgers.values()),
        },
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=550, help="requests a second, all keys together")
    parser.add_argument("--readers", type=int, default=4, help="keys that read their report and journal every 5 s")
    parser.add_argument("--bad", type=float, default=0.09, help="share of bad requests")
    parser.add_argument("--large", type=float, default=0.02, help="share of carts of 200-500 lines")
    parser.add_argument("--replays", type=float, default=0.03, help="share of idempotent replays")
    parser.add_argument("--state", help="serve --state FILE (default: memory only)")
    parser.add_argument("--memory-budget-mb", type=int, help="serve --memory-budget-mb (default: the server's)")
    parser.add_argument("--every", type=float, default=30, help="seconds between printed rows")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()

    port = free_port()
    command = [
        sys.executable,
        *os.environ.get("SOAK_SERVER", "-m simulator").split(),
        "serve",
        "--port",
        str(port),
        "--admin-token",
        ADMIN_TOKEN,
    ]
    state = Path(args.state) if args.state else None
    if state:
        command += ["--state", str(state)]
    if args.memory_budget_mb:
        command += ["--memory-budget-mb", str(args.memory_budget_mb)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        (["taskset", "-c", "0"] if TWO_CORES else []) + command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if TWO_CORES:
        os.sched_setaffinity(0, {1})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start: " + (server.stderr.read() if server.stderr else "")) from None
                time.sleep(0.05)
        print(
            f"soak: {args.keys} keys, {args.rate:g} req/s offered, {args.minutes:g} min, "
            f"{'--state ' + str(state) if state else 'memory only'}",
            flush=True,
        )
        result = asyncio.run(drive(args, port, server.pid, state))
        result["peak_rss_mb"] = max((r["rss_mb"] for r in result["rows"]), default=0)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        result["sigterm_seconds"] = round(time.monotonic() - started, 2)
    finally:
        if server.poll() is None:
            server.kill()
    print(
        f"\nrequests {result['requests']}, acknowledged {result['acknowledged']}, 5xx {result['server_errors']}, "
        f"correct refused {result['refused_correct_count']}, bad accepted {len(result['accepted_bad'])}, "
        f"missing {len(result['missing'])}, peak RSS {result['peak_rss_mb']} MB, SIGTERM {result['sigterm_seconds']} s"
    )
    for line in result["refused_correct"][:10] + result["missing"][:10] + result["accepted_bad"][:10]:
        print("  ", line)
    whole = result["minutes"]
    if 2 in whole and max(whole) > 2:  # the second minute against the last, each pooled whole
        n = max(whole)
        second, last = whole[2], whole[n]

        def ratio(figure: str, unit: str = "") -> str:
            return f"{second[figure]} -> {last[figure]}{unit} ({last[figure] / max(second[figure], 1e-9):.2f}x)"

        print(
            f"minute 2 -> minute {n}: req/s {ratio('req_s')}, RSS {second['rss_mb']} -> {last['rss_mb']} MB, "
            f"p99 {ratio('p99', ' ms')}, the flows' requests alone {ratio('p99_flows', ' ms')}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    held = not any((result["server_errors"], result["refused_correct_count"], result["missing"], result["accepted_bad"]))
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
