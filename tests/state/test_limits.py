"""The simulator's own limits (docs/fidelity.md, "Limits"): each bounds memory or cost,
answers a clear error in the vendor's body, and changes nothing it refuses."""

from __future__ import annotations

import gc
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.domain.idempotency import IdempotencyStore
from simulator.state.journal import CHUNK, Journal
from simulator.state.registry import Tenants
from tests.conftest import AUTH, KEY, cart, error_of, line, placed, post
from tests.serving import free_port, start, wait_ready

CATALOG = load_catalog(default_catalog_path())


def test_an_order_over_ten_thousand_units_is_refused(client: TestClient) -> None:
    response = post(client, "/sandbox/events", placed("o-1", [line("p", "prd-bb-32", 6000), line("q", "prd-bb-32", 4001)]))
    assert response.status_code == 400
    code, [message] = error_of(response)
    assert code == "order_too_large" and message.startswith("payload.line_items: the order holds 10001 units in all")
    assert client.get("/sandbox/orders/o-1", headers=AUTH).status_code == 404
    assert post(client, "/sandbox/events", placed("o-1", [line("p", "prd-bb-32", 10000)])).status_code == 200


def test_a_full_sandbox_refuses_to_grow_and_keeps_what_it_has(make_client: Callable[..., TestClient]) -> None:
    client = make_client(tenant_state_limit=20_000)
    for i in range(8):
        assert post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")] * 1, cart_id=f"c-{i}")).status_code == 200
    big = cart([line(f"l{i}", "prd-bb-32") for i in range(70)], cart_id="c-big")
    response = post(client, "/sandbox/carts", big)
    assert response.status_code == 400 and error_of(response)[0] == "sandbox_full"
    assert "POST /__sim/reset" in error_of(response)[1][0]
    assert (
        client.get("/sandbox/carts/c-big/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code == 404
    )
    assert client.post("/__sim/reset", headers=AUTH).status_code == 200
    assert post(client, "/sandbox/carts", big).status_code == 200


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_tenants_are_evicted() -> None:
    clock = Clock()
    tenants = Tenants(SimConfig(catalog=CATALOG, tenant_idle_seconds=60), clock=clock)
    first = tenants.get("sk_test_aaaaaaaa1")
    clock.now += 30
    tenants.get("sk_test_aaaaaaaa2")
    clock.now += 31
    tenants.get("sk_test_aaaaaaaa3")  # the first has been idle 61 s, the second 31 s
    assert len(tenants) == 2 and tenants.evicted == 1
    assert tenants.get("sk_test_aaaaaaaa1") is not first  # it comes back empty


def test_the_least_recently_used_tenants_go_past_the_count_and_the_budget() -> None:
    tenants = Tenants(SimConfig(catalog=CATALOG, max_tenants=3), clock=Clock())
    for key in ("sk_test_aaaaaaaa1", "sk_test_aaaaaaaa2", "sk_test_aaaaaaaa3"):
        tenants.get(key)
    tenants.get("sk_test_aaaaaaaa1")  # used again: now the newest
    tenants.get("sk_test_aaaaaaaa4")
    assert len(tenants) == 3 and tenants.evicted == 1
    budget = Tenants(SimConfig(catalog=CATALOG, memory_budget=10_000), clock=Clock())
    heavy = budget.get("sk_test_heavy0001")
    heavy.journal.record("r", 0.0, "POST", "/sandbox/carts", "", {}, b"x" * 9_000, 200, b"{}", 1.0, (), False)
    budget.settle(heavy)
    light = budget.get("sk_test_light0001")  # over budget: the least recently used goes
    assert len(budget) == 1 and budget.get("sk_test_light0001") is light
    assert budget.total == light.size()


def test_without_a_state_file_journals_give_way_before_any_sandbox_is_evicted() -> None:
    budget = Tenants(SimConfig(catalog=CATALOG, memory_budget=2 * 1024 * 1024), clock=Clock())
    keys = ("sk_test_journal001", "sk_test_journal002")
    for key in keys:
        tenant = budget.get(key)
        for n in range(1_200):  # some 1.2 MB of journal each in memory
            tenant.journal.record(
                f"r{n}",
                0.0,
                "POST",
                "/sandbox/carts",
                "",
                {"n": str(n)},
                os.urandom(750).hex().encode(),
                200,
                b"{}",
                1.0,
                (),
                False,
            )
        budget.settle(tenant)
    first, second = (budget.get(key) for key in keys)
    assert budget.evicted == 0 and len(budget) == 2
    assert first.journal.dropped > 0 and first.journal.bytes <= 512 * 1024  # the least recently used gave way
    assert second.journal.dropped == 0
    assert budget.total == first.size() + second.size() <= 2 * 1024 * 1024


def test_an_evicted_key_starts_clean_over_http(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_tenants=1)
    post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")]))
    other = {**AUTH, "Authorization": "Bearer sk_test_somebodyelse"}
    assert client.get("/sandbox/plans", headers=other).status_code == 400  # any request: the first key is evicted
    response = client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH)
    assert response.status_code == 404


