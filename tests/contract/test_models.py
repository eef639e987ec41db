"""The client's pydantic models and schemas/ agree: on valid documents and on near
misses of them, both accept or both refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from contract_tests import guide
from contract_tests import models as m
from contract_tests.schema_check import is_valid
from tests.contract.test_schemas import any_json, mutations

ORDER = {
    "order_id": "o",
    "status": "placed",
    "order_currency": "eur",
    "cart_id": None,
    "placed_at": "2024-01-01T00:00:00.000Z",
    "cancelled_at": None,
    "line_items": [
        {"id": "a", "product_id": "p", "kind": "product", "quantity": 2, "fulfilled_quantity": 1, "refunded_quantity": 0}
    ],
    "protections": [
        {
            "protection_id": "prt-" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
            "plan_line_item_id": "b",
            "product_line_item_id": "a",
            "merchant_product_id": "pl",
            "status": "active",
            "starts_at": "2024-01-02T00:00:00.000Z",
            "ends_at": "2025-01-02T00:00:00.000Z",
        }
    ],
}

CASES: dict[str, tuple[Any, str, Any]] = {
    "plan query": (m.PlanQuery, "plans-query.json", dict(guide.PLAN_QUERY)),
    "cart update": (m.CartUpdate, "cart-update-request.json", json.loads(guide.CART_UPDATE_TEXT)),
    "checkout": (m.Checkout, "checkout-request.json", json.loads(guide.CHECKOUT_TEXT)),
    "order placed": (m.Event, "event-request.json", json.loads(guide.ORDER_PLACED_TEXT)),
    "refund": (m.Event, "event-request.json", json.loads(guide.REFUND_TEXT)),
    "plan offer": (m.PlanOffer, "plans-response.json", guide.PLAN_RESPONSE),
    "cart actions": (m.CartActions, "cart-update-response.json", guide.CART_QUANTITY_TWO_RESPONSE),
    "cart connections": (m.CartConnections, "cart-connections-response.json", guide.CART_CONNECTIONS_RESPONSE),
    "order": (m.Order, "order.json", ORDER),
    "error": (m.ErrorBody, "error.json", {"error": {"error_code": "x", "validation_errors": ["y"]}}),
}


def model_accepts(model: Any, instance: Any) -> bool:
    try:
        TypeAdapter(model).validate_python(instance, context=m.WIRE)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_examples_are_valid_for_both(name: str) -> None:
    model, schema, example = CASES[name]
    assert is_valid(schema, example) and model_accepts(model, example)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_models_and_schemas_agree_on_near_misses(name: str, data: st.DataObject) -> None:
    model, schema, example = CASES[name]
    instance = data.draw(st.one_of(mutations(example), any_json))
    assert model_accepts(model, instance) == is_valid(schema, instance), instance
