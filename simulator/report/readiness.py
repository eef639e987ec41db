"""Go-live readiness (docs/fidelity.md, "Readiness"): what an integration has exercised.

The conformance rules say what a key's traffic did wrong; readiness says which of the
behaviours a merchant must show before the real sandbox it never showed. Each item reads
the same parsed journal as the rules and answers `passed` (exercised, and none of the
requests it rests on has a finding), `failed` (with what went wrong, by request) or
`not_exercised`, with the requests that would have to happen here to exercise it: a `how`
in words and as literal steps (HTTP requests against this simulator), built for the
key's own catalog and with ids it has not used.

Items belong to a part of the integration: the storefront (look-ups, carts, checkout) or
the ERP (order events). A merchant whose integration is ERP only declares it
(`?integration=erp-only`), and the storefront's items are then not required.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from simulator.contract.queries import parse_query
from simulator.domain.faults import retry_after_in
from simulator.domain.matching import Product
from simulator.pacing import pace
from simulator.report.rules import CURRENT_VERSION, Finding, Journal, answered_actions, kind_of
from simulator.state.journal import Record
from simulator.state.tenant import TenantView

PASSED, FAILED, NOT_EXERCISED = "passed", "failed", "not_exercised"
STOREFRONT, ERP = "storefront", "erp"
INTEGRATIONS = {"storefront-and-erp": (STOREFRONT, ERP), "erp-only": (ERP,)}
DEFAULT_INTEGRATION = "storefront-and-erp"
# Findings of these rules are about the headers alone: the `headers` item carries them,
# so a missing Hakuna-Version does not fail every other item too.
HEADER_RULES = ("auth-bearer-header", "missing-hakuna-version")
MAX_IDS = 50


@dataclass
class Seen:
    """What one item found in the journal: the requests that exercise it, and the
    mistakes (message, request ids) made on the way."""

    request_ids: list[str] = field(default_factory=list)
    mistakes: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    id: str
    part: str  # STOREFRONT or ERP
    required: bool
    summary: str
    source: str  # as docs/fidelity.md gives sources
    rules: tuple[str, ...]  # report rules whose findings mean the item was done wrong
    seen: Callable[[TenantView, Journal], Seen]
    how: Callable[[Scenario], tuple[str, list[dict[str, Any]]]]
    # a finding of any rule that names one of the item's requests fails it too (not for
    # `headers`, which rests on every request)
    cite_requests: bool = True


# -- what the journal shows, item by item ------------------------------------------------


def _look_ups(journal: Journal) -> Iterable[Record]:
    return (r for r in journal.records if r.method == "GET" and r.path == "/sandbox/plans")


def plans_looked_up(t: TenantView, journal: Journal) -> Seen:
    found = Seen()
    for r in _look_ups(journal):
        if r.status == 200 and isinstance(r.answer, dict) and r.answer.get("plans"):
            found.request_ids.append(r.request_id)
    return found


def unsupported_products(t: TenantView, journal: Journal) -> Seen:
    """A look-up answered product_unsupported, and no plan line offered for that product
    in a later cart or order."""
    found = Seen()
    unsupported: dict[str, Record] = {}
    for r in _look_ups(journal):
        if r.error_code == "product_unsupported":
            product_id = parse_query(r.query.encode("latin-1")).get("product_id")
            if product_id:
                unsupported.setdefault(product_id, r)
                found.request_ids.append(r.request_id)
    if not unsupported:
        return found
    for r in journal.records:
        kind = kind_of(r) if r.method == "POST" and r.status == 200 else None
        lines = r.body.get("line_items") if kind == "cart" else None
        if kind == "event" and r.body.get("type") == "order_placed":
            lines = r.body["payload"].get("line_items")
        for line in lines or ():
            reference = (line.get("custom_properties") or {}).get("product_reference")
            told = unsupported.get(reference) if isinstance(reference, str) else None
            if told is not None and told.seq < r.seq:
                found.mistakes.append(
                    (
                        f"plan line {line.get('id')!r} protects {reference!r}, which look-up {told.request_id} answered "
                        "product_unsupported: offer no plan for a product whose look-up answers no plan",
                        [told.request_id, r.request_id],
                    )
                )
    return found


def _cart_actions(action_type: str) -> Callable[[TenantView, Journal], Seen]:
    """An action of `action_type` answered, and carried out by the cart's next update;
    ignored when that update is answered the same action again, or when the cart is
    checked out or ordered with it pending."""

    def seen(t: TenantView, journal: Journal) -> Seen:
        found = Seen()
        pending: dict[str, tuple[Record, list[dict[str, Any]]]] = {}
        for r in journal.records:
            kind = kind_of(r) if r.method == "POST" and r.status == 200 else None
            if kind == "cart":
                cart_id = r.body["cart_id"]
                asked = pending.pop(cart_id, None)
                actions = [a for a in answered_actions(r) if a.get("type") == action_type]
                if asked is not None:
                    _judge(found, asked, r, actions, action_type)
                if actions:
                    pending[cart_id] = (r, actions)
                continue
            if kind == "checkout":
                cart_id, what = r.body.get("cart_id"), "checked out"
            elif kind == "event" and r.body.get("type") == "order_placed":
                cart_id, what = r.body["payload"].get("cart_id"), "ordered"
            else:
                continue
            asked = pending.pop(cart_id, None) if isinstance(cart_id, str) else None
            if asked is not None:
                found.mistakes.append(
                    (
                        f"cart {cart_id!r} was {what} with its {action_type} action(s) pending: carry them out and "
                        "send the cart again before the checkout",
                        [asked[0].request_id, r.request_id],
                    )
                )
        return found

    return seen


def _judge(
    found: Seen, asked: tuple[Record, list[dict[str, Any]]], update: Record, again: list[dict[str, Any]], action_type: str
) -> None:
    answered, actions = asked
    lines = {l.get("id"): l for l in update.body["line_items"]}
    repeated = {a["payload"].get("line_item_id") for a in again}
    for action in actions:
        line_id = action["payload"].get("line_item_id")
        line = lines.get(line_id)
        if line_id in repeated:
            found.mistakes.append(
                (
                    f"cart {update.body['cart_id']!r}: the {action_type} action for line {line_id!r} was not carried out "
                    "by the next cart update, which was answered it again: change the line as the action says",
                    [answered.request_id, update.request_id],
                )
            )
        elif (action_type == "remove_line_item" and line is None) or (
            action_type == "update_line_item"
            and line is not None
            and line.get("quantity") == action["payload"].get("line_item_quantity")
        ):
            found.request_ids += [answered.request_id, update.request_id]


def _connections_read(journal: Journal, of: str) -> Iterable[Record]:
    """Reads of a cart's or an order's connections (`of`: "carts" or "orders") that
    answered at least one connection."""
    prefix = f"/sandbox/{of}/"
    for r in journal.records:
        if r.method == "GET" and r.status == 200 and r.path.startswith(prefix) and r.path.endswith("/plan_connections"):
            if isinstance(r.answer, dict) and r.answer.get("plan_connections"):
                yield r


def cart_connections_read(t: TenantView, journal: Journal) -> Seen:
    return Seen([r.request_id for r in _connections_read(journal, "carts")])


def _placed(journal: Journal) -> dict[str, Record]:
    return {r.body["payload"].get("order_id"): r for r in journal.events("order_placed")}


def checkouts_ordered(t: TenantView, journal: Journal) -> Seen:
    found = Seen()
    placed = _placed(journal)
    for r in journal.accepted("checkout"):
        order = placed.get(r.body.get("order_id"))
        if order is not None:
            found.request_ids += [r.request_id, order.request_id]
    return found


def orders_with_plans(t: TenantView, journal: Journal) -> Seen:
    found = Seen()
    for order_id, r in _placed(journal).items():
        order = t.orders.get(order_id) if isinstance(order_id, str) else None
        if order is not None and order.connections:
            found.request_ids.append(r.request_id)
    return found


def _order_events(journal: Journal) -> dict[str, int]:
    """Each order's first fulfilment or refund, by journal position."""
    first: dict[str, int] = {}
    for event_type in ("order_fulfillment_added", "order_refund_added"):
        for r in journal.events(event_type):
            order_id = r.body["payload"].get("order_id")
            first[order_id] = min(first.get(order_id, r.seq), r.seq)
    return first


