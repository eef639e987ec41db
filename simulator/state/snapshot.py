"""A tenant's whole state as one JSON document (docs/contract.md §7, schemas/sim-state.json).

The same per-item documents serve three readers: `GET`/`PUT /__sim/state` and
`hakuna-sim state export|import` write and read them whole, a tenant keeps its carts,
orders and events as them (frozen, simulator/state/shelf.py), and the SQLite store keeps
one per row (`simulator/state/sqlite.py`), so what a restart loads is what an import
would build.

Times are kept exactly (ISO 8601 with microseconds), not as the API renders them, so a
round trip changes nothing. `rebase` moves every time by one amount: a fixture taken
once ("fulfilled 13 days ago") means the same thing whenever it is imported.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from simulator.contract.catalog import build_catalog, catalog_document, catalog_problems
from simulator.domain.carts import REMOVE, UPDATE, Cart, Connection, LineItem, Reconciliation
from simulator.domain.faults import FaultPlan, FaultRule
from simulator.domain.idempotency import IdempotencyStore, Remembered
from simulator.domain.matching import Catalog, Product
from simulator.domain.orders import MAX_ORDER_UNITS, Order, OrderLine, Protection, RefundWindows
from simulator.domain.timefmt import format_timestamp
from simulator.state import footprint
from simulator.state.journal import Entry, Journal
from simulator.state.shelf import freeze_document

FORMAT = "hakuna-sim-state/1"


# -- times ------------------------------------------------------------------------------


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse_time(text: str | None, shift: timedelta) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return (moment + shift).astimezone(UTC)
    except OverflowError:  # moved past the calendar's end (a term that never ends)
        return (datetime.max if shift > timedelta(0) else datetime.min).replace(tzinfo=UTC)


# -- products and carts -----------------------------------------------------------------


def product_doc(p: Product) -> dict[str, Any]:
    return {k: v for k, v in p._asdict().items() if v is not None}


def product_from(d: Mapping[str, Any]) -> Product:
    return Product(d["id"], d["category"], d["price_amount"], d["price_currency"], d.get("title"), d.get("brand"))


def cart_doc(c: Cart) -> dict[str, Any]:
    return {
        "cart_id": c.cart_id,
        "user_session_id": c.user_session_id,
        "cart_currency": c.currency,
        "order_id": c.order_id,
        "line_items": [{k: v for k, v in l._asdict().items() if v is not None} for l in c.lines],
        "plan_connections": [conn.as_body() for conn in c.reconciliation.connections],
        "actions": list(c.reconciliation.actions),
        "removal_reasons": dict(c.reconciliation.removal_reasons),
    }


def cart_from(d: Mapping[str, Any]) -> Cart:
    steps = tuple(
        (REMOVE, a["payload"]["line_item_id"])
        if a["type"] == REMOVE
        else (UPDATE, a["payload"]["line_item_id"], a["payload"]["line_item_quantity"])
        for a in d["actions"]
    )
    return Cart(
        d["cart_id"],
        d["user_session_id"],
        d["cart_currency"],
        tuple(
            LineItem(
                l["id"],
                l["product_id"],
                l["quantity"],
                l["price_amount"],
                l.get("product_reference"),
                l.get("product_title"),
                l.get("product_brand"),
            )
            for l in d["line_items"]
        ),
        Reconciliation(
            tuple(Connection(c["product_line_item_id"], c["plan_line_item_id"]) for c in d["plan_connections"]),
            steps,
            dict(d["removal_reasons"]),
        ),
        d.get("order_id"),
    )


# -- orders and events ------------------------------------------------------------------


def order_doc(o: Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "status": o.status,
        "order_currency": o.currency,
        "cart_id": o.cart_id,
        "placed_at": _time(o.placed_at),
        "cancelled_at": _time(o.cancelled_at),
        "billing_country": o.billing_country,
        "line_items": [
            {
                "id": l.id,
                "product_id": l.product_id,
                "kind": l.kind,
                "quantity": l.quantity,
                "price_amount": l.price_amount,
                "product_reference": l.product_reference,
                "fulfilled_at": [_time(t) for t in l.fulfilled_at],
                "refunded_at": [_time(t) for t in l.refunded_at],
            }
            for l in o.lines
        ],
        "plan_connections": [c.as_body() for c in o.connections],
        "protections": [
            {
                "protection_id": p.protection_id,
                "plan_line_item_id": p.plan_line_item_id,
                "product_line_item_id": p.product_line_item_id,
                "merchant_product_id": p.merchant_product_id,
                "term_months": p.term_months,
                "status": p.status,
                "starts_at": _time(p.starts_at),
                "ends_at": _time(p.ends_at),
                "refunded_with_product": p.refunded_with_product,
            }
            for p in o.protections
        ],
    }


def order_from(d: Mapping[str, Any], shift: timedelta = timedelta(0)) -> Order:
    def times(values: Iterable[str]) -> tuple[datetime, ...]:
        return tuple(t for t in (_parse_time(v, shift) for v in values) if t is not None)

    lines = [
        OrderLine(
            l["id"],
            l["product_id"],
            l["kind"],
            l["quantity"],
            l["price_amount"],
            l.get("product_reference"),
            times(l["fulfilled_at"]),
            times(l["refunded_at"]),
        )
        for l in d["line_items"]
    ]
    placed_at = _parse_time(d["placed_at"], shift)
    assert placed_at is not None
    return Order(
        order_id=d["order_id"],
        status=d["status"],
        currency=d["order_currency"],
        cart_id=d.get("cart_id"),
        placed_at=placed_at,
        lines=lines,
        connections=tuple(Connection(c["product_line_item_id"], c["plan_line_item_id"]) for c in d["plan_connections"]),
        protections=[
            Protection(
                p["protection_id"],
                p["plan_line_item_id"],
                p["product_line_item_id"],
                p["merchant_product_id"],
                p["term_months"],
                p["status"],
                _parse_time(p.get("starts_at"), shift),
                _parse_time(p.get("ends_at"), shift),
                p["refunded_with_product"],
            )
            for p in d["protections"]
        ],
        cancelled_at=_parse_time(d.get("cancelled_at"), shift),
        billing_country=d.get("billing_country"),
        units=sum(l.quantity for l in lines),
    )


def event_from(d: Mapping[str, Any], shift: timedelta = timedelta(0)) -> dict[str, Any]:
    """An event's document (as GET /sandbox/events/{id} answers it), its times moved."""
    if not shift:
        return {"event_id": d["event_id"], "type": d["type"], "payload": d["payload"], "received_at": d["received_at"]}
    received = _parse_time(d["received_at"], shift)
    return {
        "event_id": d["event_id"],
        "type": d["type"],
        "payload": _moved_payload(d["payload"], shift),
        "received_at": format_timestamp(received) or d["received_at"],
    }


