"""Deliberately wrong merchant integrations: each is the reference merchant with one
mistake, and must raise its conformance rule; the correct reference merchant raises
none. They run over a socket against the plugin's background simulator, a fresh key each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contract_tests import models as m
from contract_tests.client import HakunaClient, RetryPolicy
from contract_tests.flows.conftest import CASE, IPHONE, PRODUCTS
from contract_tests.merchant import CartLine, Erp, Storefront
from contract_tests.plugin import Target
from simulator.conformance import RULES

T_PLACED, T_SHIPPED, T_RETURNED = "2024-06-01T10:00:00.000Z", "2024-06-02T10:00:00.000Z", "2024-06-10T10:00:00.000Z"


def reference_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """The guide's whole journey: product page, cart with quantity change and cart-page
    opt-in, checkout, placement, shipping, a return."""
    phone = shop.add(IPHONE, 1, plan=shop.product_page(IPHONE).plans[0])
    case = shop.add(CASE)
    shop.change_quantity(phone, 2)
    spare = shop.add(IPHONE, 1)
    for line_id, offer in shop.opt_in_offers().items():
        shop.protect(line_id, offer.plans[0])
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at=T_PLACED)
    erp.ship(order_id, {phone: 2, case: 1, spare: 1}, at=T_SHIPPED)
    erp.refund(order_id, {phone: 1}, at=T_RETURNED)


# -- one mistake each --------------------------------------------------------------------

class PlanWithoutReference(Storefront):
    def _add_plan_line(self, product_id: str, plan: m.Plan, quantity: int) -> CartLine:
        line = super()._add_plan_line(product_id, plan, quantity)
        line.protects = None
        return line


class IgnoresActions(Storefront):
    def sync(self) -> list[Any]:
        self.client.update_cart(m.CartUpdate(cart_id=self.cart_id, user_session_id=self.user_session_id,
                                             cart_currency=self.currency,
                                             line_items=[l.as_model() for l in self.lines]))
        return []


class OwnPlanPrice(Storefront):
    def _add_plan_line(self, product_id: str, plan: m.Plan, quantity: int) -> CartLine:
        line = super()._add_plan_line(product_id, plan, quantity)
        line.price_amount = 2000  # the guide's cart example, not what the look-up offered
        return line


class NeverChecksOut(Storefront):
    def check_out(self, order_id: str) -> m.Checkout:
        return m.Checkout(cart_id=self.cart_id, user_session_id=self.user_session_id, order_id=order_id)


class OrdersOtherQuantities(Erp):
    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        lines = [l.model_copy(update={"quantity": l.quantity + 1}) if l.product_id == CASE.id else l for l in lines]
        return super().place(order_id, lines, **kw)


class NeverPlaces(Erp):
    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        return "evt-not-sent"

    def ship(self, order_id: str, quantities: Any, at: str | None = None) -> str:
        return "evt-not-sent"

    def refund(self, order_id: str, quantities: Any, at: str | None = None) -> str:
        return "evt-not-sent"


class RefundsWithoutPlans(Erp):
    def _with_plans(self, order_id: str, quantities: Any, done_field: str) -> dict[str, int]:
        if done_field == "refunded_quantity":
            return dict(quantities)
        return super()._with_plans(order_id, quantities, done_field)


class ShipsPlansFirst(Erp):
    def ship(self, order_id: str, quantities: Any, at: str | None = None) -> str:
        everything = self._with_plans(order_id, quantities, "fulfilled_quantity")
        plans = {k: v for k, v in everything.items() if k not in quantities}
        self.client.publish_event(m.OrderFulfillmentAdded(payload=m.FulfillmentPayload(
            order_id=order_id, fulfillment_line_items=[
                m.FulfilledLine(line_item_id=i, quantity=q, fulfilled_at=at or T_SHIPPED) for i, q in plans.items()])))
        return self.client.publish_event(m.OrderFulfillmentAdded(payload=m.FulfillmentPayload(
            order_id=order_id, fulfillment_line_items=[
                m.FulfilledLine(line_item_id=i, quantity=q, fulfilled_at=at or T_SHIPPED)
                for i, q in quantities.items()]))).event_id


class CancelsAfterShipping(Erp):
    def refund(self, order_id: str, quantities: Any, at: str | None = None) -> str:
        try:
            self.cancel(order_id, at=at)
        except Exception:
            pass  # the mistake: cancelling a shipped order instead of refunding the return
        return "evt-refused"


class _Rewrite(httpx.BaseTransport):
    """A client transport that changes every request as `change` says."""

    def __init__(self, change: Callable[[httpx.Request], httpx.Request]):
        self._inner = httpx.HTTPTransport()
        self._change = change

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(self._change(request))

    def close(self) -> None:
        self._inner.close()


def _guide_bearer(request: httpx.Request) -> httpx.Request:
    key = request.headers.pop("Authorization").removeprefix("Bearer ")
    request.headers["Bearer"] = key
    return request


def _guide_url(request: httpx.Request) -> httpx.Request:
    if request.method == "POST":
        return httpx.Request("POST", request.url.copy_with(path="/sandbox/orders"), headers=request.headers,
                             content=request.content)
    return request


def _no_key(request: httpx.Request) -> httpx.Request:
    request.headers.pop("Hakuna-Idempotency-Key", None)
    return request


@dataclass(frozen=True)
class Merchant:
    storefront: type[Storefront] = Storefront
    erp: type[Erp] = Erp
    client: dict[str, Any] | None = None
    faults: tuple[dict[str, Any], ...] = ()


BROKEN: dict[str, Merchant] = {
    "auth-bearer-header": Merchant(client={"transport": _Rewrite(_guide_bearer)}),
    "guide-orders-url": Merchant(client={"transport": _Rewrite(_guide_url)}),
    "missing-hakuna-version": Merchant(client={"version": None}),
    "refused-request": Merchant(erp=CancelsAfterShipping),
    "plan-line-without-reference": Merchant(storefront=PlanWithoutReference),
    "pending-cart-actions": Merchant(storefront=IgnoresActions),
    "plan-not-offered": Merchant(storefront=OwnPlanPrice),
    "order-differs-from-cart": Merchant(erp=OrdersOtherQuantities),
    "checkout-without-order": Merchant(erp=NeverPlaces),
    "order-without-checkout": Merchant(storefront=NeverChecksOut),
    "product-refunded-without-plan": Merchant(erp=RefundsWithoutPlans),
    "plan-fulfilled-before-product": Merchant(erp=ShipsPlansFirst),
    "retry-without-idempotency-key": Merchant(
        client={"transport": _Rewrite(_no_key), "retry": RetryPolicy(attempts=3, base_delay=0.001)},
        faults=({"route": "/sandbox/events", "status": 503, "count": 1},)),
}


def run(merchant: Merchant, target: Target) -> dict[str, Any]:
    assert target.controls is not None
    if merchant.faults:
        target.controls.set_faults(*merchant.faults)
    with HakunaClient(target.base_url, target.api_key, **(merchant.client or {})) as client:
        shop = merchant.storefront(client, cart_id="cart-1", user_session_id="session-1", products=PRODUCTS)
        reference_flow(shop, merchant.erp(client), "ord-1")
    report: dict[str, Any] = target.controls.report()
    return report


def test_every_rule_has_a_broken_merchant() -> None:
    assert set(BROKEN) == {rule.id for rule in RULES}


def test_the_reference_merchant_gets_an_empty_report(hakuna_sim: Target) -> None:
    report = run(Merchant(), hakuna_sim)
    assert report["findings"] == [], report["findings"]
    assert report["summary"] == {"errors": 0, "warnings": 0, "rules_checked": len(RULES), "journal_dropped": 0}


@pytest.mark.parametrize("rule_id", sorted(BROKEN))
def test_each_broken_merchant_raises_its_rule(hakuna_sim: Target, rule_id: str) -> None:
    report = run(BROKEN[rule_id], hakuna_sim)
    found = {f["rule_id"] for f in report["findings"]}
    assert rule_id in found, report["findings"]
    finding = next(f for f in report["findings"] if f["rule_id"] == rule_id)
    assert finding["request_ids"] and finding["message"]
    journal_ids = {e["request_id"] for e in hakuna_sim.controls.journal()["entries"]}  # type: ignore[union-attr]
    assert set(finding["request_ids"]) <= journal_ids
