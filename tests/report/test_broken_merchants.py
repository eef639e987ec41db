"""The report's recall and precision, proven on whole merchants.

Deliberately wrong integrations, each the reference merchant with one mistake, must get
exactly the finding that names it; correct integrations, the reference merchant and
unusual but legal ones (cached look-ups, plans split per unit, coupons at checkout,
renumbered ERP lines, a refund after the plan's window, a product taken out of the
cart), must get none. They run over a socket against the plugin's background simulator,
a fresh key each."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contract_tests import models as m
from contract_tests.client import BadRequest, HakunaClient, RetryPolicy
from contract_tests.flows.conftest import CASE, IPHONE, PRODUCTS
from contract_tests.merchant import MUSTERSTADT, CartLine, Erp, ShopProduct, Storefront
from contract_tests.plugin import Target
from simulator.report.rules import RULES

T_PLACED, T_SHIPPED, T_RETURNED = "2024-06-01T10:00:00.000Z", "2024-06-02T10:00:00.000Z", "2024-06-10T10:00:00.000Z"


def reference_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """The guide's whole journey: product page, cart with quantity change and cart-page
    opt-in, checkout, placement, shipping, a return."""
    phone = shop.add(IPHONE, 1, plan=shop.product_page(IPHONE)[0])
    case = shop.add(CASE)
    shop.change_quantity(phone, 2)
    spare = shop.add(IPHONE, 1)
    for line_id, offer in shop.opt_in_offers().items():
        shop.protect(line_id, offer[0])
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
        self.client.update_cart(
            m.CartUpdate(
                cart_id=self.cart_id,
                user_session_id=self.user_session_id,
                cart_currency=self.currency,
                line_items=[l.as_model() for l in self.lines],
            )
        )
        return []


class OwnPlanPrice(Storefront):
    def _add_plan_line(self, product_id: str, plan: m.Plan, quantity: int) -> CartLine:
        line = super()._add_plan_line(product_id, plan, quantity)
        line.price_amount = 2000  # the guide's cart example, not what the look-up offered
        return line


class ReferencesLineIds(Storefront):
    """Sets product_reference to the product's line id, and follows the removal."""

    def _add_plan_line(self, product_id: str, plan: m.Plan, quantity: int) -> CartLine:
        line = super()._add_plan_line(product_id, plan, quantity)
        line.protects = next(l.id for l in self.lines if l.product_id == product_id)
        return line


class OffersEveryPlanEverywhere(Storefront):
    """Offers the phone's plan next to the phone case too, and follows the removal."""

    def opt_in_offers(self) -> dict[str, list[m.Plan]]:
        plan = self.product_page(IPHONE)[0]
        return {l.id: [plan] for l in self.lines if l.product_id == CASE.id}


class TwoPlanTypes(Storefront):
    """Adds both phone plans for one phone."""

    def add(self, product: ShopProduct, quantity: int = 1, plan: m.Plan | None = None) -> str:
        line_id = super().add(product, quantity, plan)
        if plan is not None:
            self._add_plan_line(product.id, plan.model_copy(update={"merchant_product_id": "pl-prd-hakuna-phone-2y"}), quantity)
            self.sync()
        return line_id


class NeverChecksOut(Storefront):
    def check_out(self, order_id: str) -> m.Checkout:
        return m.Checkout(cart_id=self.cart_id, user_session_id=self.user_session_id, order_id=order_id)


def erp_only_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """The ERP-only path: an order placed without a cart, its plan connected through
    product_reference; then shipped."""
    lines = [
        m.LineItem(id="l-phone", quantity=1, price_amount=IPHONE.price_amount, product_id=IPHONE.id),
        m.LineItem(
            id="l-plan",
            quantity=1,
            price_amount=1200,
            product_id="pl-prd-hakuna",
            custom_properties=m.CustomProperties(product_reference=IPHONE.id),
        ),
        m.LineItem(id="l-case", quantity=1, price_amount=CASE.price_amount, product_id=CASE.id),
    ]
    erp.place(order_id, lines, placed_at=T_PLACED)
    erp.ship(order_id, {"l-phone": 1, "l-case": 1}, at=T_SHIPPED)


class TvPlanOnTheCase(Erp):
    """Puts a 3-year TV plan, at one cent, on the phone case."""

    address = MUSTERSTADT

    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        plan = m.LineItem(
            id="tv-plan",
            quantity=1,
            price_amount=1,
            product_id="pl-prd-hakuna-tv-3y",
            custom_properties=m.CustomProperties(product_reference=CASE.id),
        )
        return super().place(order_id, [*lines, plan], address=self.address, **kw)


