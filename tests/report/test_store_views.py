"""A shop with store views in several currencies (docs/contract.md §4 and §8): one
product id sells at a list price per currency, carts and orders are judged by the
price the product has in their own currency, and a look-up never changes the verdict
on an earlier cart or order."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH, error_of, post

VIEWS: dict[str, dict[str, Any]] = {
    # A German (eur) and a Swiss (chf) store view of the same phone, each with its own plan.
    "eur": {"price": 112900, "plan": "pl-prd-hakuna", "plan_price": 1200, "country": "de"},
    "chf": {"price": 99900, "plan": "pl-prd-hakuna-phone-ch", "plan_price": 1490, "country": "ch"},
}


def look_up(client: TestClient, currency: str, price: int | None = None) -> Any:
    view = VIEWS[currency]
    return client.get(
        "/sandbox/plans",
        headers=AUTH,
        params={
            "product_id": "prd-iphone14",
            "product_category": "smartphones",
            "product_title": "iPhone 14",
            "product_brand": "Apple",
            "product_price_amount": price or view["price"],
            "product_price_currency": currency,
            "user_session_id": f"s-{currency}",
        },
    )


def cart(currency: str, n: int) -> dict[str, Any]:
    view = VIEWS[currency]
    return {
        "cart_id": f"c-{currency}-{n}",
        "user_session_id": f"s-{currency}",
        "cart_currency": currency,
        "line_items": [
            {"id": "phone", "quantity": 1, "price_amount": view["price"], "product_id": "prd-iphone14"},
            {
                "id": "plan",
                "quantity": 1,
                "price_amount": view["plan_price"],
                "product_id": view["plan"],
                "custom_properties": {"product_reference": "prd-iphone14"},
            },
        ],
    }


def buy(client: TestClient, currency: str, n: int) -> None:
    """One correct purchase in a store view: cart, checkout, order."""
    body = cart(currency, n)
    answer = post(client, "/sandbox/carts", body)
    assert answer.status_code == 200 and answer.json()["actions"] == [], answer.json()
    checkout = {"cart_id": body["cart_id"], "user_session_id": body["user_session_id"], "order_id": f"o-{currency}-{n}"}
    assert post(client, "/sandbox/checkouts", checkout).status_code == 200
    order = {
        "type": "order_placed",
        "payload": {
            "order_id": f"o-{currency}-{n}",
            "placed_at": "2024-01-10T10:00:00Z",
            "order_currency": currency,
            "cart_id": body["cart_id"],
            "customer": {"first_name": "Max", "last_name": "Mustermann", "email": "max@example.com"},
            "customer_billing_address": {
                "address_line_1": "Musterstrasse 1",
                "city": "Musterstadt",
                "country": VIEWS[currency]["country"],
                "zip": "12345",
            },
            "line_items": body["line_items"],
        },
    }
    answer = post(client, "/sandbox/events", order)
    assert answer.status_code == 200, answer.json()


STEPS = ["look up eur", "look up chf", "buy eur", "buy chf"]


@pytest.mark.parametrize("order", list(itertools.permutations(STEPS)))
def test_a_two_currency_shop_gets_an_empty_report_whatever_order_its_look_ups_come_in(
    make_client: Any, order: tuple[str, ...]
) -> None:
    client = make_client()
    for n, step in enumerate(order):
        verb, _, currency = step.rpartition(" ")
        if verb == "look up":
            assert look_up(client, currency).status_code == 200
        else:
            buy(client, currency, n)
    # And one more look-up of each after everything: an earlier verdict never changes.
    assert look_up(client, "chf").status_code == 200
    assert look_up(client, "eur").status_code == 200
    report = client.get("/__sim/report", headers=AUTH).json()
    assert report["findings"] == [], report["findings"]


def test_a_look_up_in_another_currency_never_costs_a_cart_its_plan(client: TestClient) -> None:
    assert look_up(client, "eur").status_code == 200
    assert look_up(client, "chf").status_code == 200  # the last word on prd-iphone14, in chf
    answer = post(client, "/sandbox/carts", cart("eur", 1))
    assert answer.json()["actions"] == []


def test_a_later_price_change_does_not_change_an_earlier_verdict(client: TestClient) -> None:
    assert look_up(client, "eur").status_code == 200
    buy(client, "eur", 1)
    # The shop lowers the phone's price: in its band the plan now costs 999, not 1200.
    assert look_up(client, "eur", price=99900).status_code == 200
    assert client.get("/__sim/report", headers=AUTH).json()["findings"] == []


def test_a_mispriced_plan_is_judged_in_its_own_currency_and_named_in_it(client: TestClient) -> None:
    assert look_up(client, "chf").status_code == 200
    assert look_up(client, "eur").status_code == 200
    body = cart("chf", 1)
    body["line_items"][1]["price_amount"] = 1200  # the eur plan's price, in a chf cart
    assert post(client, "/sandbox/carts", body).json()["actions"] == []
    [finding] = client.get("/__sim/report", headers=AUTH).json()["findings"]
    assert finding["rule_id"] == "plan-mispriced"
    assert "costs 1200 chf, but Hakuna prices it at 1490 chf" in finding["message"]
    assert "list price 99900 chf" in finding["message"]


def test_a_catalog_may_list_a_product_once_per_currency(client: TestClient) -> None:
    product = {"id": "prd-phone", "category": "smartphones", "price_amount": 112900, "price_currency": "eur"}
    catalog = client.get("/__sim/catalog", headers=AUTH).json()
    catalog["products"] = [product, {**product, "price_amount": 99900, "price_currency": "chf"}]
    assert client.put("/__sim/catalog", json=catalog, headers=AUTH).status_code == 200
    catalog["products"].append({**product, "price_amount": 1})
    response = client.put("/__sim/catalog", json=catalog, headers=AUTH)
    assert response.status_code == 400
    assert "'prd-phone' in 'eur' is already listed by products[0]" in error_of(response)[1][0]
