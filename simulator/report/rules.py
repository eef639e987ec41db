"""The conformance report (docs/contract.md §8): what a merchant's integration does wrong.

Each rule reads the tenant's journal and state when the report is read (no grace
period) and answers findings: a stable rule id, a severity, a message that says what to
change, and the ids of the requests it rests on. `RULES` lists every rule, with where
it comes from (docs/fidelity.md has the same table for readers).

Two principles keep the report free of false alarms:
- Judge what the merchant sent against what Hakuna would do, never against what this
  key happened to look up: plans and plan prices come from the catalog and the
  product's list price, so a shop that caches its look-ups is judged like any other.
- Read-only steps (connection and plan look-ups) are never findings, and a finding
  never asks for what the simulator itself would refuse (a plan refund past its window).
A finding that follows from a refused request names that refusal.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import orjson

from simulator.contract import schemas
from simulator.contract.queries import plans_query
from simulator.contract.shapes import classify_orders_body
from simulator.domain import matching
from simulator.domain.carts import EXTRA_PLAN, NOT_ELIGIBLE, PRODUCT_MISSING, REASON_TEXT, LineItem, reconcile
from simulator.domain.deviations import BEARER_HEADER, INTEGRAL_NUMBER, NO_VERSION, ORDERS_URL
from simulator.domain.errors import DOCUMENTED_CODES, SimError
from simulator.domain.matching import Product
from simulator.domain.orders import Order
from simulator.domain.timefmt import add_months, format_timestamp, parse_timestamp
from simulator.pacing import Paced, pace
from simulator.state.journal import Record
from simulator.state.tenant import TenantView

ERROR, WARNING = "error", "warning"
MAX_IDS = 50  # request ids listed per finding
CURRENT_VERSION = "v2.0"  # docs: the current public version (v1.3 is partner-only)

# (message, request ids), or (message, request ids, severity) for a finding milder than its rule's
Found = Iterable[tuple[str, Iterable[str]] | tuple[str, Iterable[str], str]]


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    message: str
    request_ids: tuple[str, ...]

    def as_body(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "message": self.message,
            "request_ids": list(self.request_ids[:MAX_IDS]),
        }


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str
    source: str  # "guide", "docs" or "simulator": whose rule it is (docs/contract.md §9)
    check: Callable[[TenantView, Journal], Found]


class Journal:
    """The tenant's vendor requests, each parsed once, bodies read as the contract reads
    them (`2.0` is 2; rules read a null member as absent), sorted once into what the
    rules ask for. A request whose body the journal had to truncate cannot be judged and is left out."""

    def __init__(self, records: list[Record], check_accepted: bool = False, complete: bool = True):
        """`check_accepted`: an accepted request may not be valid here (shadow mode:
        the upstream accepted it); such bodies are checked, and left out if invalid.
        `complete`: the records start with the key's first request (none was dropped)."""
        # Paced: each rule reads them whole (simulator/pacing.py)
        self.records = Paced(r for r in records if not r.truncated)
        self.complete = complete
        self._accepted: dict[str | None, list[Record]] = defaultdict(Paced)
        self._refused: dict[str | None, list[Record]] = defaultdict(Paced)
        self._events: dict[Any, list[Record]] = defaultdict(Paced)
        self._last_cart: dict[str, Record] = {}
        # (product id, currency) -> the seq and product of each look-up that told it
        self._looked_up: dict[tuple[str, str], tuple[list[int], list[Product]]] = {}
        for r in self.records:
            if r.method == "GET" and r.path == "/sandbox/plans":
                self._note_look_up(r)
            if r.method != "POST":
                continue
            if INTEGRAL_NUMBER in r.deviations and isinstance(r.body, dict):
                schemas.normalize(r.body)  # 2.0 read as 2 (a null member reads as absent already)
            kind = kind_of(r)
            if r.status == 200 and check_accepted and (kind is None or schemas.validate(_SCHEMA_OF[kind], r.body)):
                continue
            if r.status == 200:
                self._accepted[kind].append(r)
                if kind == "event":
                    self._events[r.body.get("type")].append(r)
                elif kind == "cart":
                    self._last_cart[r.body["cart_id"]] = r
            elif 400 <= r.status < 500 and r.status != 429 and not r.replayed and isinstance(r.body, dict):
                self._refused[kind].append(r)

    def accepted(self, kind: str) -> list[Record]:
        return self._accepted[kind]

    def _note_look_up(self, r: Record) -> None:
        """A look-up the server remembered its product from (matched or not)."""
        if r.status != 200 and r.error_code != "product_unsupported":
            return
        try:
            product = matching.product_from_query(plans_query(r.query.encode("latin-1")))
        except SimError:
            return
        seqs, products = self._looked_up.setdefault(product.key, ([], []))
        seqs.append(r.seq)
        products.append(product)

    def known_product(self, t: TenantView, product_id: str, currency: str, before: Record | None) -> Product | None:
        """The list price in `currency` and the category Hakuna knew of a product when
        request `before` came (None: now): a later look-up never changes the verdict on
        an earlier cart or order, and a look-up in another currency never touches it."""
        found = self._looked_up.get((product_id, currency))
        if before is None or found is None:
            return t.known_product(product_id, currency)  # nothing in the journal says otherwise
        seqs, products = found
        at = bisect.bisect_left(seqs, before.seq)
        if at:
            return products[at - 1]
        # Looked up only after that request: what was known then is the catalog's, or,
        # where the journal dropped older requests, the best guess is what is known now.
        return t.catalog.product(product_id, currency) if self.complete else t.known_product(product_id, currency)

    def release(self) -> None:
        """Let go of the parsed records a few hundred at a time. The report runs on a
        worker thread, and freeing 10,000 parsed records in one go is one deallocation,
        about 10 ms during which the worker keeps the GIL: every other key's requests
        waited that long. Between two slices the work may step aside (pacing.py)."""
        for index in (self._accepted, self._refused, self._events, self._last_cart):
            index.clear()
        records = self.records
        while records:
            pace()
            del records[-256:]

    def events(self, event_type: str) -> list[Record]:
        return self._events[event_type]

    def refused(self, kind: str, about: Callable[[Any], bool]) -> list[Record]:
        """Refused POSTs of `kind` whose body `about` accepts (faults excluded)."""
        return [e for e in self._refused[kind] if about(e.body)]

    def last_cart_update(self, cart_id: str) -> Record | None:
        return self._last_cart.get(cart_id)