class BillsTheUs(TvPlanOnTheCase):
    """The same order, billed to the US, where no plan is sold: refused (location_unsupported)."""

    address = MUSTERSTADT.model_copy(update={"country": "us"})

    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        try:
            return super().place(order_id, lines, **kw)
        except BadRequest:
            return "evt-refused"

    def ship(self, order_id: str, quantities: Any, at: str | None = None) -> str:
        return "evt-not-sent"


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
        self.client.publish_event(
            m.OrderFulfillmentAdded(
                payload=m.FulfillmentPayload(
                    order_id=order_id,
                    fulfillment_line_items=[
                        m.FulfilledLine(line_item_id=i, quantity=q, fulfilled_at=at or T_SHIPPED) for i, q in plans.items()
                    ],
                )
            )
        )
        return self.client.publish_event(
            m.OrderFulfillmentAdded(
                payload=m.FulfillmentPayload(
                    order_id=order_id,
                    fulfillment_line_items=[
                        m.FulfilledLine(line_item_id=i, quantity=q, fulfilled_at=at or T_SHIPPED) for i, q in quantities.items()
                    ],
                )
            )
        ).event_id


class ShipsInLocalTime(Erp):
    """Sends Berlin wall-clock time labelled Z: its shipment reads as 90 minutes before the order."""

    def ship(self, order_id: str, quantities: Any, at: str | None = None) -> str:
        return super().ship(order_id, quantities, at="2024-06-01T08:30:00.000Z")


def late_checkout_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """The ERP's queue delivers order_placed before the storefront's checkout arrives."""
    phone = shop.add(IPHONE, 1, plan=shop.product_page(IPHONE)[0])
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at=T_PLACED)
    shop.check_out(order_id)
    erp.ship(order_id, {phone: 1}, at=T_SHIPPED)


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
        return httpx.Request(
            "POST", request.url.copy_with(path="/sandbox/orders"), headers=request.headers, content=request.content
        )
    return request


def _no_key(request: httpx.Request) -> httpx.Request:
    request.headers.pop("Hakuna-Idempotency-Key", None)
    return request


def _new_key_each_attempt(request: httpx.Request) -> httpx.Request:
    if "Hakuna-Idempotency-Key" in request.headers:
        request.headers["Hakuna-Idempotency-Key"] = str(uuid.uuid4())
    return request


def _fractional_quantities(request: httpx.Request) -> httpx.Request:
    if request.method != "POST":
        return request
    body = re.sub(rb'"quantity":(\d+)', rb'"quantity":\1.0', request.content)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request("POST", request.url, headers=headers, content=body)


@dataclass(frozen=True)
class Merchant:
    storefront: type[Storefront] = Storefront
    erp: type[Erp] = Erp
    client: dict[str, Any] | None = None
    faults: tuple[dict[str, Any], ...] = ()
    flow: Callable[[Storefront, Erp, str], None] = reference_flow


_RETRY = RetryPolicy(attempts=3, base_delay=0.001)
_ONE_503 = ({"route": "/sandbox/events", "status": 503, "count": 1},)

# One mistake each, and the one rule that must name it.
BROKEN: dict[str, tuple[str, Merchant]] = {
    "guide Bearer: header": ("auth-bearer-header", Merchant(client={"transport": _Rewrite(_guide_bearer)})),
    "every POST to /sandbox/orders": ("guide-orders-url", Merchant(client={"transport": _Rewrite(_guide_url)})),
    "no Hakuna-Version": ("missing-hakuna-version", Merchant(client={"version": None})),
    "quantities written 1.0": ("integral-number", Merchant(client={"transport": _Rewrite(_fractional_quantities)})),
    "cancels a shipped order": ("refused-request", Merchant(erp=CancelsAfterShipping)),
    "TV plan on the case, billed to the US": ("refused-request", Merchant(erp=BillsTheUs, flow=erp_only_flow)),
    "plan without reference": ("plan-line-without-reference", Merchant(storefront=PlanWithoutReference)),
    "reference names a line id": ("protection-lost", Merchant(storefront=ReferencesLineIds)),
    "phone plan offered for the case": ("protection-lost", Merchant(storefront=OffersEveryPlanEverywhere)),
    "two plan types for one phone": ("protection-lost", Merchant(storefront=TwoPlanTypes)),
    "ignores cart actions": ("pending-cart-actions", Merchant(storefront=IgnoresActions)),
    "own plan price": ("plan-mispriced", Merchant(storefront=OwnPlanPrice)),
    "TV plan at one cent on the case": ("order-plan-not-eligible", Merchant(erp=TvPlanOnTheCase, flow=erp_only_flow)),
    "orders other quantities": ("order-differs-from-cart", Merchant(erp=OrdersOtherQuantities)),
    "never places the order": ("checkout-without-order", Merchant(erp=NeverPlaces)),
    "never checks out": ("order-without-checkout", Merchant(storefront=NeverChecksOut)),
    "refunds products without plans": ("product-refunded-without-plan", Merchant(erp=RefundsWithoutPlans)),
    "ships plans first": ("plan-fulfilled-before-product", Merchant(erp=ShipsPlansFirst)),
    "ships in local time labelled Z": ("event-before-order-placed", Merchant(erp=ShipsInLocalTime)),
    "places the order before its checkout": ("order-before-checkout", Merchant(flow=late_checkout_flow)),
    "retries without a key": (
        "retry-without-idempotency-key",
        Merchant(client={"transport": _Rewrite(_no_key), "retry": _RETRY}, faults=_ONE_503),
    ),
    "retries with a new key": (
        "retry-without-idempotency-key",
        Merchant(client={"transport": _Rewrite(_new_key_each_attempt), "retry": _RETRY}, faults=_ONE_503),
    ),
}


