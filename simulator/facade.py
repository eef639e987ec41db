"""The facade between the HTTP layer and the rest: each vendor operation on a key's
state, and the unit of work every request runs in.

A request's work is one `Transaction`: the key's tenant (loaded from the store off the
event loop when it is not in memory), the operation applied under the tenant's lock,
its journal entry, the tenant's size accounted, what it changed handed to the store as
a value, and the answer held until that is durable. The HTTP pipeline and shadow mode
both run their requests so, and a script does the same with `Sandbox.session`:

    with sandbox.session("sk_test_mine0001") as t:
        sandbox.update_cart(t.tenant, body)        # saved (and durable) when the block ends

Operations take bodies already validated against `schemas/` and answer response bodies.
Refusals are raised as `SimError`; every operation either completes or changes nothing
(events are applied to a copy, carts are replaced whole). `rules` is how an operation's
refusals are kept: refused (the default), or tolerated (shadow mode, where the real API
accepted the request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from simulator.config import SimConfig
from simulator.contract import schemas
from simulator.domain import checkouts, magic, matching
from simulator.domain.carts import Cart, frozen_cart_error, line_items, reconcile
from simulator.domain.errors import Refusals, Rules, SimError, invalid, not_found
from simulator.domain.ids import IdFactory
from simulator.domain.orders import Order, apply_event, place_order
from simulator.domain.timefmt import format_timestamp
from simulator.report import rules as report_rules
from simulator.state import snapshot
from simulator.state.changes import ChangeSet
from simulator.state.journal import Record
from simulator.state.registry import Tenants
from simulator.state.store import Pending, Store
from simulator.state.tenant import Cold, TenantState, TenantView

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Transaction:
    """One request's unit of work on one key (see the module's docstring)."""

    def __init__(self, sandbox: Sandbox, tenant: TenantState):
        self.sandbox = sandbox
        self.tenant = tenant
        self.request_id = tenant.ids.request_id()

    async def reopen(self) -> None:
        """Take the key's tenant again if it was forgotten or evicted while the request
        awaited (its body, an injected latency)."""
        tenants = self.sandbox.tenants
        if not tenants.holds(self.tenant):
            self.tenant = await tenants.open(self.tenant.key)

    def apply(self, operation: Callable[[TenantState], T]) -> T:
        """`operation` on the tenant, under its lock. Nothing may await meanwhile; an
        item whose bytes are only in the store is read on this thread (see `run`)."""
        with self.tenant.lock:
            return operation(self.tenant)

    async def run(self, operation: Callable[[TenantState], T]) -> T:
        """`apply` for the event loop: an item the operation needs whose bytes are only
        in the store is read on a worker thread, and the operation runs again (it stopped
        before changing anything). Other keys' requests go on meanwhile."""
        reads: dict[tuple[str, str], tuple[object, bytes | None]] = {}
        while True:
            tenant = self.tenant
            with tenant.lock:
                tenant.cold_reads = reads
                try:
                    return operation(tenant)
                except Cold as cold:  # (its fields, not the exception: its traceback holds this frame)
                    kind, item_id, version = cold.kind, cold.item_id, cold.version
                finally:
                    tenant.cold_reads = None
            read = tenant.read_stored
            assert read is not None
            found = await asyncio.get_running_loop().run_in_executor(None, read, kind, [item_id])
            reads[(kind, item_id)] = (version, found.get(item_id))
            await self.reopen()

    def record(self, *entry: Any) -> None:
        """The request's journal entry (vendor routes only): the arguments of `Journal.record`."""
        with self.tenant.lock:
            self.tenant.journal.record(*entry)

    def save(self) -> Pending | None:
        """Account what the request changed, and hand it to the store: what to wait for."""
        tenants, tenant = self.sandbox.tenants, self.tenant
        tenants.settle(tenant)
        if not tenants.store.durable:  # nothing outlives the process: nothing to write
            with tenant.lock:
                tenant.changes.clear()
                tenant.idempotency.touched.clear()
            return None
        if not tenants.holds(tenant):  # forgotten meanwhile: its removal is what must be durable
            return tenants.store.flush()
        with tenant.lock:
            changes = tenant.take_changes()
        if changes is None:
            return None
        pending = tenants.store.save(changes)
        if pending is not None:
            pending.on_finish(lambda: _written(tenants, tenant, changes, pending))
        return pending

    async def commit(self) -> None:
        """Save, and return once it is durable (raises SimError 503 when the disk failed)."""
        pending = self.save()
        if pending is not None:
            await durable(pending, self._failed)

    def commit_now(self) -> None:
        """`commit` for code without an event loop: waits on this thread."""
        pending = self.save()
        if pending is not None:
            try:
                pending.wait()
            except Exception as exc:  # noqa: BLE001 - the disk, not the request, failed
                raise self._failed(exc) from None

    def _failed(self, exc: BaseException) -> SimError:
        return SimError(
            "service_unavailable",
            f"the request was applied in memory, but the state file could not be written ({exc}); "
            "this key is written whole again with its next request: free the disk, then repeat the request",
        )

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if kind is None:
            self.commit_now()


