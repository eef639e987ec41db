"""Magic values: inputs that make the fake answer a documented vendor error without any
set-up, as card networks' test numbers do (README, "Magic values")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.domain.errors import SimError

UNSUPPORTED_CATEGORY = "hakuna-test-unsupported"
UNSUPPORTED_COUNTRY = "aq"  # Antarctica: no insurer covers it
DECLINED_ORDER_PREFIX = "ord-test-decline"


def check_look_up(query: Mapping[str, Any]) -> None:
    if query["product_category"] == UNSUPPORTED_CATEGORY:
        raise SimError(
            "product_unsupported", f"product category {UNSUPPORTED_CATEGORY!r} is not protectable (a magic test value)"
        )


def check_order_placed(payload: Mapping[str, Any]) -> None:
    if payload["customer_billing_address"]["country"] == UNSUPPORTED_COUNTRY:
        raise SimError(
            "location_unsupported",
            f"customers billed in country {UNSUPPORTED_COUNTRY!r} cannot be protected (a magic test value)",
        )


def check_cancellation(order_id: str) -> None:
    if order_id.startswith(DECLINED_ORDER_PREFIX):
        raise SimError(
            "cancel_decline",
            f"cancellation of orders whose id starts with {DECLINED_ORDER_PREFIX!r} is declined (a magic test value)",
        )