# -- correct but unusual ------------------------------------------------------------------


class CachedLookUps(Storefront):
    """Never looks up: offers plans from its own cache (built once, elsewhere)."""

    CACHE = {
        IPHONE.id: [
            m.Plan(
                merchant_product_id="pl-prd-hakuna",
                price_amount=1200,
                price_currency="eur",
                product_reference=IPHONE.id,
                title={"de": "1 Jahr Garantieerweiterung"},
                insurance_details_url="https://hellohakuna.com/plan-details",
            )
        ]
    }

    def product_page(self, product: ShopProduct) -> list[m.Plan]:
        return list(self.CACHE.get(product.id, []))


class PlanLinePerUnit(Storefront):
    """Adds one plan line per protected unit; Hakuna's merge actions fold them."""

    def _add_plan_line(self, product_id: str, plan: m.Plan, quantity: int) -> CartLine:
        line = super()._add_plan_line(product_id, plan, 1)
        for _ in range(quantity - 1):
            super()._add_plan_line(product_id, plan, 1)
        return line


class _OwnLineIds(Erp):
    """An ERP with its own order line ids: ships and refunds the shop's cart lines
    under them (`ids`: cart line id -> its order line ids, one per unit or one in all)."""

    ids: dict[str, list[str]]

    def _own(self, quantities: Mapping[str, int]) -> dict[str, int]:
        own: dict[str, int] = {}
        for cart_line, quantity in quantities.items():
            targets = self.ids[cart_line]
            for n in range(quantity if len(targets) > 1 else 1):
                own[targets[n]] = own.get(targets[n], 0) + (1 if len(targets) > 1 else quantity)
        return own

    def ship(self, order_id: str, quantities: Mapping[str, int], at: str | None = None) -> str:
        return super().ship(order_id, self._own(quantities), at)

    def refund(self, order_id: str, quantities: Mapping[str, int], at: str | None = None) -> str:
        return super().refund(order_id, self._own(quantities), at)


class SplitsOrderLinesPerUnit(_OwnLineIds):
    """Books every unit on its own order line, under its own ids."""

    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        self.ids = {l.id: [f"{l.id}-u{n}" for n in range(l.quantity)] for l in lines}
        split = [l.model_copy(update={"id": unit, "quantity": 1}) for l in lines for unit in self.ids[l.id]]
        return super().place(order_id, split, **kw)


class Coupons(Erp):
    """A 10% coupon on products at checkout; plans are never discounted."""

    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        return super().place(
            order_id,
            [
                l if l.product_id.startswith("pl-") else l.model_copy(update={"price_amount": l.price_amount * 9 // 10})
                for l in lines
            ],
            **kw,
        )


class RenumbersLines(_OwnLineIds):
    """The ERP gives order lines its own ids and no product_reference (plans connect
    through the checked-out cart, by product ids)."""

    def place(self, order_id: str, lines: Any, **kw: Any) -> str:
        self.ids = {l.id: [f"erp-{n}"] for n, l in enumerate(lines)}
        return super().place(
            order_id, [l.model_copy(update={"id": self.ids[l.id][0], "custom_properties": None}) for l in lines], **kw
        )


def two_phones_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """Two protected phones added at once, shipped, one returned with its plan."""
    phone = shop.add(IPHONE, 2, plan=shop.product_page(IPHONE)[0])
    shop.add(CASE)
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at=T_PLACED)
    erp.ship(order_id, {phone: 2}, at=T_SHIPPED)
    erp.refund(order_id, {phone: 1}, at=T_RETURNED)


def late_return_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """The phone comes back four months after shipping: its plan's window has closed
    (3 months with its product), so only the product is refunded."""
    phone = shop.add(IPHONE, 1, plan=shop.product_page(IPHONE)[0])
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at=T_PLACED)
    erp.ship(order_id, {phone: 1}, at=T_SHIPPED)
    erp.client.publish_event(
        m.OrderRefundAdded(
            payload=m.RefundPayload(
                order_id=order_id,
                refund_line_items=[m.RefundedLine(line_item_id=phone, quantity=1, refunded_at="2024-10-03T10:00:00.000Z")],
            )
        )
    )