def order_connections_read(t: TenantView, journal: Journal) -> Seen:
    first = _order_events(journal)
    return Seen([r.request_id for r in _connections_read(journal, "orders") if r.seq < first.get(r.path.split("/")[3], -1)])


def _event_lines(r: Record, field_name: str) -> set[str]:
    lines = r.body["payload"].get(field_name)
    return (
        {l["line_item_id"] for l in lines if isinstance(l, dict) and isinstance(l.get("line_item_id"), str)}
        if isinstance(lines, list)
        else set()
    )


def protections_activated(t: TenantView, journal: Journal) -> Seen:
    found = Seen()
    for r in journal.events("order_fulfillment_added"):
        order = t.orders.get(r.body["payload"].get("order_id") or "")
        shipped = _event_lines(r, "fulfillment_line_items")
        started = (p for p in order.protections if p.starts_at is not None) if order is not None else ()
        if any(p.plan_line_item_id in shipped or p.product_line_item_id in shipped for p in started):
            found.request_ids.append(r.request_id)
    return found


def _refunds(t: TenantView, journal: Journal, with_product: bool) -> Seen:
    found = Seen()
    for r in journal.events("order_refund_added"):
        order = t.orders.get(r.body["payload"].get("order_id") or "")
        refunded = _event_lines(r, "refund_line_items")
        if order is None:
            continue
        plans = [p for p in order.protections if p.plan_line_item_id in refunded]
        with_their_product = any(p.product_line_item_id in refunded for p in plans)
        alone = bool(plans) and not with_their_product
        if with_their_product if with_product else alone:
            found.request_ids.append(r.request_id)
    return found


