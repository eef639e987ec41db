"""With a state file, a key's carts, orders, events and idempotency answers leave memory
once they are on disk (their ids stay), and come back when a request, a report or an
export needs them: memory follows what keys do, not everything they stored."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from simulator import pacing
from simulator.config import SimConfig
from simulator.facade import Sandbox
from simulator.state.shelf import HOT
from simulator.state.sqlite import SqliteStore
from simulator.state.tenant import CART, Cold, TenantState
from simulator.web.app import create_app
from tests.conftest import AUTH, KEY, cart, fulfilled, line, placed, post

FLOWS = 3 * HOT  # more than a shelf keeps as objects


def served(path: Path, catalog: Any, **config: Any) -> TestClient:
    return TestClient(create_app(SimConfig(catalog=catalog, **config), store=SqliteStore(path)), raise_server_exceptions=False)


def tenant_of(client: TestClient) -> TenantState:
    found = client.app.state.sandbox.tenants.held(KEY)  # type: ignore[attr-defined]
    assert found is not None
    return found


def flows(client: TestClient) -> dict[str, Any]:
    """FLOWS whole flows, each with its idempotency key; the answers, by order id."""
    answers: dict[str, Any] = {}
    for n in range(FLOWS):
        lines = [line("a", "prd-iphone14", 2, 112900), line("p", "pl-prd-hakuna", 2, 1200, "prd-iphone14")]
        body = cart(lines, cart_id=f"cart-{n}", session=f"sess-{n}")
        assert post(client, "/sandbox/carts", body).status_code == 200
        checkout = {"cart_id": f"cart-{n}", "user_session_id": f"sess-{n}", "order_id": f"ord-{n}"}
        assert post(client, "/sandbox/checkouts", checkout, {"Hakuna-Idempotency-Key": f"k-{n}"}).status_code == 200
        event = post(client, "/sandbox/events", placed(f"ord-{n}", lines, f"cart-{n}"), {"Hakuna-Idempotency-Key": f"e-{n}"})
        assert event.status_code == 200
        answers[f"ord-{n}"] = event.json()
    return answers


def held_bytes(tenant: TenantState) -> int:
    """How many items the tenant holds as bytes or objects."""
    return sum(len(shelf.parts()[1]) + len(shelf.parts()[2]) for shelf in (tenant.carts, tenant.orders, tenant.events))


def test_items_on_disk_leave_memory_and_come_back_when_a_request_needs_them(tmp_path: Path, catalog: Any) -> None:
    with served(tmp_path / "state.db", catalog) as client:
        events = flows(client)
        tenant = tenant_of(client)
        assert len(tenant.carts) == len(tenant.orders) == len(tenant.events) == FLOWS
        assert held_bytes(tenant) <= 3 * HOT  # the objects used last, nothing else
        assert not any(shelf.parts()[1] for shelf in (tenant.carts, tenant.orders, tenant.events))
        tenants = client.app.state.sandbox.tenants  # type: ignore[attr-defined]
        assert tenants.total == sum(t.size() for t in tenants.all())  # what left memory left the budget
        # The oldest flow, long out of memory, is read back for each request about it.
        connections = client.get("/sandbox/carts/cart-0/plan_connections", params={"user_session_id": "sess-0"}, headers=AUTH)
        assert connections.status_code == 200 and connections.json()["plan_connections"]
        order = client.get("/sandbox/orders/ord-0", headers=AUTH)
        assert order.status_code == 200 and order.json()["line_items"][0]["quantity"] == 2
        event_id = events["ord-0"]["event_id"]
        assert client.get(f"/sandbox/events/{event_id}", headers=AUTH).json()["payload"]["order_id"] == "ord-0"
        assert post(client, "/sandbox/events", fulfilled("ord-0", ("a", 2))).status_code == 200
        assert client.get("/sandbox/orders/ord-0", headers=AUTH).json()["line_items"][0]["fulfilled_quantity"] == 2
        # A checked-out cart read back is still frozen; an order read back still exists.
        again = post(client, "/sandbox/carts", cart([line("a", "prd-iphone14")], cart_id="cart-1", session="sess-1"))
        assert again.json()["error"]["error_code"] == "cart_checked_out"
        duplicate = post(client, "/sandbox/events", placed("ord-2", [line("a", "prd-iphone14")], "cart-2"))
        assert duplicate.json()["error"]["error_code"] == "order_already_exists"
        # Idempotency keys: the answer of an old one is replayed, another body refused.
        replay = post(client, "/sandbox/events", placed("ord-1", [], "cart-1"), {"Hakuna-Idempotency-Key": "e-1"})
        assert replay.json()["error"]["error_code"] == "idempotency_key_reused"
        checkout = {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "ord-1"}
        replay = post(client, "/sandbox/checkouts", checkout, {"Hakuna-Idempotency-Key": "k-1"})
        assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


def test_a_key_loaded_back_holds_its_ids_alone_and_reads_the_rest_for_a_report_or_an_export(tmp_path: Path, catalog: Any) -> None:
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        flows(client)
        report = client.get("/__sim/report", headers=AUTH).json()
        state = client.get("/__sim/state", headers=AUTH).json()
        dashboard = client.get("/__sim/dashboard", headers=AUTH)
    with served(path, catalog) as client:
        assert client.get("/__sim/settings", headers=AUTH).status_code == 200
        tenant = tenant_of(client)
        assert held_bytes(tenant) == 0 and len(tenant.orders) == FLOWS
        assert tenant.size() < 200 * 3 * FLOWS + 20_000  # ids and key stubs, not documents
        again = client.get("/__sim/state", headers=AUTH).json()
        assert {**again, "taken_at": None} == {**state, "taken_at": None}
        assert len(again["idempotency_keys"]) == 2 * FLOWS
        assert client.get("/__sim/report", headers=AUTH).json() == report
        assert client.get("/__sim/dashboard", headers=AUTH).text.count("ord-") == dashboard.text.count("ord-")
        assert held_bytes(tenant) == 0  # what the readers read stayed with them


def test_an_item_changed_while_it_was_read_off_the_loop_is_read_again(tmp_path: Path, catalog: Any) -> None:
    """A request reads a cart from the file on a worker thread; meanwhile another request
    changes that cart and its change reaches the file. The first must see the change."""
    store = SqliteStore(tmp_path / "state.db")
    sandbox = Sandbox(SimConfig(catalog=catalog), store=store)
    body = cart([line("a", "prd-iphone14")], cart_id="cart-0", session="sess-0")
    try:
        with sandbox.session(KEY) as tx:
            sandbox.update_cart(tx.tenant, body)
        tenant = tx.tenant
        for n in range(1, HOT + 1):  # cart-0 leaves memory
            with sandbox.session(KEY) as tx:
                sandbox.update_cart(tx.tenant, {**body, "cart_id": f"cart-{n}"})
        assert "cart-0" not in tenant.carts.parts()[2]
        read = tenant.read_stored
        assert read is not None
        changed = {"done": False}

        def read_while_it_changes(kind: str, ids: list[str] | None) -> dict[str, bytes]:
            found = read(kind, ids)
            if not changed["done"]:
                changed["done"] = True
                with sandbox.session(KEY) as other:
                    sandbox.update_cart(other.tenant, {**body, "user_session_id": "sess-changed"})
                for n in range(HOT + 1, 2 * HOT + 2):  # and leaves memory again
                    with sandbox.session(KEY) as other:
                        sandbox.update_cart(other.tenant, {**body, "cart_id": f"cart-{n}"})
            return found

        tenant.read_stored = read_while_it_changes
        seen: list[str] = []

        async def ask() -> None:
            tx = await sandbox.begin(KEY)
            seen.append(await tx.run(lambda t: t.carts["cart-0"].user_session_id))

        asyncio.run(ask())
        assert changed["done"] and seen == ["sess-changed"]
    finally:
        store.close()


def test_an_operation_off_the_loop_asks_for_what_it_lacks_before_it_changes_anything(catalog: Any, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    sandbox = Sandbox(SimConfig(catalog=catalog), store=store)
    try:
        with sandbox.session(KEY) as tx:
            sandbox.update_cart(tx.tenant, cart([line("a", "prd-iphone14")], cart_id="cart-0", session="sess-0"))
        tenant = tx.tenant
        tenant.carts.pop("cart-0")
        tenant.carts.put_stored("cart-0")
        tenant.cold_reads = {}
        generated = tenant.ids.generated
        try:
            sandbox.check_out(tenant, {"cart_id": "cart-0", "user_session_id": "sess-0", "order_id": "ord-0"})
        except Cold as cold:
            assert (cold.kind, cold.item_id) == (CART, "cart-0")
        else:
            raise AssertionError("the cart was read on the event loop's thread")
        finally:
            tenant.cold_reads = None
        assert tenant.ids.generated == generated and not tenant.changes
    finally:
        store.close()


def test_an_evicted_key_is_freed_at_once_without_the_cyclic_collector(tmp_path: Path, catalog: Any) -> None:
    """`serve` keeps long-lived objects out of the cyclic collector's sight
    (simulator/web/workers.py): a tenant that took part in a reference cycle would then
    stay in memory for good once evicted."""
    with served(tmp_path / "state.db", catalog, max_tenants=1) as client:
        flows(client)
        assert client.get("/sandbox/orders/ord-0", headers=AUTH).status_code == 200  # an order read back from the file
        gone = weakref.ref(tenant_of(client))
        gc.disable()
        try:
            other = {"Authorization": "Bearer sk_test_anotherkey02", "Hakuna-Version": "v2.0"}
            assert client.get("/__sim/settings", headers=other).status_code == 200  # evicts the first key
            assert client.app.state.sandbox.tenants.held(KEY) is None  # type: ignore[attr-defined]
            assert gone() is None
        finally:
            gc.enable()


def test_a_views_reads_of_the_state_file_take_the_turns_of_the_work_they_are_for(tmp_path: Path, catalog: Any) -> None:
    """The facade reads a view's items and journal on threads that carry the work's
    slices (simulator/pacing.py): a read of a long journal steps aside like the work."""
    with served(tmp_path / "state.db", catalog) as client:
        flows(client)
        sandbox = client.app.state.sandbox  # type: ignore[attr-defined]
        steps: list[int] = []

        class Counted(pacing.Slices):
            def step(self) -> None:
                steps.append(threading.get_ident())

        async def read() -> tuple[Any, int]:
            with pacing.sliced(Counted(0.25, lambda: 0)):
                return await sandbox.view(KEY), threading.get_ident()

        assert client.portal is not None
        view, serving_thread = client.portal.call(read)
        assert view.entries and not view.stored_kinds()  # read back from the file, items and journal
        assert steps and serving_thread not in steps