_SCHEMA_OF = {"cart": "cart-update-request.json", "checkout": "checkout-request.json", "event": "event-request.json"}
_KIND_BY_PATH = {"/sandbox/carts": "cart", "/sandbox/checkouts": "checkout", "/sandbox/events": "event"}


def kind_of(e: Record) -> str | None:
    """What a POST was (cart, checkout or event), whichever URL it used."""
    if e.path == "/sandbox/orders":
        try:
            return classify_orders_body(e.body)  # as the route itself told them apart
        except Exception:
            return None
    return _KIND_BY_PATH.get(e.path)


def unreadable(records: Iterable[Record], where: str = "journal.entries", first: int = 0) -> list[str]:
    """Entries the report could not judge, by position (an imported snapshot's journal
    must not hold them): an accepted POST whose body is not one the API accepts, an
    answer that is not a JSON object. The report reads accepted bodies as validated."""
    found = []
    for i, r in enumerate(records, first):
        if r.truncated:
            continue  # the report leaves these out
        if r.raw_answer and not isinstance(r.answer, dict):
            found.append(f"{where}[{i}].response: an answer of the API is a JSON object")
        if r.method != "POST" or r.status != 200 or not r.path.startswith("/sandbox"):
            continue
        kind = kind_of(r) if isinstance(r.body, dict) else None
        if kind is None:
            found.append(f"{where}[{i}].body: an accepted POST to {r.path} holds a cart update, checkout or event")
            continue
        normalized = schemas.prepare_request(orjson.loads(r.raw_body), r.raw_body)
        problems, _ = schemas.validate_request(_SCHEMA_OF[kind], normalized.document, nulls=normalized.nulls)
        found += [f"{where}[{i}].body: accepted, yet {p}" for p in problems[:3]]
    return found


def answered_actions(e: Record) -> list[dict[str, Any]]:
    """A cart update's answered actions (none where the answer is not the guide's shape)."""
    answer = e.answer
    actions = answer.get("actions") if isinstance(answer, dict) else None
    return [a for a in actions if isinstance(a, dict) and isinstance(a.get("payload"), dict)] if isinstance(actions, list) else []


def _ids(entries: Iterable[Record]) -> list[str]:
    return [e.request_id for e in entries]


def _refusal_note(refused: list[Record], what: str) -> str:
    """Names the refusal a finding follows from (docs/contract.md §8)."""
    if not refused:
        return ""
    last = refused[-1]
    error = last.answer.get("error", {}) if isinstance(last.answer, dict) else {}
    why = (error.get("validation_errors") or ["?"])[0]
    return (
        f" ({what} was sent but refused with {error.get('error_code', last.status)} in request "
        f"{last.request_id}: {why!r}; fix that and send it again)"
    )