def test_the_journal_is_bounded_in_bytes_and_truncates_huge_bodies() -> None:
    journal = Journal(limit=100, max_bytes=50_000)
    for i in range(10):
        journal.record(
            f"r{i}", 0.0, "POST", "/sandbox/carts", "", {"x-big": "v" * 5000}, b"{}" + b" " * 8_000, 200, b"{}", 0.1, (), False
        )
    assert journal.bytes <= 50_000 and len(journal) < 10 and journal.dropped == 10 - len(journal)
    [record] = journal.records()[-1:]
    assert record.headers["x-big"].endswith("… [truncated]") and len(record.headers["x-big"]) < 1100
    journal = Journal(limit=100, max_bytes=1_000_000)
    journal.record("huge", 0.0, "POST", "/sandbox/carts", "", {}, b'{"a": "' + b"z" * 300_000 + b'"}', 200, b"{}", 0.1, (), False)
    [huge] = [r for r in journal.records() if r.request_id == "huge"]
    assert huge.truncated and str(huge.body).endswith("[truncated]")


def test_journal_entries_are_packed_and_cost_the_collector_nothing() -> None:
    journal = Journal()
    gc.collect()
    before = len(gc.get_objects())
    for i in range(CHUNK * 20):
        journal.record(f"r{i}", 0.0, "GET", "/sandbox/plans", f"a={i}", {"h": "v"}, b"", 200, b"{}", 0.1, (), False)
    gc.collect()
    # Beyond the newest entries (at most two chunks' worth), entries are packed into bytes.
    assert len(gc.get_objects()) - before < 3 * CHUNK
    assert [r.request_id for r in journal.records()] == [f"r{i}" for i in range(CHUNK * 20)]


def test_what_a_journal_holds_in_memory_is_counted_as_it_changes() -> None:
    def held(journal: Journal) -> int:  # what the count must equal, summed the long way
        chunks, tail, _ = journal.held()
        packed = sum(len(c[2]) for c in chunks)
        return packed + sum(len(e.headers) + len(e.body) + len(e.answer) + len(e.query) + 400 for e in tail)

    def sizes(journal: Journal) -> int:
        return journal.memory_bytes - held(journal)

    journal = Journal(limit=300, max_bytes=200_000)
    for i in range(CHUNK * 8):
        body, answer = b'{"n": %d}' % i, b"{}" * (i % 50)
        journal.record(f"r{i}", 0.0, "POST", "/sandbox/carts", "", {"h": "v"}, body, 200, answer, 0.1, (), False)
        assert sizes(journal) == 8 * len(journal)  # bounded and packed along the way: still exact
    journal.shed(30_000)
    assert sizes(journal) == 8 * len(journal)
    durable = Journal()
    durable.durable = True
    for i in range(50):
        durable.record(f"d{i}", 0.0, "GET", "/sandbox/plans", f"a={i}", {"h": "v"}, b"", 200, b"{}", 0.1, (), False)
    durable.take_unsaved()
    durable.mark_saved(40)  # on disk: they leave memory, and its count
    assert sizes(durable) == 8 * len(durable) and len(durable.held()[1]) == 10
    journal.load(durable.entries(), 50)
    assert sizes(journal) == 8 * len(journal)
    journal.clear()
    assert journal.memory_bytes == 0


def test_repeated_requests_share_what_they_repeat_in_the_journal() -> None:
    journal = Journal()
    for i in range(3):
        # Equal values, distinct objects, as each request brings them.
        journal.record(
            f"r{i}",
            0.0,
            "GET",
            "/sandbox/plans",
            "".join(["a=", "1"]),
            {"h": "v"},
            b"",
            200,
            bytes(bytearray(b'{"plans": []}')),
            0.1,
            (),
            False,
        )
    journal.record("r3", 0.0, "GET", "/sandbox/plans", "a=2", {"h": "v"}, b"", 200, b'{"plans": [1]}', 0.1, (), False)
    first, second, _, fourth = journal.entries()
    assert second.answer is first.answer and second.headers is first.headers and second.query is first.query
    assert fourth.headers is first.headers and (fourth.query, fourth.answer) == ("a=2", b'{"plans": [1]}')
    assert [r.request_id for r in journal.records()] == ["r0", "r1", "r2", "r3"]


def test_idempotency_keys_are_bounded_oldest_first() -> None:
    store = IdempotencyStore(max_keys=3, max_bytes=10_000)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(5):
        store.remember(f"k{i}", "print", 200, b"{}", now)
    assert len(store) == 3 and store.replay("k0", "print", now) is None and store.replay("k4", "print", now) is not None
    store.remember("big", "print", 200, b"x" * 9_500, now)
    assert store.bytes <= 10_000 and len(store) == 1
    assert store.replay("big", "print", now + timedelta(hours=25)) is None and len(store) == 0


def test_request_headers_over_the_limit_get_431_with_the_vendor_body(client: TestClient) -> None:
    response = client.get("/sandbox/plans", headers={**AUTH, "X-Big": "a" * 17_000})
    assert response.status_code == 431
    assert error_of(response)[0] == "request_header_fields_too_large" and response.headers["X-Request-Id"]


