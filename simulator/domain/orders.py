"""Orders, order events and protections (docs/contract.md §6).

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
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.domain.carts import Cart, Connection, check_unique_ids
from simulator.domain.errors import Refusals, Rules, SimError
from simulator.domain.matching import Catalog
from simulator.domain.timefmt import add_days, add_months, format_timestamp, parse_timestamp

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

# The simulator's own limit: protections and fulfilments are kept per unit, so the units
# of one order bound what it costs to place, change and read it (docs/fidelity.md).
MAX_ORDER_UNITS = 10_000


@dataclass(frozen=True)
class RefundWindows:
    """Docs: a plan refunded on its own at most 14 days after its product unit shipped;
    refunded with its product, 3 calendar months."""

    plan_alone_days: int = 14
    with_product_months: int = 3


@dataclass(slots=True)
class OrderLine:
    id: str
    product_id: str
    kind: str  # "product" | "plan"
    quantity: int
    price_amount: int
    product_reference: str | None
    # One time per fulfilled or refunded unit; tuples, so that the many lines nothing
    # happened to yet share the one empty tuple.
    fulfilled_at: tuple[datetime, ...] = ()
    refunded_at: tuple[datetime, ...] = ()

    @property
    def fulfilled_quantity(self) -> int:
        return len(self.fulfilled_at)

    @property
    def refunded_quantity(self) -> int:
        return len(self.refunded_at)

    def as_body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "product_id": self.product_id,
            "kind": self.kind,
            "quantity": self.quantity,
            "fulfilled_quantity": self.fulfilled_quantity,
            "refunded_quantity": self.refunded_quantity,
        }


@dataclass(slots=True)
class Protection:
    """One plan unit covering one product unit (docs: a plan covers one item)."""

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
        return {
            "protection_id": self.protection_id,
            "plan_line_item_id": self.plan_line_item_id,
            "product_line_item_id": self.product_line_item_id,
            "merchant_product_id": self.merchant_product_id,
            "status": self.status,
            "starts_at": format_timestamp(self.starts_at),
            "ends_at": format_timestamp(self.ends_at),
        }


@dataclass
class Order:
    """An order, indexed once at placement (line ids and the protections of each line
    never change afterwards), so an event costs what it touches, not the order's size."""

    order_id: str
    status: str
    currency: str
    cart_id: str | None
    placed_at: datetime
    lines: list[OrderLine]
    connections: tuple[Connection, ...]
    protections: list[Protection]
    cancelled_at: datetime | None = None
    billing_country: str | None = None
    units: int = 0  # ordered units, all lines together
    _line_at: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_plan_line: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _by_product_line: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _owned: set[tuple[str, int]] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        self._line_at = {l.id: i for i, l in enumerate(self.lines)}
        by_plan: dict[str, list[int]] = {}
        by_product: dict[str, list[int]] = {}
        for i, p in enumerate(self.protections):
            by_plan.setdefault(p.plan_line_item_id, []).append(i)
            by_product.setdefault(p.product_line_item_id, []).append(i)
        self._by_plan_line = {k: tuple(v) for k, v in by_plan.items()}
        self._by_product_line = {k: tuple(v) for k, v in by_product.items()}

    def line(self, line_id: str) -> OrderLine | None:
        at = self._line_at.get(line_id)
        return None if at is None else self.lines[at]

    def protection_positions(self, *, plan_line: str | None = None, product_line: str | None = None) -> tuple[int, ...]:
        if plan_line is not None:
            return self._by_plan_line.get(plan_line, ())
        assert product_line is not None
        return self._by_product_line.get(product_line, ())

    def protections_of(self, *, plan_line: str | None = None, product_line: str | None = None) -> list[Protection]:
        return [self.protections[i] for i in self.protection_positions(plan_line=plan_line, product_line=product_line)]

    # -- copy on write: an event changes a draft, which replaces the order when accepted --

    def draft(self) -> Order:
        """A copy for an event to change: new lists whose items are shared until
        `own_line` or `own_protection` copies them, so the order itself never changes."""
        new = copy.copy(self)
        new.lines, new.protections, new._owned = list(self.lines), list(self.protections), set()
        return new

    def own_line(self, line_id: str) -> OrderLine:
        at = self._line_at[line_id]
        assert self._owned is not None, "change a draft, not a placed order"
        if ("line", at) not in self._owned:
            self.lines[at] = copy.copy(self.lines[at])
            self._owned.add(("line", at))
        return self.lines[at]

    def own_protection(self, at: int) -> Protection:
        assert self._owned is not None, "change a draft, not a placed order"
        if ("protection", at) not in self._owned:
            self.protections[at] = copy.copy(self.protections[at])
            self._owned.add(("protection", at))
        return self.protections[at]

    def as_body(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "status": self.status,
            "order_currency": self.currency,
            "cart_id": self.cart_id,
            "placed_at": format_timestamp(self.placed_at),
            "cancelled_at": format_timestamp(self.cancelled_at),
            "line_items": [l.as_body() for l in self.lines],
            "protections": [p.as_body() for p in self.protections],
        }

    def connections_body(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "plan_connections": [c.as_body() for c in self.connections]}