def refunds_with_plans(t: TenantView, journal: Journal) -> Seen:
    return _refunds(t, journal, with_product=True)


def plan_refunds_alone(t: TenantView, journal: Journal) -> Seen:
    return _refunds(t, journal, with_product=False)


def cancellations(t: TenantView, journal: Journal) -> Seen:
    """An order cancelled; wrong: a cancellation sent after the order's fulfilment was
    accepted (a refund was due). Other refusals (a second cancellation, a magic-value
    decline) are Hakuna's answers to handle, not mistakes of the path."""
    found = Seen([r.request_id for r in journal.events("order_cancelled")])
    shipped = {r.body["payload"].get("order_id"): r.seq for r in reversed(journal.events("order_fulfillment_added"))}
    for r in journal.refused("event", lambda body: body.get("type") == "order_cancelled"):
        payload = r.body.get("payload")
        order_id = payload.get("order_id") if isinstance(payload, dict) else None
        if order_id in shipped and shipped[order_id] < r.seq:
            found.mistakes.append(
                (
                    f"order {order_id!r} was cancelled after some of it shipped: cancel an order before any of it "
                    "is fulfilled, and refund returned lines with order_refund_added",
                    [r.request_id],
                )
            )
    return found


def retries_with_the_same_key(t: TenantView, journal: Journal) -> Seen:
    """A POST sent again with its idempotency key after a 5xx, or after an answer the
    client lost (its retry is answered as a replay)."""
    found = Seen()
    failed: dict[str, Record] = {}
    for r in journal.records:
        key = r.idempotency_key if r.method == "POST" else None
        if not key:
            continue
        if r.status >= 500:
            failed.setdefault(key, r)
        elif r.status == 200 and (r.replayed or key in failed):
            first = failed.pop(key, None)
            found.request_ids += [first.request_id, r.request_id] if first is not None else [r.request_id]
    return found


