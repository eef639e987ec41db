"""No input makes the simulator answer 5xx (docs/contract.md §2: 5xx only when a fault
is injected), and every 4xx of the API carries the vendor's error body. Hypothesis
drives the whole ASGI app with odd paths, query strings, headers, bodies, nesting,
numbers and dates, on one long-lived app, so state left by one example meets the next;
once keeping state in memory, once in a state file."""

from __future__ import annotations

import json
import os
import string
import tempfile
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.state.sqlite import SqliteStore
from simulator.web.app import create_app

pytestmark = pytest.mark.integration  # hundreds of generated requests against both stores

APP = create_app(SimConfig(catalog=load_catalog(default_catalog_path())))
CLIENT = TestClient(APP, raise_server_exceptions=False)
# The same with every change saved to a state file (`serve --state`).
_STATE_FOLDER = tempfile.TemporaryDirectory()
CLIENTS = {
    "memory": CLIENT,
    "state file": TestClient(
        create_app(
            SimConfig(catalog=load_catalog(default_catalog_path())),
            store=SqliteStore(os.path.join(_STATE_FOLDER.name, "state.db")),
        ),
        raise_server_exceptions=False,
    ),
}

KEYS = ["Bearer sk_test_fuzzkey0001", "Bearer sk_test_fuzzkey0002", "Bearer sk_live_abcdefghij", "Basic x", ""]
IDS = st.sampled_from(["o-1", "o-2", "c-1", "p", "x", "pl-prd-hakuna", "prd-iphone14", "prd-bb-32", ""])
TEXT = st.text(alphabet=string.printable + "²٣é\u2028", max_size=12)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.sampled_from([0, 1, 2.0, 2**53, 2**53 + 1, 10**400, -1]),
)
DATES = st.one_of(
    st.sampled_from(
        [
            "2024-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00.123456789Z",
            "2024-01-01 00:00:00z",
        ]
    ),
    TEXT,
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, IDS, DATES)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"x": [value]}
    return value


def line_item() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.one_of(IDS, SCALARS),
            "quantity": st.one_of(st.integers(1, 3), NUMBERS, SCALARS),
            "price_amount": st.one_of(st.integers(0, 200000), NUMBERS),
            "product_id": st.one_of(IDS, SCALARS),
        },
        optional={
            "custom_properties": st.one_of(st.fixed_dictionaries({"product_reference": st.one_of(IDS, SCALARS)}), SCALARS),
            "line_item_id": IDS,
            "fulfilled_at": DATES,
            "refunded_at": DATES,
        },
    )


PAYLOAD = st.fixed_dictionaries(
    {"order_id": st.one_of(IDS, SCALARS)},
    optional={
        "placed_at": DATES,
        "cancelled_at": DATES,
        "order_currency": st.sampled_from(["eur", "EUR", "chf", "xxx"]),
        "cart_id": st.one_of(IDS, SCALARS),
        "customer": st.fixed_dictionaries({"first_name": IDS, "last_name": IDS, "email": st.sampled_from(["a@b.cd", "x"])}),
        "customer_billing_address": st.fixed_dictionaries(
            {"address_line_1": IDS, "city": IDS, "zip": IDS, "country": st.sampled_from(["de", "DE", "us", "aq", ""])}
        ),
        "line_items": st.lists(line_item(), max_size=4),
        "fulfillment_line_items": st.lists(line_item(), max_size=3),
        "refund_line_items": st.lists(line_item(), max_size=3),
    },
)

BODIES = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["order_placed", "order_fulfillment_added", "order_refund_added", "order_cancelled", "other"]
            ),
            "payload": PAYLOAD,
        }
    ),
    st.fixed_dictionaries(
        {
            "cart_id": IDS,
            "user_session_id": IDS,
            "cart_currency": st.sampled_from(["eur", "EUR"]),
            "line_items": st.lists(line_item(), max_size=5),
        }
    ),
    st.fixed_dictionaries({"cart_id": IDS, "user_session_id": IDS, "order_id": IDS}),
    st.fixed_dictionaries(
        {},
        optional={
            "refund_windows": st.fixed_dictionaries({}, optional={"plan_alone_days": NUMBERS, "with_product_months": NUMBERS}),
            "magic_values": SCALARS,
        },
    ),
    st.fixed_dictionaries(
        {
            "faults": st.lists(
                st.fixed_dictionaries(
                    {"route": st.sampled_from(["/sandbox/none", "/x"])},
                    optional={
                        "status": NUMBERS,
                        "count": NUMBERS,
                        "rate": NUMBERS,
                        "latency_ms": st.integers(0, 1),
                        "retry_after": NUMBERS,
                    },
                ),
                max_size=2,
            )
        }
    ),
    st.integers(0, 300).map(nested),
    st.recursive(
        SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8
    ),
)