def _order_placed_for(order_id: str) -> Callable[[Any], bool]:
    return lambda b: (
        b.get("type") == "order_placed" and isinstance(b.get("payload"), dict) and b["payload"].get("order_id") == order_id
    )


def _checkout_of(cart_id: str) -> Callable[[Any], bool]:
    return lambda b: b.get("cart_id") == cart_id


def _event_for(event_type: str, order_id: str) -> Callable[[Any], bool]:
    return lambda b: (
        b.get("type") == event_type and isinstance(b.get("payload"), dict) and b["payload"].get("order_id") == order_id
    )


# -- transport: the guide's quirks ------------------------------------------------------


def _deviation(name: str, message: str) -> Callable[[TenantView, Journal], Found]:
    def check(t: TenantView, journal: Journal) -> Found:
        used = [e for e in journal.records if name in e.deviations]
        if used:
            yield f"{len(used)} request(s): {message}", _ids(used)

    return check


# -- refusals and retries ---------------------------------------------------------------


def refused_requests(t: TenantView, journal: Journal) -> Found:
    by_code: dict[str, list[Record]] = defaultdict(list)
    for e in journal.records:
        if e.method == "POST" and 400 <= e.status < 500 and e.status != 429 and not e.replayed:
            by_code[e.error_code or str(e.status)].append(e)
    for code, refused in by_code.items():
        error = refused[0].answer.get("error", {}) if isinstance(refused[0].answer, dict) else {}
        why = ((error.get("validation_errors") if isinstance(error, dict) else None) or ["?"])[0]
        source = (
            "a refusal the real API documents"
            if code in DOCUMENTED_CODES
            else "the simulator's own rule where the docs are silent"
        )
        yield (
            (
                f"{len(refused)} request(s) refused with {code} ({source}), first: {why!r}: fix what the "
                "message names and send the request again"
            ),
            _ids(refused),
        )


def retries_without_idempotency_key(t: TenantView, journal: Journal) -> Found:
    """A POST repeated with the same body after a 429, a 5xx or a refusal is a retry,
    whatever its key: without a key, or with a new one, a retry after a lost answer
    applies the change twice."""
    failed: dict[tuple[str, bytes], Record] = {}
    for e in journal.records:
        if e.method != "POST" or e.replayed or not e.raw_body:  # no body read (413, 415): nothing to compare
            continue
        fingerprint = (e.path, e.raw_body)  # a retry sends the same bytes again
        earlier = failed.get(fingerprint)
        if earlier is not None and (e.idempotency_key is None or e.idempotency_key != earlier.idempotency_key):
            how = (
                "without a Hakuna-Idempotency-Key"
                if e.idempotency_key is None
                else "with a new Hakuna-Idempotency-Key"
                if earlier.idempotency_key is not None
                else "with a Hakuna-Idempotency-Key the first attempt did not have"
            )
            yield (
                (
                    f"POST {e.path} was sent again with the same body after a {earlier.status} answer, {how}: "
                    "send one key per logical request and repeat that key on every retry, or a retry after a "
                    "lost answer applies the change twice"
                ),
                [earlier.request_id, e.request_id],
            )
        if e.status == 429 or e.status >= 500 or 400 <= e.status < 500:
            failed[fingerprint] = e
        else:
            failed.pop(fingerprint, None)


# -- storefront -------------------------------------------------------------------------


def plan_lines_without_reference(t: TenantView, journal: Journal) -> Found:
    bad: dict[str, list[Record]] = defaultdict(list)
    for e in journal.accepted("cart"):
        for line in e.body.get("line_items", []):
            if t.catalog.is_plan(line.get("product_id", "")) and not (line.get("custom_properties") or {}).get(
                "product_reference"
            ):
                bad[f"cart {e.body['cart_id']!r} line {line['id']!r}"].append(e)
    for where, updates in bad.items():
        yield (
            (
                f"{where} is a plan without custom_properties.product_reference, so Hakuna answered "
                "remove_line_item and the customer lost the protection they chose: add the protected "
                "product's product_id as the plan line's product_reference"
            ),
            _ids(updates),
        )