def test_a_reset_always_resets_whatever_its_idempotency_key(client: TestClient) -> None:
    headers = {**AUTH, "Hakuna-Idempotency-Key": "same"}
    post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")]))
    assert client.post("/__sim/reset", headers=headers).status_code == 200
    post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")]))
    response = client.post("/__sim/reset", headers=headers)
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers
    assert (
        client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code
        == 404
    )


def test_deleting_a_sandbox_forgets_the_key_whole(client: TestClient) -> None:
    client.put("/__sim/settings", json={"magic_values": True}, headers=AUTH)
    post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")]))
    tenants = client.app.state.sandbox.tenants  # type: ignore[attr-defined]
    before = tenants.total
    assert client.delete("/__sim/sandbox", headers=AUTH).json() == {"forgotten": True}
    assert tenants.total < before
    assert client.get("/__sim/settings", headers=AUTH).json()["magic_values"] is False  # a new, empty sandbox
    assert (
        client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code
        == 404
    )


# -- the limits docs/fidelity.md states are the limits in force -----------------------------

FIDELITY = (Path(__file__).resolve().parents[2] / "docs" / "fidelity.md").read_text(encoding="utf-8")
LIMITS = FIDELITY[FIDELITY.index("## Limits") :]


def stated(pattern: str) -> int:
    """A figure of the limits table, as the reader reads it."""
    found = re.search(pattern, LIMITS)
    assert found, f"docs/fidelity.md states no limit like {pattern!r}"
    return int(found.group(1).replace(",", ""))


def nested(levels: int) -> Any:
    """A cart update whose unknown extra field makes the whole body nest `levels` deep."""
    body: Any = {}
    for _ in range(levels - 2):  # the cart itself is one level, the innermost {} another
        body = [body]
    return {**cart([line("p", "prd-bb-32")]), "x_extra": body}


def test_bodies_nest_as_deep_as_the_document_says_and_no_deeper(client: TestClient) -> None:
    limit = stated(r"bodies nested ([\d,]+) levels deep")
    assert post(client, "/sandbox/carts", nested(limit)).status_code == 200
    refused = post(client, "/sandbox/carts", nested(limit + 1))
    assert refused.status_code == 400
    assert error_of(refused)[1] == [
        f"x_extra{'[0]' * (limit - 1)} is nested more than {limit} levels deep: no body of this API needs that"
    ]
    # Past the JSON parser's own bound too (written by hand: no encoder nests that deep).
    raw = json.dumps(cart([line("p", "prd-bb-32")]))[:-1] + ', "x_extra": ' + "[" * 1100 + "]" * 1100 + "}"
    deepest = client.post("/sandbox/carts", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert error_of(deepest)[1][0].endswith(f"is nested more than {limit} levels deep: no body of this API needs that")


def test_an_order_holds_as_many_units_as_the_document_says_and_no_more(client: TestClient) -> None:
    limit = stated(r"([\d,]+) units per order")
    assert post(client, "/sandbox/events", placed("o-1", [line("p", "prd-bb-32", limit)])).status_code == 200
    refused = post(client, "/sandbox/events", placed("o-2", [line("p", "prd-bb-32", limit + 1)]))
    assert refused.status_code == 400 and error_of(refused)[0] == "order_too_large"


@pytest.fixture(scope="module")
def served_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path_factory.mktemp("served"))
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=10)


def exchange(port: int, raw: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw)
        sock.settimeout(10)
        head = b""
        while b"\r\n" not in head:
            head += sock.recv(65536)
    return int(head.split(b" ")[1])


def test_a_body_may_weigh_what_the_document_says_and_no_more(served_port: int) -> None:
    limit = stated(r"a request body of ([\d,]+) MiB") * 1024 * 1024
    head = (
        f"POST /sandbox/carts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nHakuna-Version: v2.0\r\n"
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    )
    body = json.dumps(cart([line("p", "prd-bb-32")])).encode()
    exact = body + b" " * (limit - len(body))  # white space is JSON too
    assert exchange(served_port, head.format(len(exact)).encode() + exact) == 200
    assert exchange(served_port, head.format(len(exact) + 1).encode() + exact + b" ") == 413


def test_headers_may_weigh_what_the_document_says_and_no_more(served_port: int) -> None:
    limit = stated(r"request headers of ([\d,]+) KiB") * 1024
    fixed = [("host", "x"), ("authorization", f"Bearer {KEY}"), ("hakuna-version", "v2.0")]
    used = sum(len(n) + len(v) for n, v in fixed) + len("x-padding")

    def look_up(weight: int) -> int:
        headers = [*fixed, ("x-padding", "p" * (weight - used))]
        return exchange(
            served_port, b"GET /sandbox/plans HTTP/1.1\r\n" + b"".join(f"{n}: {v}\r\n".encode() for n, v in headers) + b"\r\n"
        )

    assert look_up(limit) == 400  # answered on its merits: the look-up lacks its query
    assert look_up(limit + 1) == 431
