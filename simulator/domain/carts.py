"""Carts: plan connections and reconciliation (docs/contract.md §5).

A plan line is a line whose product_id is a catalog plan. Walking the plan lines in cart
order, each connects to the first not-yet-connected product line whose product_id is
its `custom_properties.product_reference` (docs: one plan per unit, one plan per
product). A plan line that cannot be kept is removed; a kept one follows its product's
quantity. Product lines are never touched and no line is ever added (docs: no
pre-selection), so applying the actions once always converges.

A plan that is removed never takes a product line: a later plan for the same product
still connects, and the cart after the actions connects exactly as before them.

Eligibility is judged on what Hakuna knows of the product (its category and list price,
from a plan look-up or the catalog's product list). A product it knows nothing of is
not judged: its plans are kept (the simulator's rule, so that a shop that caches its
look-ups, or a fresh key, is treated like any other).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from simulator.domain.errors import SimError, invalid
from simulator.domain.matching import Catalog, Plan, Product

# Why a plan line is removed; kept for the conformance report and the dashboard.
NO_REFERENCE = "no_reference"  # no custom_properties.product_reference
PRODUCT_MISSING = "product_missing"  # no product line with the referenced product_id
NOT_ELIGIBLE = "not_eligible"  # the plan does not cover the product (category, currency, band)
MERGED = "merged"  # a plan line split per unit, folded into the plan line its product already has
EXTRA_PLAN = "extra_plan"  # a second plan type, or more plan units than product units
REASON_TEXT = {
    NO_REFERENCE: "it has no custom_properties.product_reference",
    PRODUCT_MISSING: "no product line of the cart has the product_id its product_reference names",
    NOT_ELIGIBLE: "the plan does not cover that product (its category, currency or list-price band)",
    MERGED: "it is folded into the plan line its product already has (one plan line per product line)",
    EXTRA_PLAN: "its product's units already have a plan (a second plan type, or more plan units than product units)",
}


class LineItem(NamedTuple):
    id: str
    product_id: str
    quantity: int
    price_amount: int
    product_reference: str | None = None
    product_title: str | None = None
    product_brand: str | None = None

    @classmethod
    def from_body(cls, line: Mapping[str, Any]) -> LineItem:
        return line_items([line])[0]


def line_items(body_lines: Sequence[Mapping[str, Any]]) -> tuple[LineItem, ...]:
    """A request's (validated) line items as LineItems, their ids unique."""
    make = LineItem._make  # from a tuple: a NamedTuple's keyword-taking __new__ costs twice as much
    lines = []
    for line in body_lines:
        custom = line.get("custom_properties")
        lines.append(
            make(
                (
                    line["id"],
                    line["product_id"],
                    line["quantity"],
                    line["price_amount"],
                    custom.get("product_reference") if custom else None,
                    line.get("product_title"),
                    line.get("product_brand"),
                ),
            )
        )
    if len({line.id for line in lines}) != len(lines):
        check_unique_ids(body_lines)
    return tuple(lines)


class Connection(NamedTuple):
    product_line_item_id: str
    plan_line_item_id: str

    def as_body(self) -> dict[str, str]:
        return {"product_line_item_id": self.product_line_item_id, "plan_line_item_id": self.plan_line_item_id}


REMOVE, UPDATE = "remove_line_item", "update_line_item"


@dataclass(frozen=True)
class Reconciliation:
    connections: tuple[Connection, ...]
    # (REMOVE, line id) or (UPDATE, line id, quantity): a cart keeps its last actions,
    # and tuples of plain values cost a fraction of the answer's dicts.
    steps: tuple[tuple[Any, ...], ...]
    removal_reasons: Mapping[str, str] = field(default_factory=dict)  # plan line id -> reason

    @property
    def actions(self) -> tuple[dict[str, Any], ...]:
        """The actions as the answer's body writes them (the guide's shape)."""
        return tuple(
            {"type": REMOVE, "payload": {"line_item_id": s[1]}}
            if s[0] == REMOVE
            else {"type": UPDATE, "payload": {"line_item_id": s[1], "line_item_quantity": s[2]}}
            for s in self.steps
        )


@dataclass
class Cart:
    cart_id: str
    user_session_id: str
    currency: str
    lines: tuple[LineItem, ...]
    reconciliation: Reconciliation
    order_id: str | None = None  # set by the checkout; the cart is frozen from then on
    # Built when first asked (a checkout, an order): most carts are replaced before.
    _by_id: dict[str, LineItem] | None = field(default=None, init=False, repr=False, compare=False)

    def line(self, line_id: str) -> LineItem | None:
        if self._by_id is None:
            self._by_id = {l.id: l for l in self.lines}
        return self._by_id.get(line_id)