# The times an event's payload carries (docs/contract.md §6): a rebased event reads as
# the order it built does.
_PAYLOAD_TIMES = {
    "placed_at": None,
    "cancelled_at": None,
    "fulfillment_line_items": "fulfilled_at",
    "refund_line_items": "refunded_at",
}


def _moved_payload(payload: Mapping[str, Any], shift: timedelta) -> dict[str, Any]:
    def moved(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return format_timestamp(_parse_time(value, shift))
        except ValueError:
            return value  # not a time: kept as it was sent

    out = dict(payload)
    for name, inner in _PAYLOAD_TIMES.items():
        if name not in out:
            continue
        if inner is None:
            out[name] = moved(out[name])
        elif isinstance(out[name], list):
            out[name] = [
                {**item, inner: moved(item.get(inner))} if isinstance(item, dict) and inner in item else item
                for item in out[name]
            ]
    return out


# -- idempotency keys and the journal ---------------------------------------------------


def _text(raw: bytes) -> dict[str, str]:
    """Bytes as text where they are UTF-8 (always, for what the simulator accepted),
    else as base64: a refused body may be any bytes."""
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}


def _bytes(d: Mapping[str, str]) -> bytes:
    if "base64" in d:
        return base64.b64decode(d["base64"])
    return d["text"].encode("utf-8")