# -- placement --------------------------------------------------------------------------


def place_order(
    payload: Mapping[str, Any],
    catalog: Catalog,
    cart: Cart | None,
    new_protection_id: Callable[[], str],
    rules: Rules = Refusals,
) -> Order:
    """A new order from a validated `order_placed` payload; `cart` is the tenant's cart
    named by `cart_id`, if it has one.

    Connections count units (docs: the plans of a product may not outnumber its units):
    each plan line protects one product (by product_id), a product's units may lie on
    several product lines and its plans on several plan lines, and each plan unit is
    given a product unit in line order. Only more plan units than product units, a plan
    line that protects nothing, or a billing country a plan is not sold in is refused.
    """
    check_unique_ids(payload["line_items"], "payload.line_items")
    units = sum(l["quantity"] for l in payload["line_items"])
    if units > MAX_ORDER_UNITS:
        raise SimError(
            "order_too_large",
            f"payload.line_items: the order holds {units} units in all; the simulator keeps at most "
            f"{MAX_ORDER_UNITS} units per order (its own limit, so that one request never costs the "
            "server more than a moment): place smaller test orders",
        )
    # Product ids repeat across lines and orders: one string each (interned) is kept.
    lines = [
        OrderLine(
            id=l["id"],
            product_id=sys.intern(l["product_id"]),
            kind="plan" if catalog.is_plan(l["product_id"]) else "product",
            quantity=l["quantity"],
            price_amount=l["price_amount"],
            product_reference=_interned((l.get("custom_properties") or {}).get("product_reference")),
        )
        for l in payload["line_items"]
    ]
    cart_id = payload.get("cart_id")
    refusals = rules()
    protected = _protected_products(lines, cart_id, cart, refusals)
    refusals.raise_if_any()
    country = payload["customer_billing_address"]["country"]
    for index, line in enumerate(lines):
        plan = catalog.plan(line.product_id)
        if plan is not None and country not in plan.countries:
            refusals.add(
                "location_unsupported",
                f"payload.customer_billing_address.country: plan {plan.merchant_product_id!r} (line "
                f"{line.id!r}, payload.line_items[{index}]) is sold to customers billed in "
                f"{', '.join(map(repr, plan.countries))}, not {country!r}: offer no plan to customers "
                "billed there, and place the order without the plan line",
            )
    refusals.raise_if_any()
    pairs = _assign_units(lines, protected, refusals)
    refusals.raise_if_any()
    by_id = {l.id: l for l in lines}
    protections: list[Protection] = []
    for plan_line_id, product_line_id in pairs:
        plan = catalog.plan(by_id[plan_line_id].product_id)
        assert plan is not None
        protections.append(
            Protection(new_protection_id(), plan_line_id, product_line_id, plan.merchant_product_id, plan.term_months)
        )
    connections = tuple(Connection(product, plan) for plan, product in dict.fromkeys(pairs))
    return Order(
        order_id=payload["order_id"],
        status="placed",
        currency=payload["order_currency"],
        cart_id=cart_id,
        placed_at=parse_timestamp(payload["placed_at"]),
        lines=lines,
        connections=connections,
        protections=protections,
        billing_country=country,
        units=units,
    )


