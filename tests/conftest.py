from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from contract_tests import guide
from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.domain.matching import Catalog
from simulator.web.app import create_app

KEY = "sk_test_unittests01"
AUTH = {"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v2.0"}


class Clock:
    """A settable clock for the simulator (received_at, idempotency expiry)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_client(catalog: Catalog, clock: Clock) -> Iterator[Callable[..., TestClient]]:
    clients = []

    def make(**config: Any) -> TestClient:
        client = TestClient(
            create_app(SimConfig(catalog=config.pop("catalog", catalog), **config), clock), raise_server_exceptions=False
        )
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def post(client: TestClient, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post(path, content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json", **(headers or {})})


def look_up(client: TestClient, **overrides: Any) -> Any:
    query = {**guide.PLAN_QUERY, **overrides}
    return client.get("/sandbox/plans", params={k: v for k, v in query.items() if v is not None}, headers=AUTH)


def line(line_id: str, product_id: str, quantity: int = 1, price: int = 1000, reference: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": line_id, "quantity": quantity, "price_amount": price, "product_id": product_id}
    if reference is not None:
        item["custom_properties"] = {"product_reference": reference}
    return item


def cart(lines: list[dict[str, Any]], cart_id: str = "cart-1", session: str = "sess-1") -> dict[str, Any]:
    return {"cart_id": cart_id, "user_session_id": session, "cart_currency": "eur", "line_items": lines}


def placed(
    order_id: str, lines: list[dict[str, Any]], cart_id: str | None = None, placed_at: str = "2024-01-10T10:00:00Z"
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "order_id": order_id,
        "placed_at": placed_at,
        "order_currency": "eur",
        "customer": {"first_name": "Max", "last_name": "Mustermann", "email": "max@example.com"},
        "customer_billing_address": {"address_line_1": "Musterstrasse 1", "city": "Musterstadt", "country": "de", "zip": "12345"},
        "line_items": lines,
    }
    if cart_id is not None:
        payload["cart_id"] = cart_id
    return {"type": "order_placed", "payload": payload}


def fulfilled(order_id: str, *items: tuple[str, int], at: str = "2024-01-12T10:00:00Z") -> dict[str, Any]:
    return {
        "type": "order_fulfillment_added",
        "payload": {
            "order_id": order_id,
            "fulfillment_line_items": [{"line_item_id": i, "quantity": q, "fulfilled_at": at} for i, q in items],
        },
    }


def refunded(order_id: str, *items: tuple[str, int], at: str = "2024-01-15T10:00:00Z") -> dict[str, Any]:
    return {
        "type": "order_refund_added",
        "payload": {
            "order_id": order_id,
            "refund_line_items": [{"line_item_id": i, "quantity": q, "refunded_at": at} for i, q in items],
        },
    }


def cancelled(order_id: str, at: str = "2024-01-11T10:00:00Z") -> dict[str, Any]:
    return {"type": "order_cancelled", "payload": {"order_id": order_id, "cancelled_at": at}}


def error_of(response: Any) -> tuple[str, list[str]]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"error_code", "validation_errors"}, body
    return body["error"]["error_code"], body["error"]["validation_errors"]
