"""GET /sandbox/plans: matching through HTTP and its bad inputs."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import error_of, look_up


def test_title_and_brand_are_optional_and_echoed_only_when_given(client: TestClient) -> None:
    response = look_up(client, product_title=None, product_brand=None)
    assert response.status_code == 200
    assert response.json()["product"] == {
        "id": "prd-iphone14",
        "category": "smartphones",
        "price_amount": 112900,
        "price_currency": "eur",
    }


@pytest.mark.parametrize(
    "override, reason",
    [
        (
            {"product_category": "accessories", "product_id": "prd-bb-32", "product_price_amount": 1200},
            "product_category 'accessories' has no protection plan; the categories with plans are 'cameras', 'e-bikes',",
        ),
        (
            {"product_price_amount": 900000},
            "product_price_amount 900000 eur is outside every price band of category 'smartphones' in 'eur' (list prices "
            "in eur, in minor units, from inclusive to exclusive: pl-prd-hakuna: 0-30000, 30000-60000, 60000-100000, "
            "100000-150000, "
            "150000-250000; pl-prd-hakuna-phone-2y: 0-30000, 30000-60000, 60000-100000)",
        ),
        (
            {"product_price_currency": "usd"},
            "no plan for category 'smartphones' is sold in 'usd'; its plans are sold in 'chf', 'eur'",
        ),
        (
            {"product_id": "pl-prd-hakuna"},
            "product 'pl-prd-hakuna' is itself a protection plan of the catalog (a merchant_product_id); a plan is not "
            "a protectable product",
        ),
    ],
)
def test_a_product_no_plan_covers_is_unsupported_with_the_reason(client: TestClient, override: dict, reason: str) -> None:
    response = look_up(client, **override)
    assert response.status_code == 400
    code, [message] = error_of(response)
    assert code == "product_unsupported"
    assert message.startswith(reason) and message.endswith(": show no protection offer for this product"), message


def test_band_decides_which_plans_match(client: TestClient) -> None:
    plans = look_up(client, product_price_amount=54900).json()["plans"]
    assert [(p["merchant_product_id"], p["price_amount"]) for p in plans] == [
        ("pl-prd-hakuna", 799),
        ("pl-prd-hakuna-phone-2y", 1499),
    ]


@pytest.mark.parametrize(
    "override, message",
    [
        ({"product_price_amount": "12.5"}, "product_price_amount must be an integer amount in minor units"),
        ({"product_price_amount": "abc"}, "product_price_amount must be an integer amount in minor units"),
        ({"product_price_amount": "-1"}, "product_price_amount must be an integer amount in minor units"),
        ({"product_price_currency": "EUR"}, "product_price_currency must be a lower-case ISO 4217 currency code"),
        ({"product_id": ""}, "product_id must be a non-empty string without control characters"),
        ({"user_session_id": None}, "user_session_id is required"),
        ({"product_price_amount": "2.0"}, "product_price_amount must be an integer amount in minor units"),
        ({"product_category": None}, "product_category is required"),
    ],
)
def test_bad_query_is_400_with_the_field_named(client: TestClient, override: dict, message: str) -> None:
    response = look_up(client, **override)
    assert response.status_code == 400
    code, messages = error_of(response)
    assert code == "invalid_request_parameters"
    assert any(m.startswith(message) for m in messages), messages


def test_all_query_problems_are_listed(client: TestClient) -> None:
    response = look_up(client, product_id=None, product_price_amount="1.0", product_price_currency="EURO")
    assert len(error_of(response)[1]) == 3