def protections_lost(t: TenantView, journal: Journal) -> Found:
    """Plan lines Hakuna told the shop to remove because of the shop's own mistake: a
    finding even once the shop removed them (the customer chose protection and lost it).
    A plan removed because its product left the cart is not, nor a merge of plan lines
    split per unit."""
    seen_products: dict[str, set[str]] = defaultdict(set)  # cart id -> product ids ever in it
    for e in journal.accepted("cart"):
        cart_id = e.body["cart_id"]
        seen = seen_products[cart_id]
        seen.update(l["product_id"] for l in e.body["line_items"])  # plans too: harmless, never referenced
        removed = {a["payload"]["line_item_id"] for a in answered_actions(e) if a["type"] == "remove_line_item"}
        if not removed:
            continue
        lines = [LineItem.from_body(l) for l in e.body["line_items"]]
        # The answer said which lines to remove; reconciling again, on what Hakuna knew
        # of the products then, tells why.
        result = reconcile(lines, t.catalog, partial(journal.known_product, t, currency=e.body["cart_currency"], before=e))
        for line in lines:
            reason = result.removal_reasons.get(line.id) if line.id in removed else None
            if reason == PRODUCT_MISSING and line.product_reference in seen:
                continue  # its product left the cart
            if reason not in (PRODUCT_MISSING, NOT_ELIGIBLE, EXTRA_PLAN):
                continue
            fix = {
                PRODUCT_MISSING: (
                    f"its product_reference {line.product_reference!r} is not the product_id of any "
                    "product line of the cart: set it to the protected product's product_id"
                ),
                NOT_ELIGIBLE: (
                    "offer a product only the plans its look-up answers (docs: priced by category and list-price band)"
                ),
                EXTRA_PLAN: (
                    "give each product unit at most one plan: one plan type per product, and no more "
                    "plan units than product units"
                ),
            }[reason]
            yield (
                (
                    f"cart {cart_id!r} plan line {line.id!r} ({line.product_id!r} for {line.product_reference!r}) "
                    f"had to be removed because {REASON_TEXT[reason]}, so the customer lost the protection they "
                    f"chose: {fix}"
                ),
                [e.request_id],
            )


def pending_cart_actions(t: TenantView, journal: Journal) -> Found:
    last_answer: dict[str, Record] = {}
    for e in journal.records:
        kind = kind_of(e) if e.status == 200 and e.method == "POST" else None
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
        if update is not None and answered_actions(update):
            yield (
                (
                    f"cart {cart_id!r} was {what} while its last update answered "
                    f"{len(answered_actions(update))} action(s): carry out the actions and send the cart "
                    "again until none remain, before the checkout"
                ),
                [update.request_id, e.request_id],
            )


def plans_mispriced(t: TenantView, journal: Journal) -> Found:
    """Docs: a plan costs the catalog's price for its product's category and list-price
    band, and is never discounted. Judged where Hakuna knows the product's list price."""
    for cart in t.carts.values():
        update = journal.last_cart_update(cart.cart_id)
        for c in cart.reconciliation.connections:
            plan_line, product_line = cart.line(c.plan_line_item_id), cart.line(c.product_line_item_id)
            assert plan_line is not None and product_line is not None
            product = journal.known_product(t, product_line.product_id, cart.currency, update)
            expected = _plan_price(t, plan_line.product_id, product)
            if expected is not None and product is not None and plan_line.price_amount != expected:
                yield (
                    (
                        f"cart {cart.cart_id!r} plan line {plan_line.id!r} ({plan_line.product_id!r}) costs "
                        f"{plan_line.price_amount} {cart.currency}, but Hakuna prices it at {expected} {cart.currency} "
                        f"for {product_line.product_id!r} (its list price {_price(product)} falls in that band): carry "
                        "the price the plan look-up answers, never discounted"
                    ),
                    _ids([update] if update else []),
                )
    yield from _order_plans_mispriced(t, journal)


def _order_plans_mispriced(t: TenantView, journal: Journal) -> Found:
    placed = {e.body["payload"]["order_id"]: e for e in journal.events("order_placed")}
    for order in t.orders.values():
        placement = placed.get(order.order_id)
        for plan_line_id, product_id in _order_plans(order):
            ordered = order.line(plan_line_id)
            assert ordered is not None
            product = journal.known_product(t, product_id, order.currency, placement)
            expected = _plan_price(t, ordered.product_id, product)
            if expected is not None and product is not None and ordered.price_amount != expected:
                yield (
                    (
                        f"order {order.order_id!r} plan line {ordered.id!r} ({ordered.product_id!r}) costs "
                        f"{ordered.price_amount} {order.currency}, but Hakuna prices it at {expected} {order.currency} "
                        f"for {product_id!r} (its list price {_price(product)} falls in that band): place plans at "
                        "the price the look-up answers; product coupons never discount a plan"
                    ),
                    _ids([placement] if placement else []),
                )