PATHS = st.one_of(
    st.sampled_from(
        [
            "/sandbox/plans",
            "/sandbox/carts",
            "/sandbox/checkouts",
            "/sandbox/events",
            "/sandbox/orders",
            "/sandbox/orders/o-1",
            "/sandbox/orders/o-1/plan_connections",
            "/sandbox/carts/c-1/plan_connections",
            "/sandbox/events/evt-1",
            "/__sim/settings",
            "/__sim/faults",
            "/__sim/journal",
            "/__sim/report",
            "/__sim/catalog",
            "/__sim/reset",
            "/__sim/",
            "/__sim/requests/req-1",
            "/openapi.json",
            "/healthz",
            "/sandbox/cart",
            "/",
            "/sandbox/orders/%C3%A9/plan_connections",
        ]
    ),
    TEXT.map(lambda t: "/sandbox/" + quote(t, safe="/")),
)
QUERY_NAMES = [
    "product_id",
    "product_category",
    "product_price_amount",
    "product_price_currency",
    "user_session_id",
    "product_title",
    "status",
    "path",
    "format",
    "cart_id",
    "order_id",
    "method",
]
QUERIES = st.dictionaries(
    st.sampled_from(QUERY_NAMES),
    st.one_of(TEXT, st.sampled_from(["--5", "9" * 5000, "²", "-0", "112900", "eur", "smartphones", "junit", "200"])),
    max_size=8,
)
HEADERS = st.fixed_dictionaries(
    {"Authorization": st.sampled_from(KEYS)},
    optional={
        "Hakuna-Version": st.sampled_from(["v2.0", "v9", ""]),
        "Content-Type": st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"]),
        "Hakuna-Idempotency-Key": st.sampled_from(["k1", "k2", "x" * 300]),
        "X-Filler": st.sampled_from(["a" * 100, "b" * 20000]),
    },
)


def html_page(path: str) -> bool:
    """The dashboard's pages answer HTML, not the vendor's error body."""
    return path in ("/__sim/", "/__sim/login", "/__sim/logout") or path.startswith(("/__sim/requests/", "/__sim/login/"))


AUTH = {"Authorization": KEYS[0], "Content-Type": "application/json"}
PLAN_QUERY = {"product_id": "p", "product_category": "smartphones", "product_price_currency": "eur", "user_session_id": "s"}
FULFIL_9999 = {
    "type": "order_fulfillment_added",
    "payload": {
        "order_id": "o-9999",
        "fulfillment_line_items": [{"line_item_id": "p", "quantity": 1, "fulfilled_at": "9999-12-31T00:00:00Z"}],
    },
}
REFUND_9999 = {
    "type": "order_refund_added",
    "payload": {
        "order_id": "o-9999",
        "refund_line_items": [{"line_item_id": "x", "quantity": 1, "refunded_at": "9999-12-31T23:00:00Z"}],
    },
}


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=PATHS,
    query=QUERIES,
    headers=HEADERS,
    body=BODIES,
    raw=st.booleans(),
)
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
# Inputs that once answered 500, kept as examples.
@example("GET", "/sandbox/plans", {**PLAN_QUERY, "product_price_amount": "--5"}, AUTH, {}, False)
@example("GET", "/sandbox/plans", {**PLAN_QUERY, "product_price_amount": "9" * 5000}, AUTH, {}, False)
@example("GET", "/__sim/journal", {"status": "²"}, AUTH, {}, False)
@example("PUT", "/__sim/settings", {}, AUTH, {"refund_windows": {"plan_alone_days": 10**9}}, False)
@example(
    "POST",
    "/sandbox/events",
    {},
    AUTH,
    {"type": "order_cancelled", "payload": {"order_id": "o-1", "cancelled_at": "2024-01-01T00:00:00Z", "x": nested(300)}},
    False,
)
@example(
    "POST",
    "/sandbox/carts",
    {},
    AUTH,
    {"cart_id": "c", "user_session_id": "s", "cart_currency": "eur", "line_items": [], "x": nested(300)},
    False,
)
@example(
    "POST",
    "/sandbox/events",
    {},
    AUTH,
    {
        "type": "order_placed",
        "payload": {
            "order_id": "o-9999",
            "placed_at": "2024-01-01T00:00:00Z",
            "order_currency": "eur",
            "customer": {"first_name": "a", "last_name": "b", "email": "a@b.cd"},
            "customer_billing_address": {"address_line_1": "x", "city": "y", "country": "de", "zip": "1"},
            "line_items": [
                {"id": "p", "quantity": 1, "price_amount": 1, "product_id": "prd-iphone14"},
                {
                    "id": "x",
                    "quantity": 1,
                    "price_amount": 1,
                    "product_id": "pl-prd-hakuna",
                    "custom_properties": {"product_reference": "prd-iphone14"},
                },
            ],
        },
    },
    False,
)
@example(
    "POST",
    "/sandbox/events",
    {},
    AUTH,
    {
        "type": "order_placed",
        "payload": {  # found by schemathesis
            "order_id": "o-huge",
            "placed_at": "2024-01-01T00:00:00Z",
            "order_currency": "eur",
            "customer": {"first_name": "a", "last_name": "b", "email": "a@b.cd"},
            "x": [None, 1.7976931348623157e308],
            "customer_billing_address": {"address_line_1": "x", "city": "y", "country": "de", "zip": "1"},
            "line_items": [{"id": "p", "quantity": 1, "price_amount": 1, "product_id": "prd-bb-32"}],
        },
    },
    False,
)
@example("POST", "/sandbox/events", {}, AUTH, FULFIL_9999, False)
@example("POST", "/sandbox/events", {}, AUTH, REFUND_9999, False)
@pytest.mark.parametrize("store", list(CLIENTS))
def test_no_input_gets_a_server_error_and_every_refusal_the_vendor_body(
    store: str, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any, raw: bool
) -> None:
    client = CLIENTS[store]
    content = json.dumps(body).encode() if not raw else json.dumps(body)[:-1].encode()
    response = client.request(method, path, params=query, headers=headers, content=content)
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if 400 <= response.status_code < 500 and not html_page(response.url.path):
        error = response.json()
        assert set(error) == {"error"} and set(error["error"]) == {"error_code", "validation_errors"}, error
        assert error["error"]["validation_errors"] and len(error["error"]["validation_errors"]) <= 100
    # What any request left behind can still be read.
    for read in ("/__sim/journal", "/__sim/report", "/sandbox/orders/o-1", "/sandbox/events/evt-1"):
        assert client.get(read, headers={"Authorization": KEYS[0]}).status_code < 500