def _written(tenants: Tenants, tenant: TenantState, changes: ChangeSet, pending: Pending) -> None:
    """The store wrote `changes`, or could not (on the writer's or the loop's thread):
    what it holds leaves memory, or is handed again with the next save."""
    with tenant.lock:
        if changes.journal:
            if pending.error is None:
                tenant.journal.mark_saved(changes.journal[-1].seq)
            else:
                tenant.journal.mark_unsaved()
        tenant.written(changes, pending.error)
        tenants.account(tenant)


async def durable(pending: Pending | None, failed: Callable[[BaseException], SimError] | None = None) -> None:
    """Return once `pending` would survive the process being killed."""
    if pending is None:
        return
    if not pending.finished:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if loop.is_closed():
                return
            if _on_loop(loop):
                if not done.done():
                    done.set_result(None)
            else:
                loop.call_soon_threadsafe(_resolve, done)

        pending.on_finish(wake)
        await done
    if pending.error is not None:
        raise failed(pending.error) if failed is not None else pending.error


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Sandbox:
    def __init__(self, config: SimConfig, clock: Callable[[], datetime] = utc_now, store: Store | None = None):
        self.config = config
        self.clock = clock
        self.tenants = Tenants(config, store)
        self.ids = IdFactory(config.seed, "")  # for requests that belong to no tenant

    @property
    def store(self) -> Store:
        return self.tenants.store

    # -- units of work ----------------------------------------------------------------------

    async def begin(self, key: str) -> Transaction:
        """A request's unit of work on `key` (its tenant loaded off the event loop if needed)."""
        tenant = self.tenants.held(key) or await self.tenants.open(key)
        return Transaction(self, tenant)

    def session(self, key: str) -> Transaction:
        """A unit of work for code without an event loop (a script, a test): saved, and
        waited for, when its `with` block ends."""
        return Transaction(self, self.tenants.get(key))

    async def view(self, key: str) -> TenantView:
        """What the report, the journal and the dashboard read of a key: a copy taken in a
        moment, with the journal a durable store keeps read off the event loop."""
        tenant = self.tenants.held(key) or await self.tenants.open(key)
        with tenant.lock:
            view = tenant.view()
        return await self.complete(tenant.key, view)

    async def complete(self, key: str, view: TenantView) -> TenantView:
        """`view` with the journal entries a durable store holds for it, read off the loop."""
        kinds = view.stored_kinds()
        if not (view.saved_seq or kinds):
            return view
        await durable(self.store.flush())
        # (asyncio.to_thread: the reads take the turns of the work they are for, simulator/pacing.py)
        if kinds:
            documents = {kind: await asyncio.to_thread(self.store.read_items, key, kind, None) for kind in kinds}
            view = view.with_stored(documents)
        if not view.saved_seq:
            return view
        first = view.unread_from()
        read = await asyncio.to_thread(self.store.read_journal, key, first, view.saved_seq) if first <= view.saved_seq else []
        view = view.with_journal(read)
        tenant = self.tenants.held(key)
        if tenant is not None:  # the next reader reads only what is saved after this
            with tenant.lock:
                kept = tenant.journal.keep_read(view.read_back[0], view.on_disk, view.saved_seq)
            if kept:
                self.tenants.account(tenant)
        return view

    async def snapshot_document(self, key: str) -> tuple[TenantView, Callable[[TenantView], dict[str, Any]]]:
        """The key's whole state: a view (journal read), and what builds the document from it."""
        tenant = self.tenants.held(key) or await self.tenants.open(key)
        with tenant.lock:
            view, build = tenant.snapshot(self.clock())
        return await self.complete(key, view), build

    async def forget(self, key: str) -> bool:
        """Drop a key's whole sandbox, from memory and from the store; whether there was one."""
        stored = self.store.durable and await asyncio.get_running_loop().run_in_executor(None, self.store.has, key)
        held, pending = self.tenants.forget(key)
        await durable(pending)
        return held or stored

    # -- storefront --------------------------------------------------------------------

    def look_up_plans(self, t: TenantState, query: Mapping[str, Any]) -> dict[str, Any]:
        product = matching.product_from_query(query)
        # Remembered, matched or not, so that cart and order checks judge eligibility and
        # plan prices on this list price in its currency (docs: priced by category and
        # list-price band).
        t.put_product(product)
        if t.magic_values:
            magic.check_look_up(query)
        answer = matching.offer(t.catalog, product)
        if not answer["plans"]:
            raise matching.unsupported(t.catalog, product)
        return answer

    def update_cart(self, t: TenantState, body: Mapping[str, Any], rules: Rules = Refusals) -> dict[str, Any]:
        lines = line_items(body["line_items"])
        existing = t.carts.get(body["cart_id"])
        if existing is not None and existing.order_id is not None:
            rules().refuse(frozen_cart_error(existing))
        currency = body["cart_currency"]
        result = reconcile(lines, t.catalog, lambda product_id: t.known_product(product_id, currency))
        cart = Cart(
            body["cart_id"],
            body["user_session_id"],
            currency,
            lines,
            result,
            existing.order_id if existing is not None else None,
        )  # a checked-out cart stays linked
        t.put_cart(cart)
        return {"cart_id": body["cart_id"], "user_session_id": body["user_session_id"], "actions": list(result.actions)}

    def cart_connections(self, t: TenantState, cart_id: str, user_session_id: str) -> dict[str, Any]:
        cart = t.carts.get(cart_id)
        if cart is None or cart.user_session_id != user_session_id:
            # Another session's cart is not revealed to exist (docs/contract.md §3).
            raise not_found(
                f"no cart {cart_id!r} with user_session_id {user_session_id!r}: ask with the "
                "user_session_id the cart was last sent with, or send the cart to POST "
                "/sandbox/orders (the guide's cart update) first"
            )
        return {"cart_id": cart_id, "plan_connections": [c.as_body() for c in cart.reconciliation.connections]}

    def check_out(self, t: TenantState, body: Mapping[str, Any], rules: Rules = Refusals) -> dict[str, Any]:
        cart_id, order_id = body["cart_id"], body["order_id"]
        cart = checkouts.check_out(t.carts.get(cart_id), t.cart_of_order, cart_id, body["user_session_id"], order_id, rules)
        if cart is not None:
            t.put_cart(cart)
        return {"cart_id": cart_id, "user_session_id": body["user_session_id"], "order_id": order_id}

    # -- ERP ---------------------------------------------------------------------------

    def publish_event(self, t: TenantState, body: Mapping[str, Any], rules: Rules = Refusals) -> dict[str, Any]:
        event_type, payload = body["type"], body["payload"]
        order_id = payload["order_id"]
        refusals = rules()
        if t.magic_values:
            if event_type == "order_placed":
                refusals.check(magic.check_order_placed, payload)
            elif event_type == "order_cancelled" and order_id in t.orders:
                refusals.check(magic.check_cancellation, order_id)
        if event_type == "order_placed":
            if order_id in t.orders:
                refusals.refuse(
                    SimError(
                        "order_already_exists",
                        f"order {order_id!r} was already placed; publish fulfilment, refund or cancellation "
                        "events for it instead",
                    )
                )
            cart_id = payload.get("cart_id")
            order = place_order(payload, t.catalog, t.carts.get(cart_id) if cart_id else None, t.ids.protection_id, rules)
        else:
            current = t.orders.get(order_id)
            if current is None:
                refusals.refuse(not_found(f"no order {order_id!r}: publish its order_placed event first"))
                return {"event_id": t.ids.event_id()}  # (tolerated: no order to change)
            order = apply_event(current, event_type, payload, t.refund_windows, rules)
        event_id = t.ids.event_id()
        received_at = format_timestamp(self.clock())
        t.put_order(order, {"event_id": event_id, "type": event_type, "payload": payload, "received_at": received_at})
        return {"event_id": event_id}

    def event(self, t: TenantState, event_id: str) -> dict[str, Any]:
        found = t.events.get(event_id)
        if found is None:
            raise not_found(f"no event {event_id!r}")
        return found

    def order(self, t: TenantState, order_id: str) -> dict[str, Any]:
        return self._order(t, order_id).as_body()

    def order_connections(self, t: TenantState, order_id: str) -> dict[str, Any]:
        return self._order(t, order_id).connections_body()

    # -- snapshots (docs/contract.md §7) ----------------------------------------------------

    def read_snapshot(self, document: Any, rebase: bool) -> snapshot.Parts:
        """A snapshot document checked whole (every problem named by its path) and built;
        nothing of any tenant changes here, so it may run off the event loop."""
        if schemas.nesting_depth(document) > schemas.MAX_DEPTH:
            raise invalid([f"the snapshot nests deeper than {schemas.MAX_DEPTH} levels"])
        problems = schemas.validate("sim-state.json", document, root="snapshot")
        if not problems:
            document = schemas.integral_numbers(document)  # valid: 2.0 where an integer goes is 2
            problems = snapshot.problems(document, self.config.catalog)
        if problems:
            raise invalid(problems)
        shift = snapshot.rebase_shift(document, self.clock()) if rebase else timedelta(0)
        try:
            parts = snapshot.parts(document, shift)
        except (KeyError, ValueError, TypeError) as exc:  # what neither check above foresaw
            raise invalid([f"snapshot cannot be read: {type(exc).__name__}: {exc}"]) from None
        kept = parts.journal.entries()  # the newest, within the journal's bounds
        dropped = len(document["journal"]["entries"]) - len(kept)
        unjudged = report_rules.unreadable((Record(e) for e in kept), first=dropped)
        if unjudged:
            raise invalid(unjudged[:100])
        if parts.tracked > self.config.tenant_state_limit:
            raise SimError(
                "sandbox_full",
                f"the snapshot holds about {parts.tracked // (1024 * 1024)} MiB of carts, orders and events, over the "
                f"simulator's limit of {self.config.tenant_state_limit // (1024 * 1024)} MiB per key",
            )
        return parts

    def import_snapshot(self, t: TenantState, parts: snapshot.Parts) -> dict[str, Any]:
        t.replace(parts, self.config.catalog)
        return {
            "imported": {
                "products": len(t.products),
                "carts": len(t.carts),
                "orders": len(t.orders),
                "events": len(t.events),
                "idempotency_keys": len(t.idempotency),
                "journal_entries": len(t.journal),
            }
        }

    @staticmethod
    def _order(t: TenantState, order_id: str) -> Order:
        found = t.orders.get(order_id)
        if found is None:
            raise not_found(f"no order {order_id!r}")
        return found
