"""The reference merchant: a storefront and an ERP integrated with Hakuna exactly as the
integration guide asks, built only on `HakunaClient`. Read it as the worked example for
writing your own integration; the contract tests drive it through every scenario.

Storefront (guide: "E-commerce integration")
  - product page: look up the plan for a product and offer it as an opt-in;
  - cart: every change is sent to Hakuna as the whole cart, and the actions that come
    back are carried out and sent again until none remain;
  - cart page: products without a plan are offered their plans again;
  - checkout: tell Hakuna which order the cart became.
ERP (guide: "ERP integration")
  - publish order_placed, and fulfilment, refund and cancellation events; plans ship
    and are refunded with the products they protect, found through the order's
    plan connections.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from contract_tests import models as m
from contract_tests.client import BadRequest, HakunaClient


class NotConverging(Exception):
    """The server kept answering cart actions: a cart must be reconciled in a few rounds."""


@dataclass(frozen=True)
class ShopProduct:
    """A product of the shop's own catalog, with its list price."""

    id: str
    category: str
    title: str
    brand: str
    price_amount: int
    currency: str = "eur"


@dataclass
class CartLine:
    id: str
    product_id: str
    quantity: int
    price_amount: int
    title: str
    brand: str
    protects: str | None = None  # the protected product's id, for a plan line

    def as_model(self) -> m.LineItem:
        custom = m.CustomProperties(product_reference=self.protects) if self.protects else None
        return m.LineItem(
            id=self.id,
            quantity=self.quantity,
            price_amount=self.price_amount,
            product_id=self.product_id,
            product_title=self.title,
            product_brand=self.brand,
            custom_properties=custom,
        )


@dataclass
class Storefront:
    client: HakunaClient
    cart_id: str
    user_session_id: str
    products: Mapping[str, ShopProduct]
    currency: str = "eur"
    max_rounds: int = 5
    lines: list[CartLine] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- product page -------------------------------------------------------------------

    def product_page(self, product: ShopProduct) -> list[m.Plan]:
        """The plans to offer next to `product` (guide: "On the product detail page"); none
        when Hakuna protects no such product (docs: 400 `product_unsupported`)."""
        try:
            return self.client.look_up_plans(
                m.PlanQuery(
                    product_id=product.id,
                    product_category=product.category,
                    product_title=product.title,
                    product_brand=product.brand,
                    product_price_amount=product.price_amount,
                    product_price_currency=product.currency,
                    user_session_id=self.user_session_id,
                )
            ).plans
        except BadRequest as refused:
            if refused.error_code == "product_unsupported":
                return []
            raise

    def add(self, product: ShopProduct, quantity: int = 1, plan: m.Plan | None = None) -> str:
        """Add a product, and its plan if the customer opted in; answers the product line id.
        Guide: "you must also add the selected plan as a line item to the cart, with a
        reference to the protected product as a custom property"."""
        line = CartLine(self._next_id(), product.id, quantity, product.price_amount, product.title, product.brand)
        self.lines.append(line)
        if plan is not None:
            self._add_plan_line(product.id, plan, quantity)
        self.sync()
        return line.id

    # -- cart ---------------------------------------------------------------------------

    def change_quantity(self, line_id: str, quantity: int) -> None:
        self._line(line_id).quantity = quantity
        self.sync()

    def remove(self, line_id: str) -> None:
        self.lines.remove(self._line(line_id))
        self.sync()

    def connections(self) -> list[m.PlanConnection]:
        """Which plan line protects which product line (guide: "In the cart")."""
        return self.client.cart_connections(self.cart_id, self.user_session_id).plan_connections

    def opt_in_offers(self) -> dict[str, list[m.Plan]]:
        """Plans to offer next to each unprotected product line of the cart page."""
        protected = {c.product_line_item_id for c in self.connections()}
        offers = {}
        for line in self.lines:
            if line.protects is not None or line.id in protected or line.product_id not in self.products:
                continue
            plans = self.product_page(self.products[line.product_id])
            if plans:
                offers[line.id] = plans
        return offers

    def protect(self, product_line_id: str, plan: m.Plan) -> str:
        """The customer opted in on the cart page: add the plan line for that product."""
        product_line = self._line(product_line_id)
        plan_line = self._add_plan_line(product_line.product_id, plan, product_line.quantity)
        self.sync()
        return plan_line.id

    def sync(self) -> list[m.UpdateLineItem | m.RemoveLineItem]:
        """Notify Hakuna of the cart and carry out its actions until none remain
        (guide: "Manage your cart"). Answers every action carried out."""
        done: list[m.UpdateLineItem | m.RemoveLineItem] = []
        for _ in range(self.max_rounds):
            answer = self.client.update_cart(
                m.CartUpdate(
                    cart_id=self.cart_id,
                    user_session_id=self.user_session_id,
                    cart_currency=self.currency,
                    line_items=[l.as_model() for l in self.lines],
                )
            )
            if not answer.actions:
                return done
            for action in answer.actions:
                if isinstance(action, m.UpdateLineItem):
                    self._line(action.payload.line_item_id).quantity = action.payload.line_item_quantity
                else:
                    self.lines.remove(self._line(action.payload.line_item_id))
            done.extend(answer.actions)
        raise NotConverging(f"cart {self.cart_id} still had actions after {self.max_rounds} rounds")

    # -- checkout -----------------------------------------------------------------------

    def check_out(self, order_id: str) -> m.Checkout:
        """Guide: "Notify Hakuna of a successful checkout"."""
        return self.client.check_out(m.Checkout(cart_id=self.cart_id, user_session_id=self.user_session_id, order_id=order_id))

    def order_lines(self) -> list[m.LineItem]:
        return [l.as_model() for l in self.lines]

    # -- helpers ------------------------------------------------------------------------

    def _add_plan_line(self, product_id: str, plan: m.Plan, quantity: int) -> CartLine:
        title = next(iter(plan.title.values()))
        line = CartLine(
            self._next_id(), plan.merchant_product_id, quantity, plan.price_amount, title, "Hakuna", protects=product_id
        )
        self.lines.append(line)
        return line

    def _line(self, line_id: str) -> CartLine:
        return next(l for l in self.lines if l.id == line_id)

    def _next_id(self) -> str:
        return f"{self.cart_id}-line-{next(self._numbers)}"