def check_unique_ids(lines: Sequence[Mapping[str, Any]], field_name: str = "line_items") -> None:
    first: dict[str, int] = {}
    problems = []
    for i, line in enumerate(lines):
        if line["id"] in first:
            problems.append(
                f"{field_name}[{i}].id duplicates {field_name}[{first[line['id']]}].id ({line['id']!r}): line ids must be unique"
            )
        first.setdefault(line["id"], i)
    if problems:
        raise invalid(problems)


def reconcile(lines: Sequence[LineItem], catalog: Catalog, known_product: Callable[[str], Product | None]) -> Reconciliation:
    """Connections and the actions that make `lines` a valid cart.

    `known_product` gives the list price and category the tenant told us about (plan
    look-ups or the fixture product list): Hakuna judges eligibility on the list price,
    not on the price the cart line happens to carry.
    """
    # Product lines by product_id, in cart order; each list is consumed front to back as
    # plans connect, so "first not-yet-connected" is the list's head.
    free: dict[str, deque[LineItem]] = {}
    units: dict[str, int] = {}  # product_id -> units of its product lines
    plan_units: dict[str, int] = {}  # product_reference -> units of plan lines naming it
    planned: list[tuple[LineItem, Plan]] = []
    plan_of = catalog.plan_index.get
    connection = Connection._make
    for l in lines:
        product_id = l.product_id
        plan = plan_of(product_id)
        if plan is None:
            queue = free.get(product_id)
            if queue is None:
                queue = free[product_id] = deque()
            queue.append(l)
            units[product_id] = units.get(product_id, 0) + l.quantity
        else:
            planned.append((l, plan))
            reference = l.product_reference
            if reference:
                plan_units[reference] = plan_units.get(reference, 0) + l.quantity
    connections: list[Connection] = []
    steps: list[tuple[Any, ...]] = []
    reasons: dict[str, str] = {}
    connected_plan: dict[str, set[str]] = {}  # product_id -> plan types connected to it
    eligible: dict[tuple[str, str], bool] = {}  # (product_id, plan) -> whether the plan covers it

    for line, plan in planned:
        reason = None
        target = None
        reference = line.product_reference
        if not reference:
            reason = NO_REFERENCE
        elif reference not in free:
            reason = PRODUCT_MISSING
        else:
            judged = (reference, plan.merchant_product_id)
            covered = eligible.get(judged)
            if covered is None:
                product = known_product(reference)
                covered = eligible[judged] = product is None or plan.price_for(product) is not None
            if not covered:
                reason = NOT_ELIGIBLE
            elif free[reference]:
                target = free[reference].popleft()
                types = connected_plan.get(reference)
                if types is None:
                    connected_plan[reference] = {plan.merchant_product_id}
                else:
                    types.add(plan.merchant_product_id)
            elif connected_plan.get(reference) == {plan.merchant_product_id} and plan_units[reference] <= units[reference]:
                reason = MERGED
            else:
                reason = EXTRA_PLAN
        if target is None:
            reasons[line.id] = reason or EXTRA_PLAN
            steps.append((REMOVE, line.id))
            continue
        connections.append(connection((target.id, line.id)))
        if line.quantity != target.quantity:
            steps.append((UPDATE, line.id, target.quantity))
    return Reconciliation(tuple(connections), tuple(steps), reasons)


def apply_actions(lines: Sequence[LineItem], actions: Sequence[Mapping[str, Any]]) -> list[LineItem]:
    """The cart a shop has after carrying out `actions` (used by tests and the reference merchant)."""
    removed = {a["payload"]["line_item_id"] for a in actions if a["type"] == "remove_line_item"}
    quantity = {
        a["payload"]["line_item_id"]: a["payload"]["line_item_quantity"] for a in actions if a["type"] == "update_line_item"
    }
    out = []
    for line in lines:
        if line.id in removed:
            continue
        if line.id in quantity:
            line = line._replace(quantity=quantity[line.id])
        out.append(line)
    return out


def frozen_cart_error(cart: Cart) -> SimError:
    return SimError(
        "cart_checked_out",
        f"cart {cart.cart_id!r} was checked out as order {cart.order_id!r} and can no "
        "longer change: start a new cart with a new cart_id",
    )