def _interned(text: str | None) -> str | None:
    return None if text is None else sys.intern(text)


def _protected_products(lines: Sequence[OrderLine], cart_id: str | None, cart: Cart | None, refusals: Refusals) -> dict[str, str]:
    """The product_id each plan line protects: through the checked-out cart (the plan's
    cart line by id, else a cart line of the same plan), else its product_reference."""
    products = {l.product_id for l in lines if l.kind == "product"}
    line_ids = {l.id: l for l in lines}
    in_cart: dict[str, str] = {}  # cart plan line id -> protected product_id
    by_plan: dict[str, list[str]] = {}  # plan product_id -> protected product_ids, in cart order
    if cart is not None:
        for c in cart.reconciliation.connections:
            plan_line, product_line = cart.line(c.plan_line_item_id), cart.line(c.product_line_item_id)
            if plan_line and product_line:
                in_cart[plan_line.id] = product_line.product_id
                by_plan.setdefault(plan_line.product_id, []).append(product_line.product_id)
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        if line.kind != "plan":
            continue
        via_cart = in_cart.get(line.id)
        if via_cart not in products:
            via_cart = next((p for p in by_plan.get(line.product_id, ()) if p in products), None)
        target = via_cart or line.product_reference
        if target in products:
            found[line.id] = target
            continue
        refusals.add(
            "plan_not_connected",
            f"payload.line_items[{index}]: plan line {line.id!r} protects no "
            f"product of this order: {_why_unconnected(line, cart_id, cart, line_ids)}",
        )
    return found


def _why_unconnected(line: OrderLine, cart_id: str | None, cart: Cart | None, line_ids: Mapping[str, OrderLine]) -> str:
    reference = line.product_reference
    if reference is not None and reference in line_ids:
        named = line_ids[reference]
        return (
            f"its custom_properties.product_reference {reference!r} is a line id; it takes the protected "
            f"product's product_id ({named.product_id!r})"
        )
    if reference is not None:
        return (
            f"its custom_properties.product_reference is {reference!r}, but no product line of this order has "
            f"product_id {reference!r}: add that product's line, or leave the plan line out"
        )
    if cart_id is None:
        return (
            "it has no custom_properties.product_reference and the order has no cart_id: set "
            "product_reference to the protected product's product_id (needed when the order is not placed "
            "with the cart_id of its checked-out cart)"
        )
    if cart is None:
        return (
            f"cart_id {cart_id!r} names no cart of this key, so the plan can only connect through "
            "custom_properties.product_reference, which it lacks: set it to the protected product's "
            "product_id (or send the cart and its checkout first)"
        )
    return (
        f"in cart {cart_id!r} no plan {line.product_id!r} protects a product that this order has, and the line "
        "has no custom_properties.product_reference: set it to the protected product's product_id"
    )