def product_leaves_the_cart_flow(shop: Storefront, erp: Erp, order_id: str) -> None:
    """The customer takes the protected phone out again; the shop follows Hakuna's
    removal of its plan, and checks out the case alone."""
    phone = shop.add(IPHONE, 1, plan=shop.product_page(IPHONE)[0])
    shop.add(CASE)
    shop.remove(phone)
    assert not any(l.product_id.startswith("pl-") for l in shop.lines)
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at=T_PLACED)


CORRECT: dict[str, Merchant] = {
    "the reference merchant": Merchant(),
    "caches its look-ups": Merchant(storefront=CachedLookUps),
    "splits plan lines per unit": Merchant(storefront=PlanLinePerUnit, erp=SplitsOrderLinesPerUnit, flow=two_phones_flow),
    "discounts products at checkout": Merchant(erp=Coupons),
    "renumbers order lines": Merchant(erp=RenumbersLines),
    "refunds a product after its plan's window": Merchant(flow=late_return_flow),
    "follows the removal of a plan whose product left": Merchant(flow=product_leaves_the_cart_flow),
}


def run(merchant: Merchant, target: Target) -> dict[str, Any]:
    assert target.controls is not None
    if merchant.faults:
        target.controls.set_faults(*merchant.faults)
    with HakunaClient(target.base_url, target.api_key, **(merchant.client or {})) as client:
        shop = merchant.storefront(client, cart_id="cart-1", user_session_id="session-1", products=PRODUCTS)
        merchant.flow(shop, merchant.erp(client), "ord-1")
    report: dict[str, Any] = target.controls.report()
    return report


def test_every_rule_has_a_broken_merchant() -> None:
    assert {rule_id for rule_id, _ in BROKEN.values()} == {rule.id for rule in RULES}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_a_correct_merchant_gets_an_empty_report(hakuna_sim: Target, name: str) -> None:
    report = run(CORRECT[name], hakuna_sim)
    assert report["findings"] == [], report["findings"]
    assert report["summary"] == {
        "errors": 0,
        "warnings": 0,
        "rules_checked": len(RULES),
        "journal_dropped": 0,
        "parity_differences": 0,
        "ready": report["readiness"]["ready"],
    }


def test_the_per_unit_merchant_had_its_plan_lines_merged(hakuna_sim: Target) -> None:
    run(CORRECT["splits plan lines per unit"], hakuna_sim)
    actions = [
        a
        for e in hakuna_sim.controls.journal(path="/sandbox/carts")["entries"]  # type: ignore[union-attr]
        for a in e["response"]["actions"]
    ]
    assert [a["type"] for a in actions] == ["update_line_item", "remove_line_item"]
    order = hakuna_sim.controls.journal(path="/sandbox/events")["entries"][0]["body"]  # type: ignore[union-attr]
    assert [l["quantity"] for l in order["payload"]["line_items"]] == [1, 1, 1, 1, 1]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_merchant_gets_exactly_the_finding_that_names_its_mistake(hakuna_sim: Target, name: str) -> None:
    rule_id, merchant = BROKEN[name]
    report = run(merchant, hakuna_sim)
    assert {f["rule_id"] for f in report["findings"]} == {rule_id}, report["findings"]
    journal_ids = {e["request_id"] for e in hakuna_sim.controls.journal()["entries"]}  # type: ignore[union-attr]
    sources = {rule.id: rule.source for rule in RULES}
    for finding in report["findings"]:
        assert finding["request_ids"] and finding["message"]
        assert set(finding["request_ids"]) <= journal_ids
        if sources[finding["rule_id"]] == "simulator" and finding["rule_id"] != "refused-request":
            assert "real API" not in finding["message"], finding  # a simulator's rule speaks for itself