def _price(product: Product) -> str:
    return f"{product.price_amount} {product.price_currency}"


def _plan_price(t: TenantView, plan_id: str, product: Product | None) -> int | None:
    """The catalog's price of a plan for a product Hakuna knows; None where it cannot say."""
    plan = t.catalog.plan(plan_id)
    if plan is None or product is None:
        return None
    return plan.price_for(product)


def _order_plans(order: Order) -> list[tuple[str, str]]:
    """(plan line id, protected product_id) for every plan line of an order."""
    product_of = {l.id: l.product_id for l in order.lines}
    return list(dict.fromkeys((p.plan_line_item_id, product_of[p.product_line_item_id]) for p in order.protections))


def order_plans_not_eligible(t: TenantView, journal: Journal) -> Found:
    """An order plan that does not cover its product is accepted (the real API's answer
    is not public) and reported: the customer would hold a plan that covers nothing."""
    placed = {e.body["payload"]["order_id"]: e for e in journal.events("order_placed")}
    for order in t.orders.values():
        placement = placed.get(order.order_id)
        ids = _ids([placement] if placement else [])
        for plan_line_id, product_id in _order_plans(order):
            plan_line = order.line(plan_line_id)
            assert plan_line is not None
            plan = t.catalog.plan(plan_line.product_id)
            assert plan is not None
            if plan.currency != order.currency:
                yield (
                    (
                        f"order {order.order_id!r} plan line {plan_line.id!r}: plan {plan.merchant_product_id!r} is "
                        f"sold in {plan.currency!r} but the order is in {order.currency!r}: offer the plans the look-up "
                        "answers for the order's currency"
                    ),
                    ids,
                )
                continue
            product = journal.known_product(t, product_id, order.currency, placement)
            if product is not None and plan.price_for(product) is None:
                other = t.catalog.plans_for(product.category)
                why = (
                    "its category has no plan"
                    if not other
                    else f"the plans for its category are {', '.join(p.merchant_product_id for p in other[:5])}"
                )
                yield (
                    (
                        f"order {order.order_id!r} plan line {plan_line.id!r}: plan {plan.merchant_product_id!r} does "
                        f"not cover {product_id!r} (category {product.category!r}, list price {product.price_amount} "
                        f"{product.price_currency}; {why}): put on an order only a plan the look-up offered for that "
                        "product"
                    ),
                    ids,
                )


