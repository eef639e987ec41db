"""The conformance report (CONTRACT section 8): what a merchant's integration does wrong.

Each rule reads the tenant's journal and state when the report is read (no grace
period) and answers findings: a stable rule id, a severity, a message that says what to
change, and the ids of the requests it rests on. Read-only steps (connection and plan
look-ups) are never findings: a merchant may cache them. `RULES` lists every rule.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from simulator.deviations import BEARER_HEADER, NO_VERSION, ORDERS_URL
from simulator.journal import Record
from simulator.sandbox import classify_orders_body
from simulator.tenants import TenantState

ERROR, WARNING = "error", "warning"
MAX_IDS = 50  # request ids listed per finding


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    message: str
    request_ids: tuple[str, ...]

    def as_body(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "severity": self.severity, "message": self.message,
                "request_ids": list(self.request_ids[:MAX_IDS])}


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str
    check: Callable[[TenantState, list[Record]], Iterable[tuple[str, Iterable[str]]]]  # (message, request ids)


def _ids(entries: Iterable[Record]) -> list[str]:
    return [e.request_id for e in entries]


_KIND_BY_PATH = {"/sandbox/carts": "cart", "/sandbox/checkouts": "checkout", "/sandbox/events": "event"}


def _kind(e: Record) -> str | None:
    """What an accepted POST was (cart, checkout or event), whichever URL it used."""
    if e.path == "/sandbox/orders":
        return classify_orders_body(e.body)  # as the route itself told them apart
    return _KIND_BY_PATH.get(e.path)


def _posts(entries: list[Record], kind: str) -> list[Record]:
    return [e for e in entries if e.method == "POST" and e.status == 200 and _kind(e) == kind]


def _events(entries: list[Record], event_type: str) -> list[Record]:
    return [e for e in _posts(entries, "event") if e.body.get("type") == event_type]


# -- the rules --------------------------------------------------------------------------

def _deviation(name: str, message: str) -> Callable[[TenantState, list[Record]], Iterable[tuple[str, list[str]]]]:
    def check(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
        used = [e for e in entries if name in e.deviations]
        if used:
            yield f"{len(used)} request(s): {message}", _ids(used)
    return check


def refused_requests(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    by_code: dict[str, list[Record]] = defaultdict(list)
    for e in entries:
        if e.method == "POST" and 400 <= e.status < 500 and e.status != 429 and not e.replayed:
            by_code[e.error_code or str(e.status)].append(e)
    for code, refused in by_code.items():
        why = (refused[0].answer.get("error", {}).get("validation_errors") or ["?"])[0]
        yield (f"{len(refused)} request(s) refused with {code}, first: {why!r}. Fix what the message names; "
               "the real API refuses them too"), _ids(refused)


def plan_lines_without_reference(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    bad: dict[str, list[Record]] = defaultdict(list)
    for e in _posts(entries, "cart"):
        for line in e.body.get("line_items", []):
            if t.catalog.is_plan(line.get("product_id", "")) and \
                    not (line.get("custom_properties") or {}).get("product_reference"):
                bad[f"cart {e.body['cart_id']!r} line {line['id']!r}"].append(e)
    for where, updates in bad.items():
        yield (f"{where} is a plan without custom_properties.product_reference: add the protected "
               "product's product_id as the plan line's product_reference"), _ids(updates)


def pending_cart_actions(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    last_answer: dict[str, Record] = {}
    for e in entries:
        kind = _kind(e) if e.status == 200 and e.method == "POST" else None
        if kind == "cart":
            last_answer[e.body["cart_id"]] = e
            continue
        if kind == "checkout":
            cart_id, what = e.body["cart_id"], "checked out"
        elif kind == "event" and e.body.get("type") == "order_placed" and e.body["payload"].get("cart_id"):
            cart_id, what = e.body["payload"]["cart_id"], "ordered"
        else:
            continue
        update = last_answer.get(cart_id)
        if update is not None and update.answer.get("actions"):
            yield (f"cart {cart_id!r} was {what} while its last update answered "
                   f"{len(update.answer['actions'])} action(s): carry out the actions and send the cart "
                   "again until none remain, before the checkout"), [update.request_id, e.request_id]


def plans_not_offered(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    latest: dict[str, Record] = {}
    for e in _posts(entries, "cart"):
        latest[e.body["cart_id"]] = e
    for cart_id, e in latest.items():
        for line in e.body["line_items"]:
            reference = (line.get("custom_properties") or {}).get("product_reference")
            if not t.catalog.is_plan(line["product_id"]) or not reference:
                continue
            if (reference, line["product_id"], line["price_amount"]) not in t.offers:
                offered = sorted(f"{plan} at {price}" for product, plan, price in t.offers if product == reference)
                yield (f"cart {cart_id!r} line {line['id']!r}: plan {line['product_id']!r} at "
                       f"{line['price_amount']} for {reference!r} was not offered by any plan look-up of this "
                       f"key (offered: {', '.join(offered) or 'none'}): add plans as the look-up answers "
                       "them, at their price"), [e.request_id]


def orders_differ_from_carts(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    placed = {e.body["payload"]["order_id"]: e for e in _events(entries, "order_placed")}
    for order in t.orders.values():
        cart = t.carts.get(order.cart_id or "")
        if cart is None or cart.order_id != order.order_id:
            continue
        in_cart = {(l.id, l.quantity, l.price_amount) for l in cart.lines}
        in_order = {(l.id, l.quantity, l.price_amount) for l in order.lines}
        if in_cart != in_order:
            missing = sorted(in_cart - in_order)
            extra = sorted(in_order - in_cart)
            ids = [placed[order.order_id].request_id] if order.order_id in placed else []
            yield (f"order {order.order_id!r} differs from its checked-out cart {cart.cart_id!r}: "
                   f"in the cart only {_lines(missing)}; in the order only {_lines(extra)} (id, quantity, "
                   "price): place the order with the cart's lines"), ids


def _lines(lines: list[tuple[str, int, int]]) -> str:
    return ", ".join(f"({i}, {q}, {p})" for i, q, p in lines) or "nothing"


def checkouts_without_orders(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    for e in _posts(entries, "checkout"):
        if e.body["order_id"] not in t.orders and not e.replayed:
            yield (f"checkout of cart {e.body['cart_id']!r} as order {e.body['order_id']!r}, but no "
                   "order_placed event for that order: publish order_placed from the ERP"), [e.request_id]


def orders_without_checkouts(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    for e in _events(entries, "order_placed"):
        payload = e.body["payload"]
        cart_id = payload.get("cart_id")
        if not cart_id or e.replayed:
            continue
        cart = t.carts.get(cart_id)
        if cart is None or cart.order_id != payload["order_id"]:
            reason = "no cart of that id was ever sent" if cart is None else "that cart was not checked out as it"
            yield (f"order {payload['order_id']!r} was placed with cart_id {cart_id!r}, but {reason}: "
                   "notify Hakuna of the checkout (POST /sandbox/checkouts) when the order is placed"), \
                [e.request_id]


def products_refunded_without_plans(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    for order in t.orders.values():
        for c in order.connections:
            product, plan = order.line(c.product_line_item_id), order.line(c.plan_line_item_id)
            assert product is not None and plan is not None
            if product.refunded_quantity > plan.refunded_quantity and plan.refunded_quantity < plan.quantity:
                refunds = [e for e in _events(entries, "order_refund_added")
                           if e.body["payload"]["order_id"] == order.order_id]
                yield (f"order {order.order_id!r}: product line {product.id!r} was refunded "
                       f"{product.refunded_quantity} time(s) but its plan line {plan.id!r} only "
                       f"{plan.refunded_quantity}: refund the plan with the product it protects"), _ids(refunds)


def plans_fulfilled_before_products(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    shipped: dict[tuple[str, str], int] = defaultdict(int)
    for e in _events(entries, "order_fulfillment_added"):
        order = t.orders.get(e.body["payload"]["order_id"])
        if order is None:
            continue
        for item in e.body["payload"]["fulfillment_line_items"]:
            shipped[(order.order_id, item["line_item_id"])] += item["quantity"]
        for c in order.connections:
            ahead = shipped[(order.order_id, c.plan_line_item_id)] - shipped[(order.order_id, c.product_line_item_id)]
            if ahead > 0:
                yield (f"order {order.order_id!r}: plan line {c.plan_line_item_id!r} was fulfilled "
                       f"{ahead} unit(s) ahead of its product line {c.product_line_item_id!r}: fulfil a plan "
                       "with or after the product it protects (or not at all)"), [e.request_id]


def retries_without_idempotency_key(t: TenantState, entries: list[Record]) -> Iterable[tuple[str, list[str]]]:
    failed: dict[tuple[str, str], Record] = {}
    for e in entries:
        if e.method != "POST":
            continue
        fingerprint = (e.path, json.dumps(e.body, sort_keys=True))
        earlier = failed.get(fingerprint)
        if e.idempotency_key is None and earlier is not None:
            yield (f"POST {e.path} was sent again with the same body after a {earlier.status} answer, "
                   "without a Hakuna-Idempotency-Key: send one key per logical request and repeat it on "
                   "retries, or a retry after a lost answer applies twice"), [earlier.request_id, e.request_id]
        if e.status == 429 or e.status >= 500 or 400 <= e.status < 500:
            failed[fingerprint] = e
        else:
            failed.pop(fingerprint, None)


RULES: tuple[Rule, ...] = (
    Rule("auth-bearer-header", WARNING, "the key is sent in the guide's Bearer: header",
         _deviation(BEARER_HEADER, "the key was sent in the guide's \"Bearer: <key>\" header; the real API "
                                   "reads \"Authorization: Bearer <key>\"")),
    Rule("guide-orders-url", WARNING, "POSTs use the guide's /sandbox/orders URL",
         _deviation(ORDERS_URL, "posted to the guide's /sandbox/orders; the real API takes cart updates at "
                                "/sandbox/carts, checkouts at /sandbox/checkouts and events at /sandbox/events")),
    Rule("missing-hakuna-version", WARNING, "requests without Hakuna-Version",
         _deviation(NO_VERSION, "no Hakuna-Version header, so the real API answers as its oldest version: "
                                "send the version you built against, e.g. \"Hakuna-Version: v1.3\"")),
    Rule("refused-request", ERROR, "requests the API refused", refused_requests),
    Rule("plan-line-without-reference", ERROR, "cart plan lines without product_reference",
         plan_lines_without_reference),
    Rule("pending-cart-actions", ERROR, "carts checked out or ordered with actions pending", pending_cart_actions),
    Rule("plan-not-offered", ERROR, "cart plans no look-up offered at that price", plans_not_offered),
    Rule("order-differs-from-cart", ERROR, "order lines that differ from the checked-out cart",
         orders_differ_from_carts),
    Rule("checkout-without-order", ERROR, "checkouts without order_placed", checkouts_without_orders),
    Rule("order-without-checkout", ERROR, "orders with a cart_id but no checkout", orders_without_checkouts),
    Rule("product-refunded-without-plan", ERROR, "protected products refunded without their plan",
         products_refunded_without_plans),
    Rule("plan-fulfilled-before-product", WARNING, "plans fulfilled before their product",
         plans_fulfilled_before_products),
    Rule("retry-without-idempotency-key", ERROR, "retries without an idempotency key",
         retries_without_idempotency_key),
)


def findings(t: TenantState) -> list[Finding]:
    """Every rule's findings; one mistake repeated (a checkout sent twice) is one finding
    that names all its requests, so the summary counts mistakes, not requests."""
    entries = [e for e in t.journal.records() if e.path.startswith("/sandbox")]
    merged: dict[tuple[str, str], list[str]] = {}
    severity = {}
    for rule in RULES:
        severity[rule.id] = rule.severity
        for message, request_ids in rule.check(t, entries):
            merged.setdefault((rule.id, message), []).extend(request_ids)
    return [Finding(rule_id, severity[rule_id], message, tuple(dict.fromkeys(ids)))
            for (rule_id, message), ids in merged.items()]


def report(t: TenantState) -> dict[str, Any]:
    found = findings(t)
    return {"summary": {"errors": sum(1 for f in found if f.severity == ERROR),
                        "warnings": sum(1 for f in found if f.severity == WARNING),
                        "rules_checked": len(RULES),
                        "journal_dropped": t.journal.dropped},
            "findings": [f.as_body() for f in found]}


def junit(body: dict[str, Any]) -> str:
    """The report as JUnit XML: one test case per rule, failed by its findings."""
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in body["findings"]:
        by_rule[f["rule_id"]].append(f)
    failures = sum(1 for rule in RULES if by_rule[rule.id])
    cases = []
    for rule in RULES:
        found = by_rule[rule.id]
        inner = ""
        if found:
            text = "\n".join(f"{f['message']} (requests: {', '.join(f['request_ids'])})" for f in found)
            inner = (f'<failure type={quoteattr(rule.severity)} message={quoteattr(found[0]["message"])}>'
                     f"{escape(text)}</failure>")
        cases.append(f'<testcase classname="hakuna-sim.conformance" name={quoteattr(rule.id)}>{inner}</testcase>')
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name="hakuna-sim conformance" tests="{len(RULES)}" failures="{failures}" errors="0">'
            + "".join(cases) + "</testsuite>\n")
