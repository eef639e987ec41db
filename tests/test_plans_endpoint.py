"""GET /sandbox/plans: matching through HTTP and its bad inputs."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import error_of, look_up


def test_title_and_brand_are_optional_and_echoed_only_when_given(client: TestClient) -> None:
    response = look_up(client, product_title=None, product_brand=None)
    assert response.status_code == 200
    assert response.json()["product"] == {"id": "prd-iphone14", "category": "smartphones",
                                          "price_amount": 112900, "price_currency": "eur"}


def test_no_match_is_an_empty_plan_list(client: TestClient) -> None:
    response = look_up(client, product_category="accessories", product_id="prd-bb-32", product_price_amount=1200)
    assert response.status_code == 200 and response.json()["plans"] == []


def test_band_decides_which_plans_match(client: TestClient) -> None:
    plans = look_up(client, product_price_amount=54900).json()["plans"]
    assert [(p["merchant_product_id"], p["price_amount"]) for p in plans] == [
        ("pl-prd-hakuna", 799), ("pl-prd-hakuna-phone-2y", 1499)]


def test_a_plan_is_never_protected_by_a_plan(client: TestClient) -> None:
    assert look_up(client, product_id="pl-prd-hakuna").json()["plans"] == []


@pytest.mark.parametrize("override, message", [
    ({"product_price_amount": "12.5"}, "product_price_amount must be an integer amount in minor units"),
    ({"product_price_amount": "abc"}, "product_price_amount must be an integer amount in minor units"),
    ({"product_price_amount": "-1"}, "product_price_amount must be an integer amount in minor units"),
    ({"product_price_currency": "EUR"}, "product_price_currency must be a lower-case ISO 4217 currency code"),
    ({"product_id": ""}, "product_id must be a non-empty string"),
    ({"user_session_id": None}, "user_session_id is required"),
    ({"product_category": None}, "product_category is required"),
])
def test_bad_query_is_400_with_the_field_named(client: TestClient, override: dict, message: str) -> None:
    response = look_up(client, **override)
    assert response.status_code == 400
    code, messages = error_of(response)
    assert code == "invalid_request_parameters"
    assert any(m.startswith(message) for m in messages), messages


def test_all_query_problems_are_listed(client: TestClient) -> None:
    response = look_up(client, product_id=None, product_price_amount="1.0", product_price_currency="EURO")
    assert len(error_of(response)[1]) == 3