def _units(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Units per product_id (plans included)."""
    units: dict[str, int] = defaultdict(int)
    for product_id, quantity in lines:
        units[product_id] += quantity
    return dict(units)


def orders_differ_from_carts(t: TenantView, journal: Journal) -> Found:
    """Units per product and per plan must match the checked-out cart. Line ids may be
    renumbered by the ERP, lines split or merged, and product prices changed (coupons):
    none of that is a finding; plan prices are judged by `plans_mispriced`."""
    placed = {e.body["payload"]["order_id"]: e for e in journal.events("order_placed")}
    for order in t.orders.values():
        cart = t.carts.get(order.cart_id or "")
        if cart is None or cart.order_id != order.order_id:
            continue
        in_cart = _units((l.product_id, l.quantity) for l in cart.lines)
        in_order = _units((l.product_id, l.quantity) for l in order.lines)
        differ = [
            f"{pid}: {in_cart.get(pid, 0)} in the cart, {in_order.get(pid, 0)} in the order"
            for pid in sorted(set(in_cart) | set(in_order))
            if in_cart.get(pid, 0) != in_order.get(pid, 0)
        ]
        if differ:
            ids = [placed[order.order_id].request_id] if order.order_id in placed else []
            yield (
                (
                    f"order {order.order_id!r} differs from its checked-out cart {cart.cart_id!r} in units "
                    f"({'; '.join(differ)}): place the order with the units of the cart the customer checked out"
                ),
                ids,
            )


# -- checkout and orders ----------------------------------------------------------------


def checkouts_without_orders(t: TenantView, journal: Journal) -> Found:
    for e in journal.accepted("checkout"):
        order_id = e.body["order_id"]
        if order_id in t.orders or e.replayed:
            continue
        refused = journal.refused("event", _order_placed_for(order_id))
        yield (
            (
                f"checkout of cart {e.body['cart_id']!r} as order {order_id!r}, but no accepted order_placed "
                f"event for that order: publish order_placed from the ERP"
                f"{_refusal_note(refused, 'its order_placed')}"
            ),
            [e.request_id, *_ids(refused)],
        )


def orders_without_checkouts(t: TenantView, journal: Journal) -> Found:
    for e in journal.events("order_placed"):
        payload = e.body["payload"]
        cart_id = payload.get("cart_id")
        if not cart_id or e.replayed:
            continue
        cart = t.carts.get(cart_id)
        if cart is not None and cart.order_id == payload["order_id"]:
            continue
        refused = journal.refused("checkout", _checkout_of(cart_id))
        if cart is None:
            reason = "no cart of that id was ever sent by this key, so its plans connected through product_reference"
            fix = "send the cart update and its checkout (both POST /sandbox/orders, the guide's URL) before the order"
        else:
            reason = (
                "that cart was checked out as order " + repr(cart.order_id)
                if cart.order_id
                else "that cart was never checked out"
            )
            fix = "notify Hakuna of the checkout (cart_id, user_session_id, order_id) when the order is placed"
        yield (
            (
                f"order {payload['order_id']!r} was placed with cart_id {cart_id!r}, but {reason}: {fix}"
                f"{_refusal_note(refused, 'a checkout of that cart')}"
            ),
            [e.request_id, *_ids(refused)],
        )


# -- ERP --------------------------------------------------------------------------------


def products_refunded_without_plans(t: TenantView, journal: Journal) -> Found:
    """Guide: a protected product refunded must have its plan refunded too. Only plans
    that could still be refunded with it are asked for: a pending protection always, an
    active one until the with-product window closes."""
    months = t.refund_windows.with_product_months
    for order in t.orders.values():
        for line in order.lines:
            if line.kind != "product" or not line.refunded_at:
                continue
            mine = order.protections_of(product_line=line.id)
            ended = sum(1 for p in mine if p.status in ("refunded", "cancelled"))
            last_refund = max(line.refunded_at)
            open_ = [
                p
                for p in mine
                if p.status == "pending"
                or (p.status == "active" and p.starts_at is not None and last_refund <= add_months(p.starts_at, months))
            ]
            missing = min(line.refunded_quantity - ended, len(open_))
            if missing <= 0:
                continue
            plan_lines = sorted({p.plan_line_item_id for p in open_})
            deadlines = [add_months(p.starts_at, months) for p in open_ if p.status == "active" and p.starts_at]
            until = f" (possible until {format_timestamp(min(deadlines))})" if deadlines else ""
            refunds = [e for e in journal.events("order_refund_added") if e.body["payload"]["order_id"] == order.order_id]
            refused = journal.refused("event", _event_for("order_refund_added", order.order_id))
            yield (
                (
                    f"order {order.order_id!r}: product line {line.id!r} was refunded {line.refunded_quantity} unit(s) "
                    f"but {missing} of its protections (plan line(s) {', '.join(map(repr, plan_lines))}) were not: "
                    f"refund {missing} unit(s) of the plan with the product they protect{until}"
                    f"{_refusal_note(refused, 'a refund for this order')}"
                ),
                _ids(refunds + refused),
            )


# -- timelines ----------------------------------------------------------------------------

# What an event dated before its order does, by the event's type: (the items' field, their
# time's field, what such a time does to the order).
_DATED_EVENTS = {
    "order_fulfillment_added": (
        "fulfillment_line_items",
        "fulfilled_at",
        "its protections start then, before the order existed, and so do their terms and the "
        "windows for refunding a plan (14 days alone, 3 months with its product): they end early by as much",
    ),
    "order_refund_added": (
        "refund_line_items",
        "refunded_at",
        "refund windows are measured to that time, so a refund can pass inside a window it is past",
    ),
    "order_cancelled": (None, "cancelled_at", "the order reads as cancelled before it was placed"),
}


def events_dated_before_placement(t: TenantView, journal: Journal) -> Found:
    """An event's times cannot come before its order's `placed_at`: accepted (the real
    API's reaction is not public), and the mark of a time-zone mix-up, a shop that sends
    local wall-clock time labelled `Z`."""
    for event_type, (items_field, stamp, effect) in _DATED_EVENTS.items():
        for e in journal.events(event_type):
            payload = e.body["payload"]
            order = t.orders.get(payload["order_id"])
            if order is None:
                continue
            items = payload[items_field] if items_field else [payload]
            early = sorted({item[stamp] for item in items if parse_timestamp(item[stamp]) < order.placed_at})
            if not early:
                continue
            gap = order.placed_at - min(parse_timestamp(text) for text in early)
            yield (
                (
                    f"order {order.order_id!r}: {event_type} is dated {', '.join(early)}, {_span(gap)} before the order "
                    f"was placed ({format_timestamp(order.placed_at)}): {effect}. A time before its order is the mark of "
                    "a time-zone mix-up (local wall-clock time sent with Z): send every time in UTC, or with its offset"
                ),
                [e.request_id],
            )


def _span(gap: timedelta) -> str:
    minutes = round(gap.total_seconds() / 60)
    if minutes < 1:
        return f"{gap.total_seconds():.3f} seconds"
    if minutes < 120:
        return f"{minutes} minute(s)"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} hours"
    return f"{gap.days} days"


def orders_before_checkouts(t: TenantView, journal: Journal) -> Found:
    """An order_placed that reached Hakuna before its cart's checkout (an ERP queue
    worked off late). The simulator still connects its plans through that cart; the real
    API links a cart to its order through the checkout, so it may not."""
    checked_out: dict[tuple[str, str], Record] = {}
    for e in journal.accepted("checkout"):
        checked_out.setdefault((e.body["cart_id"], e.body["order_id"]), e)
    for e in journal.events("order_placed"):
        payload = e.body["payload"]
        cart_id = payload.get("cart_id")
        checkout = checked_out.get((cart_id, payload["order_id"])) if cart_id else None
        if checkout is None or checkout.seq < e.seq or e.replayed:
            continue  # checked out first, or never (order-without-checkout says so)
        bare = [
            line["id"]
            for line in payload["line_items"]
            if t.catalog.is_plan(line["product_id"]) and not (line.get("custom_properties") or {}).get("product_reference")
        ]
        if bare:
            risk, severity = (
                f"plan line(s) {', '.join(map(repr, bare))} carry no custom_properties.product_reference, so there "
                "they may stay unconnected and their protections never be created",
                ERROR,
            )
        else:
            risk, severity = "every plan line carries its product_reference, so the order stands on its own", WARNING
        yield (
            (
                f"order {payload['order_id']!r} was placed with cart_id {cart_id!r} before that cart's checkout came "
                f"(request {checkout.request_id}): the real API links a cart to its order through the checkout, so an "
                f"order that arrives first may find no cart to connect through; {risk}. The simulator connected it "
                "through the cart. Send the checkout when the order is placed, before the ERP's order_placed, and give "
                "every plan line its product_reference"
            ),
            [e.request_id, checkout.request_id],
            severity,
        )


def plans_fulfilled_before_products(t: TenantView, journal: Journal) -> Found:
    shipped: dict[tuple[str, str], int] = defaultdict(int)
    for e in journal.events("order_fulfillment_added"):
        order = t.orders.get(e.body["payload"]["order_id"])
        if order is None:
            continue
        for item in e.body["payload"]["fulfillment_line_items"]:
            shipped[(order.order_id, item["line_item_id"])] += item["quantity"]
        protected: dict[str, set[str]] = defaultdict(set)
        for p in order.protections:
            protected[p.plan_line_item_id].add(p.product_line_item_id)
        for plan_line, products in protected.items():
            ahead = shipped[(order.order_id, plan_line)] - sum(shipped[(order.order_id, p)] for p in products)
            if ahead > 0:
                refused = journal.refused("event", _event_for("order_fulfillment_added", order.order_id))
                yield (
                    (
                        f"order {order.order_id!r}: plan line {plan_line!r} was fulfilled {ahead} unit(s) ahead of "
                        f"the product line(s) {', '.join(map(repr, sorted(products)))} it protects: fulfil a plan with "
                        "or after the product it protects (or not at all)"
                        f"{_refusal_note(refused, 'a fulfilment for this order')}"
                    ),
                    [e.request_id, *_ids(refused)],
                )


RULES: tuple[Rule, ...] = (
    Rule(
        "auth-bearer-header",
        WARNING,
        "the key is sent in the guide's Bearer: header",
        "docs",
        _deviation(
            BEARER_HEADER,
            'the key was sent in the guide\'s "Bearer: <key>" header; the real API reads '
            '"Authorization: Bearer <key>" (docs): send that',
        ),
    ),
    Rule(
        "guide-orders-url",
        WARNING,
        "order events posted to the guide's /sandbox/orders",
        "docs",
        _deviation(
            ORDERS_URL,
            "order events were posted to /sandbox/orders, the guide's URL; the docs publish "
            "order events at POST /sandbox/events: post them there (cart updates and "
            "checkouts stay at /sandbox/orders, the only URL published for them)",
        ),
    ),
    Rule(
        "missing-hakuna-version",
        WARNING,
        "requests without Hakuna-Version",
        "docs",
        _deviation(
            NO_VERSION,
            "no Hakuna-Version header, so the real API answers as its oldest version (docs): "
            f'send "Hakuna-Version: {CURRENT_VERSION}", the current public version',
        ),
    ),
    Rule(
        "integral-number",
        WARNING,
        "integers written with a fraction (2.0)",
        "simulator",
        _deviation(
            INTEGRAL_NUMBER,
            "an integer was written with a fraction (such as 2.0); the simulator reads it "
            "as the integer, as JSON Schema does, but the docs show integers without "
            "one: send amounts and quantities as plain integers",
        ),
    ),
    Rule("refused-request", ERROR, "requests the API refused", "simulator", refused_requests),
    Rule(
        "retry-without-idempotency-key",
        ERROR,
        "retries without the first attempt's idempotency key",
        "docs",
        retries_without_idempotency_key,
    ),
    Rule(
        "plan-line-without-reference", ERROR, "cart plan lines without product_reference", "guide", plan_lines_without_reference
    ),
    Rule("protection-lost", ERROR, "plan lines removed because of the shop's mistake", "simulator", protections_lost),
    Rule("pending-cart-actions", ERROR, "carts checked out or ordered with actions pending", "guide", pending_cart_actions),
    Rule("plan-mispriced", ERROR, "plan lines priced other than the catalog's price for their product", "docs", plans_mispriced),
    Rule("order-plan-not-eligible", ERROR, "order plan lines that do not cover their product", "docs", order_plans_not_eligible),
    Rule(
        "order-differs-from-cart",
        ERROR,
        "orders whose units differ from the checked-out cart",
        "simulator",
        orders_differ_from_carts,
    ),
    Rule("checkout-without-order", ERROR, "checkouts without order_placed", "guide", checkouts_without_orders),
    Rule("order-without-checkout", ERROR, "orders with a cart_id but no checkout", "guide", orders_without_checkouts),
    Rule(
        "product-refunded-without-plan",
        ERROR,
        "protected products refunded without their plan",
        "guide",
        products_refunded_without_plans,
    ),
    Rule(
        "plan-fulfilled-before-product", WARNING, "plans fulfilled before their product", "guide", plans_fulfilled_before_products
    ),
    Rule(
        "event-before-order-placed",
        ERROR,
        "fulfilments, refunds or cancellations dated before their order was placed",
        "simulator",
        events_dated_before_placement,
    ),
    Rule(
        "order-before-checkout",
        ERROR,
        "orders placed before their cart's checkout (a warning when every plan line has its product_reference)",
        "guide",
        orders_before_checkouts,
    ),
)


def judged(t: TenantView) -> Journal:
    """The key's vendor requests as the rules read them."""
    return Journal([e for e in t.records() if e.path.startswith("/sandbox")], check_accepted=t.shadow, complete=not t.dropped)


def findings(t: TenantView, journal: Journal) -> list[Finding]:
    """Every rule's findings; one mistake repeated (a checkout sent twice) is one finding
    that names all its requests, so the summary counts mistakes, not requests."""
    merged: dict[tuple[str, str], list[str]] = {}
    severity: dict[tuple[str, str], str] = {}
    for rule in RULES:
        pace()
        for found in rule.check(t, journal):
            message, request_ids = found[0], found[1]
            merged.setdefault((rule.id, message), []).extend(request_ids)
            severity[(rule.id, message)] = found[2] if len(found) > 2 else rule.severity
    return [
        Finding(rule_id, severity[(rule_id, message)], message, tuple(dict.fromkeys(ids)))
        for (rule_id, message), ids in merged.items()
    ]


SEVERITY_RANK = {WARNING: 1, ERROR: 2}


def fails(severity: str, fail_on: str) -> bool:
    """Whether a finding of `severity` fails a run that fails on `fail_on` (`hakuna-sim
    report --fail-on`): warnings only when asked."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[fail_on]


def key_tag(key: str) -> str:
    """A key as a report names it: enough to tell a run's keys apart, not the key."""
    return f"{key[-4:]}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def rules_table() -> Iterator[tuple[str, str, str, str]]:
    """(id, severity, source, summary) per rule, for docs and the dashboard."""
    for rule in RULES:
        yield rule.id, rule.severity, rule.source, rule.summary
