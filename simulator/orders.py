"""Orders, order events and protections (CONTRACT section 6).

An order's plan connections are fixed when it is placed and stay listed whatever happens
to its lines later. Protections (docs: a plan covers one item, the contract starts on
fulfilment) are one per plan unit:

    pending   --product unit fulfilled-->  active
    pending | active  --plan unit refunded-->  refunded
    pending   --order cancelled-->  cancelled

Every event is applied to a copy of the order and the copy replaces the order only when
the whole event was accepted: an event applies whole or not at all.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.carts import Cart, Connection, check_unique_ids
from simulator.errors import SimError
from simulator.matching import Catalog
from simulator.schemas import parse_timestamp
from simulator.timefmt import add_months, format_timestamp

# What an order in each status accepts: (status, event type) -> status after, or the
# error code that refuses it. A reader sees every legal event here.
LIFECYCLE: Mapping[tuple[str, str], tuple[str | None, str | None]] = {
    ("placed", "order_fulfillment_added"): ("placed", None),
    ("placed", "order_refund_added"): ("placed", None),
    ("placed", "order_cancelled"): ("cancelled", None),  # guarded: nothing fulfilled yet
    ("cancelled", "order_fulfillment_added"): (None, "order_cancelled"),
    ("cancelled", "order_refund_added"): (None, "order_cancelled"),
    ("cancelled", "order_cancelled"): (None, "cancel_decline"),
}

@dataclass(frozen=True)
class RefundWindows:
    """Docs: a plan refunded on its own at most 14 days after its product unit shipped;
    refunded with its product, 3 calendar months."""
    plan_alone_days: int = 14
    with_product_months: int = 3


@dataclass
class OrderLine:
    id: str
    product_id: str
    kind: str  # "product" | "plan"
    quantity: int
    price_amount: int
    product_reference: str | None
    fulfilled_at: list[datetime] = field(default_factory=list)  # one per fulfilled unit
    refunded_quantity: int = 0

    @property
    def fulfilled_quantity(self) -> int:
        return len(self.fulfilled_at)

    def as_body(self) -> dict[str, Any]:
        return {"id": self.id, "product_id": self.product_id, "kind": self.kind,
                "quantity": self.quantity, "fulfilled_quantity": self.fulfilled_quantity,
                "refunded_quantity": self.refunded_quantity}


@dataclass
class Protection:
    protection_id: str
    plan_line_item_id: str
    product_line_item_id: str
    merchant_product_id: str
    term_months: int
    status: str = "pending"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    refunded_with_product: bool = False

    def as_body(self) -> dict[str, Any]:
        return {"protection_id": self.protection_id, "plan_line_item_id": self.plan_line_item_id,
                "product_line_item_id": self.product_line_item_id,
                "merchant_product_id": self.merchant_product_id, "status": self.status,
                "starts_at": format_timestamp(self.starts_at), "ends_at": format_timestamp(self.ends_at)}


@dataclass
class Order:
    order_id: str
    status: str
    currency: str
    cart_id: str | None
    placed_at: datetime
    lines: list[OrderLine]
    connections: tuple[Connection, ...]
    protections: list[Protection]
    cancelled_at: datetime | None = None

    def line(self, line_id: str) -> OrderLine | None:
        return next((l for l in self.lines if l.id == line_id), None)

    def plan_for(self, product_line_id: str) -> str | None:
        return next((c.plan_line_item_id for c in self.connections
                     if c.product_line_item_id == product_line_id), None)

    def product_for(self, plan_line_id: str) -> str | None:
        return next((c.product_line_item_id for c in self.connections
                     if c.plan_line_item_id == plan_line_id), None)

    def as_body(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "status": self.status, "order_currency": self.currency,
                "cart_id": self.cart_id, "placed_at": format_timestamp(self.placed_at),
                "cancelled_at": format_timestamp(self.cancelled_at),
                "line_items": [l.as_body() for l in self.lines],
                "protections": [p.as_body() for p in self.protections]}

    def connections_body(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "plan_connections": [c.as_body() for c in self.connections]}


class _Refusals:
    """Collects every refused item of an event, so one answer lists them all."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, code: str, message: str) -> None:
        self.items.append((code, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise SimError(self.items[0][0], *[m for _, m in self.items])


# -- placement --------------------------------------------------------------------------

def place_order(payload: Mapping[str, Any], catalog: Catalog, cart: Cart | None,
                new_protection_id: Callable[[], str]) -> Order:
    """A new order from a validated `order_placed` payload; `cart` is the tenant's cart
    named by `cart_id`, if it has one."""
    check_unique_ids(payload["line_items"], "payload.line_items")
    lines = [
        OrderLine(id=l["id"], product_id=l["product_id"],
                  kind="plan" if catalog.is_plan(l["product_id"]) else "product",
                  quantity=l["quantity"], price_amount=l["price_amount"],
                  product_reference=(l.get("custom_properties") or {}).get("product_reference"))
        for l in payload["line_items"]
    ]
    cart_id = payload.get("cart_id")
    connections = _connect(lines, cart)
    protections: list[Protection] = []
    for c in connections:
        plan_line = next(l for l in lines if l.id == c.plan_line_item_id)
        plan = catalog.plan(plan_line.product_id)
        assert plan is not None
        protections.extend(
            Protection(new_protection_id(), plan_line.id, c.product_line_item_id,
                       plan.merchant_product_id, plan.term_months)
            for _ in range(plan_line.quantity))
    return Order(order_id=payload["order_id"], status="placed", currency=payload["order_currency"],
                 cart_id=cart_id, placed_at=parse_timestamp(payload["placed_at"]), lines=lines,
                 connections=tuple(connections), protections=protections)


def _connect(lines: Sequence[OrderLine], cart: Cart | None) -> list[Connection]:
    """Connect each plan line to one product line: through the checked-out cart (same
    line ids, else same product ids), else through its product_reference."""
    products = [l for l in lines if l.kind == "product"]
    taken: set[str] = set()
    cart_links: list[tuple[str, str, str]] = []  # (cart plan line id, plan product id, product's product id)
    cart_product_of: dict[str, str] = {}  # cart plan line id -> cart product line id
    if cart is not None:
        for c in cart.reconciliation.connections:
            plan_line, product_line = cart.line(c.plan_line_item_id), cart.line(c.product_line_item_id)
            if plan_line and product_line:
                cart_links.append((plan_line.id, plan_line.product_id, product_line.product_id))
                cart_product_of[plan_line.id] = product_line.id
    used_links: set[str] = set()
    refusals = _Refusals()
    connections = []

    def free(*, line_id: str | None = None, product_id: str | None = None) -> OrderLine | None:
        """The first not-yet-connected product line with that id or product id."""
        return next((p for p in products if p.id not in taken
                     and (line_id is None or p.id == line_id)
                     and (product_id is None or p.product_id == product_id)), None)

    for index, line in enumerate(lines):
        if line.kind != "plan":
            continue
        target = None
        if line.id in cart_product_of:
            target = free(line_id=cart_product_of[line.id])
            if target is not None:
                used_links.add(line.id)
        if target is None:
            for link_id, plan_product, product_product in cart_links:
                if link_id not in used_links and plan_product == line.product_id:
                    target = free(product_id=product_product)
                    if target is not None:
                        used_links.add(link_id)
                        break
        if target is None and line.product_reference:
            target = free(product_id=line.product_reference)
        where = f"payload.line_items[{index}]"
        if target is None:
            refusals.add("plan_not_connected",
                         f"{where}: plan line {line.id!r} protects no product line of this order: "
                         "set custom_properties.product_reference to the protected product's "
                         "product_id, or place the order with the cart_id of its checked-out cart")
            continue
        if line.quantity > target.quantity:
            refusals.add("plan_quantity_exceeds_product",
                         f"{where}.quantity: plan line {line.id!r} has {line.quantity} unit(s) but "
                         f"protects product line {target.id!r} of {target.quantity}: one plan unit "
                         "covers one product unit")
        taken.add(target.id)
        connections.append(Connection(target.id, line.id))
    refusals.raise_if_any()
    return connections


# -- events on a placed order -----------------------------------------------------------

def apply_event(order: Order, event_type: str, payload: Mapping[str, Any],
                windows: RefundWindows) -> Order:
    """The order after `event_type` (not order_placed); `order` itself is never changed."""
    status_after, refusal = LIFECYCLE[(order.status, event_type)]
    if refusal is not None:
        if refusal == "cancel_decline":
            raise SimError(refusal, f"order {order.order_id!r} is already cancelled")
        raise SimError(refusal, f"order {order.order_id!r} is cancelled and takes no further "
                                "events; place a new order instead")
    updated = copy.deepcopy(order)
    if event_type == "order_fulfillment_added":
        _fulfil(updated, payload["fulfillment_line_items"])
    elif event_type == "order_refund_added":
        _refund(updated, payload["refund_line_items"], windows)
    elif event_type == "order_cancelled":
        _cancel(updated, parse_timestamp(payload["cancelled_at"]))
    assert status_after is not None
    updated.status = status_after
    return updated


def _resolve_items(order: Order, items: Sequence[Mapping[str, Any]], field_name: str,
                   done: Callable[[OrderLine], int], verb: str,
                   refusals: _Refusals) -> list[tuple[int, OrderLine, int, datetime]]:
    """Check every item of an event against the order; (index, line, quantity, time) each."""
    resolved = []
    requested: dict[str, int] = {}
    stamp = "fulfilled_at" if verb == "fulfilled" else "refunded_at"
    for i, item in enumerate(items):
        where = f"payload.{field_name}[{i}]"
        line = order.line(item["line_item_id"])
        if line is None:
            refusals.add("line_item_not_found",
                         f"{where}.line_item_id: order {order.order_id!r} has no line item "
                         f"{item['line_item_id']!r}; use the ids sent in order_placed")
            continue
        requested[line.id] = requested.get(line.id, 0) + item["quantity"]
        remaining = line.quantity - done(line)
        if requested[line.id] > remaining:
            refusals.add("quantity_exceeds_ordered",
                         f"{where}.quantity: line item {line.id!r} was ordered {line.quantity} "
                         f"time(s) and {done(line)} already {verb}; at most {remaining} more can be {verb}")
        resolved.append((i, line, item["quantity"], parse_timestamp(item[stamp])))
    return resolved


def _fulfil(order: Order, items: Sequence[Mapping[str, Any]]) -> None:
    refusals = _Refusals()
    resolved = _resolve_items(order, items, "fulfillment_line_items",
                              lambda l: l.fulfilled_quantity, "fulfilled", refusals)
    refusals.raise_if_any()
    for _, line, quantity, at in resolved:
        line.fulfilled_at.extend([at] * quantity)
        if line.kind != "product":
            continue
        plan_line_id = order.plan_for(line.id)
        pending = [p for p in order.protections
                   if p.plan_line_item_id == plan_line_id and p.status == "pending"]
        for protection in pending[:quantity]:
            protection.status = "active"
            protection.starts_at = at
            protection.ends_at = add_months(at, protection.term_months)


def _refund(order: Order, items: Sequence[Mapping[str, Any]], windows: RefundWindows) -> None:
    refusals = _Refusals()
    resolved = _resolve_items(order, items, "refund_line_items",
                              lambda l: l.refunded_quantity, "refunded", refusals)
    refusals.raise_if_any()
    for _, line, quantity, _at in resolved:
        line.refunded_quantity += quantity
    # Plans second, so that "with its product" sees product units refunded in this event.
    for i, line, quantity, at in resolved:
        if line.kind == "plan":
            _end_protections(order, line, quantity, at, windows,
                             f"payload.refund_line_items[{i}]", refusals)
    refusals.raise_if_any()


def _end_protections(order: Order, plan_line: OrderLine, quantity: int, at: datetime,
                     windows: RefundWindows, where: str, refusals: _Refusals) -> None:
    """Docs: a plan refund ends pending protections before active ones, oldest first."""
    mine = [p for p in order.protections if p.plan_line_item_id == plan_line.id]
    ending = ([p for p in mine if p.status == "pending"] + [p for p in mine if p.status == "active"])[:quantity]
    product_line = order.line(order.product_for(plan_line.id) or "")
    credits = (product_line.refunded_quantity if product_line else 0) - sum(
        1 for p in mine if p.refunded_with_product)
    for protection in ending:
        if protection.status == "active":
            assert protection.starts_at is not None
            with_product = credits > 0
            if with_product:
                credits -= 1
                deadline = add_months(protection.starts_at, windows.with_product_months)
                rule = f"{windows.with_product_months} month(s) after"
            else:
                deadline = protection.starts_at + timedelta(days=windows.plan_alone_days)
                rule = f"{windows.plan_alone_days} day(s) after"
            if at > deadline:
                hint = ("" if with_product else
                        "; refunded together with its product it may be refunded until "
                        + format_timestamp(add_months(protection.starts_at, windows.with_product_months)))
                refusals.add("refund_window_expired",
                             f"{where}: plan line {plan_line.id!r}: the refund window closed at "
                             f"{format_timestamp(deadline)} ({rule} its product unit was fulfilled "
                             f"at {format_timestamp(protection.starts_at)}){hint}")
                continue
            protection.refunded_with_product = with_product
            protection.ends_at = at
        protection.status = "refunded"


def _cancel(order: Order, at: datetime) -> None:
    shipped = [l.id for l in order.lines if l.fulfilled_quantity]
    if shipped:
        raise SimError("cancel_decline",
                       f"order {order.order_id!r} cannot be cancelled: line item(s) "
                       f"{', '.join(map(repr, shipped))} were already fulfilled; refund the "
                       "returned lines with order_refund_added instead")
    order.cancelled_at = at
    for protection in order.protections:
        if protection.status == "pending":
            protection.status = "cancelled"