def idempotency_doc(key: str, r: Remembered) -> dict[str, Any]:
    return {
        "key": key,
        "fingerprint": r.fingerprint,
        "status": r.status,
        "response": _text(r.answer),
        "stored_at": _time(r.stored_at),
    }


def idempotency_from(d: Mapping[str, Any], shift: timedelta = timedelta(0)) -> tuple[str, Remembered]:
    stored_at = _parse_time(d["stored_at"], shift)
    assert stored_at is not None
    return d["key"], Remembered(d["fingerprint"], d["status"], _bytes(d["response"]), stored_at)


def journal_doc(entry: Entry) -> dict[str, Any]:
    (seq, request_id, at, method, path, query, headers, body, status, answer, duration, deviations, replayed, truncated) = entry
    return {
        "seq": seq,
        "request_id": request_id,
        "at": at,
        "method": method,
        "path": path,
        "query": query,
        "headers": orjson.loads(headers),
        "body": _text(body),
        "status": status,
        "response": _text(answer),
        "duration_ms": duration,
        "deviations": list(filter(None, deviations.split(","))),
        "replayed": bool(replayed),  # SQLite gives 0 or 1
        "truncated": truncated,
    }


def journal_from(d: Mapping[str, Any], shift: timedelta = timedelta(0)) -> Entry:
    return Entry(
        d["seq"],
        d["request_id"],
        d["at"] + shift.total_seconds(),
        d["method"],
        d["path"],
        d["query"],
        orjson.dumps(d["headers"]),
        _bytes(d["body"]),
        d["status"],
        _bytes(d["response"]),
        float(d["duration_ms"]),
        ",".join(d["deviations"]),
        bool(d["replayed"]),
        d["truncated"],
    )


# -- settings ---------------------------------------------------------------------------


def settings_doc(windows: RefundWindows, magic_values: bool) -> dict[str, Any]:
    return {
        "refund_windows": {"plan_alone_days": windows.plan_alone_days, "with_product_months": windows.with_product_months},
        "magic_values": magic_values,
    }


def fault_docs(plan: FaultPlan) -> list[dict[str, Any]]:
    """Each rule as PUT /__sim/faults takes it, and how many requests it failed."""
    out = []
    for rule in plan.rules:
        body = rule.as_body()
        fired = body.pop("fired")
        out.append({"rule": body, "fired": fired})
    return out


def faults_from(docs: Iterable[Mapping[str, Any]]) -> FaultPlan:
    rules = []
    for d in docs:
        rule = FaultRule.from_body(d["rule"])
        rule.fired = d["fired"]
        rules.append(rule)
    return FaultPlan(rules)


# -- the whole tenant -------------------------------------------------------------------


@dataclass
class Parts:
    """A tenant's state built from a snapshot, what `TenantState.replace` takes: carts,
    orders and events frozen as a shelf keeps them (simulator/state/shelf.py)."""

    catalog: Catalog | None  # None: the server's catalog
    refund_windows: RefundWindows
    magic_values: bool
    faults: FaultPlan
    products: dict[tuple[str, str], Product]
    carts: dict[str, bytes]
    cart_of_order: dict[str, str]  # order id -> the cart checked out as it
    orders: dict[str, bytes]
    events: dict[str, bytes]
    tracked: int  # what the carts, orders, events and products weigh as objects (footprint.py)
    idempotency: IdempotencyStore
    journal: Journal
    generated_ids: int


def document(
    *,
    catalog: Catalog | None,
    refund_windows: RefundWindows,
    magic_values: bool,
    faults: FaultPlan,
    products: Iterable[Product],
    carts: Iterable[Any],
    orders: Iterable[Any],
    events: Iterable[Any],
    idempotency: Iterable[tuple[str, Remembered]],
    journal: tuple[int, Iterable[Entry]],
    generated_ids: int,
    taken_at: datetime,
) -> dict[str, Any]:
    """A snapshot document; carts, orders and events as their documents already (what a
    shelf holds), the journal as its newest seq and its kept entries."""
    next_seq, entries = journal
    return {
        "format": FORMAT,
        "taken_at": _time(taken_at),
        "catalog": None if catalog is None else catalog_document(catalog),
        "settings": settings_doc(refund_windows, magic_values),
        "faults": fault_docs(faults),
        "products": [product_doc(p) for p in products],
        "carts": list(carts),
        "orders": list(orders),
        "events": list(events),
        "idempotency_keys": [idempotency_doc(k, r) for k, r in idempotency],
        "journal": {"next_seq": next_seq, "entries": [journal_doc(e) for e in entries]},
        "generated_ids": generated_ids,
    }


