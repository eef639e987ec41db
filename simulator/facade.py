"""The one facade the HTTP layer calls: each vendor operation on a tenant's state.

Inputs are bodies already validated against `schemas/`; outputs are response bodies.
Refusals are raised as `SimError`, and every operation either completes or changes
nothing (events are applied to a copy, carts are replaced whole).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.config import SimConfig
from simulator.contract import schemas
from simulator.domain import checkouts, magic, matching
from simulator.domain.carts import Cart, frozen_cart_error, line_items, reconcile
from simulator.domain.errors import SimError, invalid, not_found
from simulator.domain.ids import IdFactory
from simulator.domain.orders import Order, apply_event, place_order
from simulator.domain.timefmt import format_timestamp
from simulator.report import rules
from simulator.state import snapshot
from simulator.state.journal import Record
from simulator.state.store import Store
from simulator.state.tenants import Tenants, TenantState, tracked_bytes


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sandbox:
    def __init__(self, config: SimConfig, clock: Callable[[], datetime] = utc_now, store: Store | None = None):
        self.config = config
        self.clock = clock
        self.tenants = Tenants(config, store)
        self.ids = IdFactory(config.seed, "")  # for requests that belong to no tenant

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

    def update_cart(self, t: TenantState, body: Mapping[str, Any], lenient: bool = False) -> dict[str, Any]:
        """`lenient` (shadow mode): the real API accepted it, so the rules the simulator
        would refuse it by are set aside where the request can still apply."""
        lines = line_items(body["line_items"])
        existing = t.carts.get(body["cart_id"])
        if existing is not None and existing.order_id is not None and not lenient:
            raise frozen_cart_error(existing)
        currency = body["cart_currency"]
        result = reconcile(lines, t.catalog, lambda product_id: t.known_product(product_id, currency))
        cart = Cart(
            body["cart_id"],
            body["user_session_id"],
            body["cart_currency"],
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

    def check_out(self, t: TenantState, body: Mapping[str, Any], lenient: bool = False) -> dict[str, Any]:
        if lenient:
            found = t.carts.get(body["cart_id"])
            cart = dataclasses.replace(found, order_id=body["order_id"]) if found else None
        else:
            cart = checkouts.check_out(t.carts, t.cart_of_order, body["cart_id"], body["user_session_id"], body["order_id"])
        if cart is not None:
            t.put_cart(cart)
        return {"cart_id": body["cart_id"], "user_session_id": body["user_session_id"], "order_id": body["order_id"]}

    # -- ERP ---------------------------------------------------------------------------

    def publish_event(self, t: TenantState, body: Mapping[str, Any], lenient: bool = False) -> dict[str, Any]:
        event_type, payload = body["type"], body["payload"]
        order_id = payload["order_id"]
        if t.magic_values and not lenient:
            if event_type == "order_placed":
                magic.check_order_placed(payload)
            elif event_type == "order_cancelled" and order_id in t.orders:
                magic.check_cancellation(order_id)
        if event_type == "order_placed":
            if order_id in t.orders and not lenient:
                raise SimError(
                    "order_already_exists",
                    f"order {order_id!r} was already placed; publish fulfilment, refund or cancellation events for it instead",
                )
            cart_id = payload.get("cart_id")
            order = place_order(payload, t.catalog, t.carts.get(cart_id) if cart_id else None, t.ids.protection_id, lenient)
        else:
            current = t.orders.get(order_id)
            if current is None:
                if lenient:
                    return {"event_id": t.ids.event_id()}  # no order to change
                raise not_found(f"no order {order_id!r}: publish its order_placed event first")
            order = apply_event(current, event_type, payload, t.refund_windows, lenient)
        event_id = t.ids.event_id()
        t.put_order(order, event_id, (event_type, snapshot.packed_payload(payload), format_timestamp(self.clock())))
        return {"event_id": event_id}

    def event(self, t: TenantState, event_id: str) -> dict[str, Any]:
        found = t.events.get(event_id)
        if found is None:
            raise not_found(f"no event {event_id!r}")
        event_type, payload, received_at = found
        return {
            "event_id": event_id,
            "type": event_type,
            "payload": snapshot.payload_of(payload),
            "received_at": received_at,
        }

    def order(self, t: TenantState, order_id: str) -> dict[str, Any]:
        return self._order(t, order_id).as_body()

    def order_connections(self, t: TenantState, order_id: str) -> dict[str, Any]:
        return self._order(t, order_id).connections_body()

    # -- snapshots (docs/contract.md §7) ----------------------------------------------------

    def read_snapshot(self, document: Any, rebase: bool) -> snapshot.Parts:
        """A snapshot document checked whole (every problem named by its path) and built
        into objects; nothing of any tenant changes here, so it may run off the event loop."""
        if schemas.nesting_depth(document) > schemas.MAX_DEPTH:
            raise invalid([f"the snapshot nests deeper than {schemas.MAX_DEPTH} levels"])
        problems = schemas.validate("sim-state.json", document, root="snapshot")
        if not problems:
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
        unjudged = rules.unreadable((Record(e) for e in kept), first=dropped)
        if unjudged:
            raise invalid(unjudged[:100])
        size = tracked_bytes(parts.products, parts.carts, parts.orders, parts.events)
        if size > self.config.tenant_state_limit:
            raise SimError(
                "sandbox_full",
                f"the snapshot holds about {size // (1024 * 1024)} MiB of carts, orders and events, over the "
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