def rate_limits_honoured(t: TenantView, journal: Journal) -> Seen:
    """A 429, and the same request sent again once its Retry-After had passed (sent
    sooner, it is a mistake whatever it was answered)."""
    found = Seen()
    waiting: dict[tuple[str, str, str, bytes], tuple[Record, float]] = {}
    for r in journal.records:
        same = (r.method, r.path, r.query, r.raw_body or b"")
        limited = waiting.pop(same, None)
        if limited is not None:
            first, wait = limited
            waited = r.at - first.at
            if waited + 0.05 < wait:  # the clocks are the server's: allow for a client that slept exactly
                found.mistakes.append(
                    (
                        f"{r.method} {r.path} was sent again {waited:.2f} s after its 429, before its Retry-After of "
                        f"{wait:g} s: wait as long as Retry-After says",
                        [first.request_id, r.request_id],
                    )
                )
            elif r.status < 500 and r.status != 429:
                found.request_ids += [first.request_id, r.request_id]
        if r.status == 429:
            error = r.answer.get("error", {}) if isinstance(r.answer, dict) else {}
            told = retry_after_in([str(m) for m in error.get("validation_errors") or ()])
            waiting[same] = (r, float(told if told is not None else 1))
    return found


def every_request(t: TenantView, journal: Journal) -> Seen:
    return Seen([r.request_id for r in journal.records])


# -- how to exercise an item here -------------------------------------------------------


class Scenario:
    """Requests that exercise an item against this simulator, for the key's catalog and
    with ids the key has not used (`ready-<n>-...`)."""

    def __init__(self, t: TenantView):
        self.tag = f"ready-{t.next_seq}"
        self.session = f"{self.tag}-session"
        self.product = _protectable(t)
        plan = next(iter(t.catalog.matches(self.product)), None)
        self.plan_id, self.plan_price = (plan[0].merchant_product_id, plan[1]) if plan else ("?", 0)
        self.country = plan[0].countries[0] if plan and plan[0].countries else "de"

    def look_up(self, product: Product | None = None) -> dict[str, Any]:
        p = product or self.product
        query = {
            "product_id": p.id,
            "product_category": p.category,
            "product_price_amount": p.price_amount,
            "product_price_currency": p.price_currency,
            "user_session_id": self.session,
        }
        return _step("GET", "/sandbox/plans?" + urlencode(query))

    def lines(self, phones: int = 1, plans: int = 1) -> list[dict[str, Any]]:
        lines = []
        if phones:
            lines.append(
                {"id": "product", "quantity": phones, "price_amount": self.product.price_amount, "product_id": self.product.id}
            )
        if plans:
            lines.append(
                {
                    "id": "plan",
                    "quantity": plans,
                    "price_amount": self.plan_price,
                    "product_id": self.plan_id,
                    "custom_properties": {"product_reference": self.product.id},
                }
            )
        return lines

    def cart(self, lines: list[dict[str, Any]], expect: int = 200) -> dict[str, Any]:
        body = {
            "cart_id": f"{self.tag}-cart",
            "user_session_id": self.session,
            "cart_currency": self.product.price_currency,
            "line_items": lines,
        }
        return _step("POST", "/sandbox/carts", body, expect)

    def checkout(self) -> dict[str, Any]:
        return _step(
            "POST",
            "/sandbox/checkouts",
            {"cart_id": f"{self.tag}-cart", "user_session_id": self.session, "order_id": f"{self.tag}-order"},
        )

    def placed(self, cart: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "order_id": f"{self.tag}-order",
            "placed_at": "2026-01-05T10:00:00Z",
            "order_currency": self.product.price_currency,
            "customer": {"first_name": "Max", "last_name": "Mustermann", "email": "max@example.com"},
            "customer_billing_address": {
                "address_line_1": "Musterstrasse 1",
                "city": "Musterstadt",
                "country": self.country,
                "zip": "12345",
            },
            "line_items": self.lines(),
        }
        if cart:
            payload["cart_id"] = f"{self.tag}-cart"
        return _step("POST", "/sandbox/events", {"type": "order_placed", "payload": payload})

    def storefront(self) -> list[dict[str, Any]]:
        return [self.look_up(), self.cart(self.lines()), self.checkout(), self.placed()]

    def event(self, event_type: str, field_name: str, lines: Sequence[str], at: str, key: str | None = None) -> dict[str, Any]:
        stamp = {"fulfillment_line_items": "fulfilled_at", "refund_line_items": "refunded_at"}[field_name]
        payload = {"order_id": f"{self.tag}-order", field_name: [{"line_item_id": i, "quantity": 1, stamp: at} for i in lines]}
        return _step("POST", "/sandbox/events", {"type": event_type, "payload": payload}, key=key)

    def fulfilled(self, key: str | None = None) -> dict[str, Any]:
        return self.event("order_fulfillment_added", "fulfillment_line_items", ("product", "plan"), "2026-01-06T10:00:00Z", key)

    def refund(self, lines: Sequence[str]) -> dict[str, Any]:
        return self.event("order_refund_added", "refund_line_items", lines, "2026-01-07T10:00:00Z")

    def order_connections(self) -> dict[str, Any]:
        return _step("GET", f"/sandbox/orders/{self.tag}-order/plan_connections")