def rebase_shift(doc: Mapping[str, Any], now: datetime) -> timedelta:
    """How far to move every time so that the snapshot reads as if taken `now`."""
    taken = _parse_time(doc["taken_at"], timedelta(0))
    assert taken is not None
    return now - taken


def parts(doc: Mapping[str, Any], shift: timedelta = timedelta(0)) -> Parts:
    """The state of a snapshot that `problems` found nothing wrong with. Every cart and
    order is built once (which checks it reads), weighed, and frozen again."""
    settings = doc["settings"]
    idempotency = IdempotencyStore()
    for key, remembered in sorted((idempotency_from(d, shift) for d in doc["idempotency_keys"]), key=lambda kr: kr[1].stored_at):
        idempotency.load(key, remembered)
    journal = Journal()
    journal.load([journal_from(e, shift) for e in doc["journal"]["entries"]], doc["journal"]["next_seq"])
    products = {(p["id"], p["price_currency"]): product_from(p) for p in doc["products"]}
    tracked = footprint.PRODUCT * len(products)
    carts, orders, events, cart_of_order = {}, {}, {}, {}
    for c in doc["carts"]:
        cart = cart_from(c)
        tracked += footprint.cart(cart)
        carts[cart.cart_id] = freeze_document(cart_doc(cart))
        if cart.order_id is not None:
            cart_of_order[cart.order_id] = cart.cart_id
    for o in doc["orders"]:
        order = order_from(o, shift)
        tracked += footprint.order(order)
        orders[order.order_id] = freeze_document(order_doc(order))
    for e in doc["events"]:
        frozen = freeze_document(event_from(e, shift))
        tracked += footprint.event(frozen)
        events[e["event_id"]] = frozen
    return Parts(
        catalog=None if doc["catalog"] is None else build_catalog(doc["catalog"]),
        refund_windows=RefundWindows(**settings["refund_windows"]),
        magic_values=settings["magic_values"],
        faults=faults_from(doc["faults"]),
        products=products,
        carts=carts,
        cart_of_order=cart_of_order,
        orders=orders,
        events=events,
        tracked=tracked,
        idempotency=idempotency,
        journal=journal,
        generated_ids=doc["generated_ids"],
    )


# -- what the schema cannot say ---------------------------------------------------------