MAX = m.Customer(first_name="Max", last_name="Mustermann", email="max.mustermann@example.com")
MUSTERSTADT = m.BillingAddress(address_line_1="Musterstrasse", address_line_2="1", city="Musterstadt", country="de", zip="123456")


def now() -> str:
    return m.timestamp(datetime.now(UTC))


@dataclass
class Erp:
    client: HakunaClient

    def place(
        self,
        order_id: str,
        lines: Sequence[m.LineItem],
        *,
        cart_id: str | None = None,
        currency: str = "eur",
        customer: m.Customer = MAX,
        address: m.BillingAddress = MUSTERSTADT,
        placed_at: str | None = None,
    ) -> str:
        """Guide: "Publish order placement events". Answers the event id."""
        return self.client.publish_event(
            m.OrderPlaced(
                payload=m.OrderPlacedPayload(
                    order_id=order_id,
                    placed_at=placed_at or now(),
                    order_currency=currency,
                    cart_id=cart_id,
                    customer=customer,
                    customer_billing_address=address,
                    line_items=list(lines),
                )
            )
        ).event_id

    def ship(self, order_id: str, quantities: Mapping[str, int], at: str | None = None) -> str:
        """Fulfil product lines, and with each the plan that protects it (the guide: "it
        may make sense to have your ERP system automatically fulfill them")."""
        items = self._with_plans(order_id, quantities, "fulfilled_quantity")
        return self.client.publish_event(
            m.OrderFulfillmentAdded(
                payload=m.FulfillmentPayload(
                    order_id=order_id,
                    fulfillment_line_items=[
                        m.FulfilledLine(line_item_id=i, quantity=q, fulfilled_at=at or now()) for i, q in items.items()
                    ],
                )
            )
        ).event_id

    def refund(self, order_id: str, quantities: Mapping[str, int], at: str | None = None) -> str:
        """Refund returned product lines, and with each the plan that protects it (the
        guide: "Whenever a protected product is refunded, you must also refund the
        protection plan associated with that product")."""
        items = self._with_plans(order_id, quantities, "refunded_quantity")
        return self.client.publish_event(
            m.OrderRefundAdded(
                payload=m.RefundPayload(
                    order_id=order_id,
                    refund_line_items=[
                        m.RefundedLine(line_item_id=i, quantity=q, refunded_at=at or now()) for i, q in items.items()
                    ],
                )
            )
        ).event_id

    def refund_plan(self, order_id: str, plan_line_id: str, quantity: int = 1, at: str | None = None) -> str:
        """The customer gave back the protection alone (the product stays): refund the plan
        line only, inside its window (docs: 14 days after the product shipped)."""
        return self.client.publish_event(
            m.OrderRefundAdded(
                payload=m.RefundPayload(
                    order_id=order_id,
                    refund_line_items=[m.RefundedLine(line_item_id=plan_line_id, quantity=quantity, refunded_at=at or now())],
                )
            )
        ).event_id

    def cancel(self, order_id: str, at: str | None = None) -> str:
        """Guide: "Publish order cancellation events"."""
        return self.client.publish_event(
            m.OrderCancelled(payload=m.CancellationPayload(order_id=order_id, cancelled_at=at or now()))
        ).event_id

    def _with_plans(self, order_id: str, quantities: Mapping[str, int], done_field: str) -> dict[str, int]:
        """The product lines asked for, plus their connected plan lines (as many units as
        remain, at most as many as the product's)."""
        connections = self.client.order_connections(order_id).plan_connections
        order = self.client.get_order(order_id)
        items = dict(quantities)
        for c in connections:
            if c.product_line_item_id in quantities and c.plan_line_item_id not in items:
                plan = order.line(c.plan_line_item_id)
                remaining = plan.quantity - getattr(plan, done_field)
                units = min(quantities[c.product_line_item_id], remaining)
                if units > 0:
                    items[c.plan_line_item_id] = units
        return items