def _assign_units(lines: Sequence[OrderLine], protected: Mapping[str, str], refusals: Refusals) -> list[tuple[str, str]]:
    """(plan line id, product line id) per plan unit: the plans of a product take its
    units in line order; refused where they outnumber them."""
    units: dict[str, list[OrderLine]] = {}  # product_id -> its product lines, in order
    for l in lines:
        if l.kind == "product":
            units.setdefault(l.product_id, []).append(l)
    wanted: dict[str, list[OrderLine]] = {}
    for l in lines:
        if l.id in protected:
            wanted.setdefault(protected[l.id], []).append(l)
    pairs: list[tuple[str, str]] = []
    for product_id, plan_lines in wanted.items():
        product_lines = units[product_id]
        asked, available = sum(l.quantity for l in plan_lines), sum(l.quantity for l in product_lines)
        if asked > available:
            plan_text = ", ".join(f"{l.id!r} x{l.quantity}" for l in plan_lines)
            product_text = ", ".join(f"{l.id!r} x{l.quantity}" for l in product_lines)
            refusals.add(
                "plan_quantity_exceeds_product",
                f"payload.line_items: {asked} plan unit(s) protect product {product_id!r} (plan lines "
                f"{plan_text}) but the order has {available} unit(s) of it (lines {product_text}): "
                f"one plan unit protects one product unit; remove {asked - available} plan unit(s)",
            )  # (tolerated: the plans take the units there are, in line order)
        free = deque((l.id, l.quantity) for l in product_lines)
        for plan_line in plan_lines:
            needed = plan_line.quantity
            while needed and free:
                product_line, left = free.popleft()
                taken = min(needed, left)
                pairs.extend([(plan_line.id, product_line)] * taken)
                needed -= taken
                if left > taken:
                    free.appendleft((product_line, left - taken))
    return pairs


# -- events on a placed order -----------------------------------------------------------


def apply_event(
    order: Order, event_type: str, payload: Mapping[str, Any], windows: RefundWindows, rules: Rules = Refusals
) -> Order:
    """The order after `event_type` (not order_placed); `order` itself is never changed."""
    status_after, refusal = LIFECYCLE[(order.status, event_type)]
    if refusal is not None:
        if refusal == "cancel_decline":
            rules().refuse(
                SimError(
                    refusal,
                    f"order {order.order_id!r} is already cancelled: "
                    "there is nothing left to cancel, and it takes no further events",
                )
            )
        rules().refuse(
            SimError(refusal, f"order {order.order_id!r} is cancelled and takes no further events; place a new order instead")
        )
        return order  # (tolerated: a cancelled order has nothing left to change)
    updated = order.draft()
    if event_type == "order_fulfillment_added":
        _fulfil(updated, payload["fulfillment_line_items"], rules())
    elif event_type == "order_refund_added":
        _refund(updated, payload["refund_line_items"], windows, rules())
    elif event_type == "order_cancelled":
        _cancel(updated, parse_timestamp(payload["cancelled_at"]), rules())
    assert status_after is not None
    updated.status = status_after
    updated._owned = None  # from here on it is a placed order again
    return updated


def _resolve_items(
    order: Order,
    items: Sequence[Mapping[str, Any]],
    field_name: str,
    done: Callable[[OrderLine], int],
    verb: str,
    refusals: Refusals,
) -> list[tuple[int, OrderLine, int, datetime]]:
    """Check every item of an event against the order; (index, line, quantity, time) each."""
    resolved = []
    requested: dict[str, int] = {}
    stamp = "fulfilled_at" if verb == "fulfilled" else "refunded_at"
    for i, item in enumerate(items):
        where = f"payload.{field_name}[{i}]"
        line = order.line(item["line_item_id"])
        if line is None:
            refusals.add(
                "line_item_not_found",
                f"{where}.line_item_id: order {order.order_id!r} has no line item "
                f"{item['line_item_id']!r}; use the ids sent in order_placed",
            )
            continue
        quantity = item["quantity"]
        already = requested.get(line.id, 0)
        requested[line.id] = already + quantity
        remaining = line.quantity - done(line)
        if requested[line.id] > remaining:
            refusals.add(
                "quantity_exceeds_ordered",
                f"{where}.quantity: line item {line.id!r} was ordered {line.quantity} "
                f"time(s) and {done(line)} already {verb}; at most {remaining} more can be {verb}",
            )
            quantity = max(0, remaining - already)  # (tolerated: what can still apply)
            if not quantity:
                continue
        resolved.append((i, line, quantity, parse_timestamp(item[stamp])))
    return resolved