def _protectable(t: TenantView) -> Product:
    """A product of the key's catalog that a plan covers (its catalog entry, or one made
    up inside a plan's first band)."""
    for product in t.catalog.products:
        if t.catalog.matches(product):
            return product
    for plan in t.catalog.plans:
        for band in plan.price_bands:
            return Product("ready-product", sorted(plan.categories)[0], band.min_price_amount + 1, plan.currency)
    return Product("ready-product", "smartphones", 50000, "eur")


def _step(method: str, path: str, body: Any = None, expect: int = 200, key: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"method": method, "path": path}
    if body is not None:
        step["body"] = body
    if key is not None:
        step["headers"] = {"Hakuna-Idempotency-Key": key}
    step["expect"] = expect
    return step


def _how_look_up(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return f"look up the plans of a product the catalog covers ({s.product.id!r})", [s.look_up()]


def _how_unsupported(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    product = Product(f"{s.tag}-unsupported", "hakuna-ready-unsupported", 1000, s.product.price_currency)
    step = s.look_up(product)
    step["expect"] = 400
    return "look up a product of a category no plan covers (answered product_unsupported) and offer no plan for it", [step]


def _how_update(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return (
        "send a cart with a plan for each of 2 product units, then lower the product to 1 unit: the answer asks to "
        "update the plan line to 1; send the cart again with that quantity",
        [s.cart(s.lines(2, 2)), s.cart(s.lines(1, 2)), s.cart(s.lines(1, 1))],
    )


def _how_remove(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return (
        "send a cart with a product and its plan, then take the product out: the answer asks to remove the plan "
        "line; send the cart again without it",
        [s.cart(s.lines()), s.cart(s.lines(0, 1)), s.cart([])],
    )


def _how_cart_connections(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return (
        "send a cart with a product and its plan (custom_properties.product_reference), then read its connections",
        [s.cart(s.lines()), _step("GET", f"/sandbox/carts/{s.tag}-cart/plan_connections?user_session_id={s.session}")],
    )


def _how_checkout(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return "send a cart, check it out with an order id, and send that order's order_placed with the cart_id", s.storefront()


def _how_placed(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return "send order_placed with a product line and its plan line (custom_properties.product_reference)", [s.placed(cart=False)]


def _how_order_connections(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return (
        "place an order with a plan, read its plan_connections, then fulfil it",
        [s.placed(cart=False), s.order_connections(), s.fulfilled()],
    )


def _how_fulfilment(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return "place an order with a plan and fulfil the product and its plan", [s.placed(cart=False), s.fulfilled()]


def _how_refund_with_plan(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return (
        "fulfil an order with a plan, then refund the product together with its plan in one order_refund_added",
        [s.placed(cart=False), s.fulfilled(), s.refund(("product", "plan"))],
    )


def _how_plan_alone(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return (
        "fulfil an order with a plan, then refund the plan line alone, inside its window",
        [s.placed(cart=False), s.fulfilled(), s.refund(("plan",))],
    )


def _how_cancellation(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    cancel = _step(
        "POST",
        "/sandbox/events",
        {"type": "order_cancelled", "payload": {"order_id": f"{s.tag}-order", "cancelled_at": "2026-01-05T12:00:00Z"}},
    )
    return "place an order and cancel it before any of it is fulfilled", [s.placed(cart=False), cancel]


def _how_retry(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    fault = _step("PUT", "/__sim/faults", {"faults": [{"route": "/sandbox/events", "status": 503, "count": 1, "when": "after"}]})
    key = f"{s.tag}-retry"
    lost = s.placed(cart=False)
    lost["headers"], lost["expect"] = {"Hakuna-Idempotency-Key": key}, 503
    again = s.placed(cart=False)
    again["headers"] = {"Hakuna-Idempotency-Key": key}
    return (
        "make the next event's answer get lost (PUT /__sim/faults, when: after), send an order_placed with a "
        "Hakuna-Idempotency-Key, and send it again with the same key: it is answered as a replay",
        [fault, lost, again],
    )


def _how_rate_limited(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    fault = _step("PUT", "/__sim/faults", {"faults": [{"route": "/sandbox/plans", "status": 429, "count": 1, "retry_after": 1}]})
    limited = s.look_up()
    limited["expect"] = 429
    return (
        "make the next look-up answer 429 (PUT /__sim/faults), wait its Retry-After (1 s), and send it again",
        [fault, limited, {"wait_seconds": 1}, s.look_up()],
    )


def _how_headers(s: Scenario) -> tuple[str, list[dict[str, Any]]]:
    return f"send every request with Authorization: Bearer <key> and Hakuna-Version: {CURRENT_VERSION}", [s.look_up()]


ITEMS: tuple[Item, ...] = (
    Item(
        "plans-look-up",
        STOREFRONT,
        True,
        "a look-up answered with a plan",
        "guide: On the product detail page",
        (),
        plans_looked_up,
        _how_look_up,
    ),
    Item(
        "product-unsupported",
        STOREFRONT,
        True,
        "a look-up answered product_unsupported, and no plan offered for that product",
        "docs: errors (product_unsupported)",
        (),
        unsupported_products,
        _how_unsupported,
    ),
    Item(
        "cart-update-action",
        STOREFRONT,
        True,
        "an update_line_item action carried out by the next cart update",
        "guide: In the cart (actions)",
        (),
        _cart_actions("update_line_item"),
        _how_update,
    ),
    Item(
        "cart-remove-action",
        STOREFRONT,
        True,
        "a remove_line_item action carried out by the next cart update",
        "guide: In the cart (actions)",
        (),
        _cart_actions("remove_line_item"),
        _how_remove,
    ),
    Item(
        "cart-connections",
        STOREFRONT,
        True,
        "plan lines connected to their products in the cart, and the cart's connections read",
        "guide: In the cart",
        ("plan-line-without-reference", "protection-lost", "plan-mispriced"),
        cart_connections_read,
        _how_cart_connections,
    ),
    Item(
        "checkout",
        STOREFRONT,
        True,
        "a checkout linked to an order that was placed",
        "guide: At checkout",
        ("checkout-without-order", "order-without-checkout", "order-before-checkout", "pending-cart-actions"),
        checkouts_ordered,
        _how_checkout,
    ),
    Item(
        "order-placed",
        ERP,
        True,
        "an order_placed whose plan lines connected to their products",
        "guide: Order placed",
        ("order-plan-not-eligible", "order-differs-from-cart"),
        orders_with_plans,
        _how_placed,
    ),
    Item(
        "order-connections",
        ERP,
        False,
        "an order's connections read before fulfilling or refunding it",
        'guide: Order fulfilled ("you can use the Hakuna API to check for connections")',
        (),
        order_connections_read,
        _how_order_connections,
    ),
    Item(
        "fulfilment",
        ERP,
        True,
        "a fulfilment that made a protection active",
        "guide: Order fulfilled",
        ("plan-fulfilled-before-product",),
        protections_activated,
        _how_fulfilment,
    ),
    Item(
        "refund-with-plan",
        ERP,
        True,
        "a protected product refunded together with its plan",
        "guide: Order refunded",
        ("product-refunded-without-plan",),
        refunds_with_plans,
        _how_refund_with_plan,
    ),
    Item(
        "plan-refund-alone",
        ERP,
        True,
        "a plan refunded on its own inside its window",
        "docs: refund windows",
        (),
        plan_refunds_alone,
        _how_plan_alone,
    ),
    Item(
        "cancellation",
        ERP,
        True,
        "an order cancelled before it shipped",
        "guide: Order cancelled",
        (),
        cancellations,
        _how_cancellation,
    ),
    Item(
        "retry-same-key",
        ERP,
        True,
        "a POST retried after a 5xx or a lost answer with the same Hakuna-Idempotency-Key",
        "docs: idempotent requests",
        ("retry-without-idempotency-key",),
        retries_with_the_same_key,
        _how_retry,
    ),
    Item(
        "rate-limited",
        ERP,
        True,
        "a 429 answered, and the request sent again after its Retry-After",
        "docs: rate limits",
        (),
        rate_limits_honoured,
        _how_rate_limited,
    ),
    Item(
        "headers",
        ERP,
        True,
        "every request with Authorization: Bearer and Hakuna-Version",
        "docs: authentication, versioning",
        HEADER_RULES,
        every_request,
        _how_headers,
        cite_requests=False,
    ),
)


def readiness(
    t: TenantView, journal: Journal, found: Sequence[Finding], integration: str = DEFAULT_INTEGRATION
) -> dict[str, Any]:
    """The readiness section of the report: every item's status, and `ready`."""
    parts = INTEGRATIONS[integration]
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    by_request: dict[str, list[Finding]] = defaultdict(list)
    for f in found:
        by_rule[f.rule_id].append(f)
        if f.rule_id not in HEADER_RULES:
            for request_id in f.request_ids:
                by_request[request_id].append(f)
    scenario = Scenario(t)
    items = []
    for item in ITEMS:
        pace()
        seen = item.seen(t, journal)
        ids = list(dict.fromkeys(seen.request_ids))
        wrong = [{"message": m, "request_ids": list(dict.fromkeys(r))[:MAX_IDS]} for m, r in seen.mistakes]
        cited = {id(f): f for rule in item.rules for f in by_rule[rule]}
        if item.cite_requests:
            cited.update({id(f): f for request_id in ids for f in by_request[request_id]})
        wrong += [
            {"rule_id": f.rule_id, "message": f.message, "request_ids": list(f.request_ids[:MAX_IDS])} for f in cited.values()
        ]
        status = FAILED if wrong else PASSED if ids else NOT_EXERCISED
        body: dict[str, Any] = {
            "id": item.id,
            "status": status,
            "required": item.required and item.part in parts,
            "part": item.part,
            "summary": item.summary,
            "source": item.source,
            "request_ids": ids[:MAX_IDS],
        }
        if wrong:
            body["findings"] = wrong
        if status == NOT_EXERCISED:
            text, steps = item.how(scenario)
            body["how"] = {"text": text, "steps": steps}
        items.append(body)
    missing = [i["id"] for i in items if i["required"] and i["status"] != PASSED]
    return {"integration": integration, "ready": not missing, "missing": missing, "items": items}