def problems(doc: Mapping[str, Any], server_catalog: Catalog) -> list[str]:
    """Every way a schema-valid snapshot contradicts itself, each by JSON path: ids that
    repeat, connections to lines that are not there, more units done than ordered, plan
    lines of plans its catalog (its own, else the server's) does not have."""
    found: list[str] = []
    catalog: Catalog | None = server_catalog
    if doc["catalog"] is not None:
        broken = catalog_problems(doc["catalog"])
        found += broken  # each names its path from "catalog"
        catalog = None if broken else build_catalog(doc["catalog"])
    found += _unique(doc["products"], ("id", "price_currency"), "products")
    found += _unique(doc["carts"], "cart_id", "carts")
    found += _unique(doc["orders"], "order_id", "orders")
    found += _unique(doc["events"], "event_id", "events")
    found += _unique(doc["idempotency_keys"], "key", "idempotency_keys")
    linked: dict[str, int] = {}
    for i, cart in enumerate(doc["carts"]):
        where = f"carts[{i}]"
        found += _unique(cart["line_items"], "id", f"{where}.line_items")
        ids = {l["id"] for l in cart["line_items"]}
        found += _connections(cart["plan_connections"], ids, ids, f"{where}.plan_connections")
        for j, action in enumerate(cart["actions"]):
            line_id = action["payload"]["line_item_id"]
            if line_id not in ids:
                found.append(f"{where}.actions[{j}].payload.line_item_id: no line item {line_id!r} in this cart")
        for line_id in cart["removal_reasons"]:
            if line_id not in ids:
                found.append(f"{where}.removal_reasons: no line item {line_id!r} in this cart")
        order_id = cart.get("order_id")
        if order_id is not None:
            if order_id in linked:
                found.append(
                    f"{where}.order_id: order {order_id!r} is also the checkout of carts[{linked[order_id]}]; "
                    "an order comes from one cart"
                )
            linked.setdefault(order_id, i)
    for i, order in enumerate(doc["orders"]):
        where = f"orders[{i}]"
        lines = order["line_items"]
        found += _unique(lines, "id", f"{where}.line_items")
        kinds = {l["id"]: l["kind"] for l in lines}
        products = {k for k, v in kinds.items() if v == "product"}
        plans = {k for k, v in kinds.items() if v == "plan"}
        found += _connections(order["plan_connections"], products, plans, f"{where}.plan_connections")
        units = 0
        for j, line in enumerate(lines):
            units += line["quantity"]
            for stamp in ("fulfilled_at", "refunded_at"):
                if len(line[stamp]) > line["quantity"]:
                    found.append(
                        f"{where}.line_items[{j}].{stamp}: {len(line[stamp])} units, "
                        f"more than the line's quantity {line['quantity']}"
                    )
        if units > MAX_ORDER_UNITS:
            found.append(f"{where}.line_items: {units} units in all, over the simulator's {MAX_ORDER_UNITS} per order")
        for j, p in enumerate(order["protections"]):
            at = f"{where}.protections[{j}]"
            if p["plan_line_item_id"] not in plans:
                found.append(f"{at}.plan_line_item_id: no plan line {p['plan_line_item_id']!r} in this order")
            if p["product_line_item_id"] not in products:
                found.append(f"{at}.product_line_item_id: no product line {p['product_line_item_id']!r} in this order")
            if p["status"] == "active" and p.get("starts_at") is None:
                found.append(f"{at}.starts_at: an active protection has the time its product unit was fulfilled")
        if order["status"] == "cancelled" and order.get("cancelled_at") is None:
            found.append(f"{where}.cancelled_at: a cancelled order has the time it was cancelled")
    entries = doc["journal"]["entries"]
    last = 0
    for i, entry in enumerate(entries):
        if entry["seq"] <= last:
            found.append(f"journal.entries[{i}].seq: {entry['seq']} does not follow {last}; entries are oldest first")
        last = max(last, entry["seq"])
    if last > doc["journal"]["next_seq"]:
        found.append(f"journal.next_seq: {doc['journal']['next_seq']} is below the newest entry's seq {last}")
    for i, order in enumerate(doc["orders"]):
        for j, line in enumerate(order["line_items"]):
            if catalog is not None and line["kind"] == "plan" and not catalog.is_plan(line["product_id"]):
                found.append(
                    f"orders[{i}].line_items[{j}].product_id: {line['product_id']!r} is no plan of the catalog this snapshot uses"
                )
    return found[:100]


def _unique(items: Iterable[Mapping[str, Any]], field: str | tuple[str, ...], where: str) -> list[str]:
    """Items whose `field` (or fields, together) repeat an earlier item's."""
    fields = (field,) if isinstance(field, str) else field
    first: dict[Any, int] = {}
    out = []
    for i, item in enumerate(items):
        value = tuple(item[f] for f in fields)
        if value in first:
            shown = repr(value[0]) if len(value) == 1 else " ".join(repr(v) for v in value)
            out.append(f"{where}[{i}].{fields[0]}: {shown} repeats {where}[{first[value]}].{fields[0]}")
        first.setdefault(value, i)
    return out


def _connections(connections: Iterable[Mapping[str, str]], products: set[str], plans: set[str], where: str) -> list[str]:
    out = []
    for i, c in enumerate(connections):
        if c["product_line_item_id"] not in products:
            out.append(f"{where}[{i}].product_line_item_id: no product line {c['product_line_item_id']!r}")
        if c["plan_line_item_id"] not in plans:
            out.append(f"{where}[{i}].plan_line_item_id: no plan line {c['plan_line_item_id']!r}")
    return out