def _fulfil(order: Order, items: Sequence[Mapping[str, Any]], refusals: Refusals) -> None:
    resolved = _resolve_items(order, items, "fulfillment_line_items", lambda l: l.fulfilled_quantity, "fulfilled", refusals)
    refusals.raise_if_any()
    for _, line, quantity, at in resolved:
        owned = order.own_line(line.id)
        owned.fulfilled_at += (at,) * quantity
        if line.kind != "product":
            continue
        # Docs: the contract starts when the protected unit ships.
        pending = [i for i in order.protection_positions(product_line=line.id) if order.protections[i].status == "pending"]
        for i in pending[:quantity]:
            protection = order.own_protection(i)
            protection.status = "active"
            protection.starts_at = at
            protection.ends_at = add_months(at, protection.term_months)


def _refund(order: Order, items: Sequence[Mapping[str, Any]], windows: RefundWindows, refusals: Refusals) -> None:
    resolved = _resolve_items(order, items, "refund_line_items", lambda l: l.refunded_quantity, "refunded", refusals)
    refusals.raise_if_any()
    for _, line, quantity, at in resolved:
        owned = order.own_line(line.id)
        owned.refunded_at += (at,) * quantity
    # Plans second, so that "with its product" sees product units refunded in this event.
    for i, line, quantity, at in resolved:
        if line.kind == "plan":
            _end_protections(order, order.own_line(line.id), quantity, at, windows, f"payload.refund_line_items[{i}]", refusals)
    refusals.raise_if_any()


def _end_protections(
    order: Order, plan_line: OrderLine, quantity: int, at: datetime, windows: RefundWindows, where: str, refusals: Refusals
) -> None:
    """Docs: a plan refund ends pending protections before active ones, oldest first. An
    active one is refunded "with its product" while its product line has refunded units
    that no other protection was refunded with."""
    mine = order.protection_positions(plan_line=plan_line.id)
    ending = (
        [i for i in mine if order.protections[i].status == "pending"]
        + [i for i in mine if order.protections[i].status == "active"]
    )[:quantity]
    credits: dict[str, int] = {}
    for at_position in ending:
        protection = order.own_protection(at_position)
        if protection.status == "active":
            assert protection.starts_at is not None
            product_line = protection.product_line_item_id
            if product_line not in credits:
                refunded = order.line(product_line)
                credits[product_line] = (refunded.refunded_quantity if refunded else 0) - sum(
                    1 for p in order.protections_of(product_line=product_line) if p.refunded_with_product
                )
            with_product = credits[product_line] > 0
            if with_product:
                credits[product_line] -= 1
                deadline = add_months(protection.starts_at, windows.with_product_months)
                rule = f"{windows.with_product_months} month(s) after"
            else:
                deadline = add_days(protection.starts_at, windows.plan_alone_days)
                rule = f"{windows.plan_alone_days} day(s) after"
            if at > deadline:
                hint = (
                    "; nothing is left to refund for it"
                    if with_product
                    else "; refunded together with its product it may be refunded until "
                    + format_timestamp(add_months(protection.starts_at, windows.with_product_months))
                )
                refusals.add(
                    "refund_window_expired",
                    f"{where}: plan line {plan_line.id!r}: the refund window closed at "
                    f"{format_timestamp(deadline)} ({rule} its product unit was fulfilled "
                    f"at {format_timestamp(protection.starts_at)}){hint}",
                )
                continue
            protection.refunded_with_product = with_product
            protection.ends_at = at
        protection.status = "refunded"


def _cancel(order: Order, at: datetime, refusals: Refusals) -> None:
    shipped = [l.id for l in order.lines if l.fulfilled_quantity]
    if shipped:
        refusals.refuse(
            SimError(
                "cancel_decline",
                f"order {order.order_id!r} cannot be cancelled: line item(s) "
                f"{', '.join(map(repr, shipped))} were already fulfilled; refund the "
                "returned lines with order_refund_added instead",
            )
        )
    order.cancelled_at = at
    for i, protection in enumerate(order.protections):
        if protection.status == "pending":
            order.own_protection(i).status = "cancelled"
