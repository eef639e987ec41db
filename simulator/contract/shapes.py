"""The shapes of the bodies the guide posts to its one URL, `/sandbox/orders`."""

from __future__ import annotations

from typing import Any

from simulator.domain.errors import SimError


def classify_orders_body(body: Any) -> str:
    """The guide posts cart updates, checkouts and events all to /sandbox/orders; tell
    them apart by shape (docs/contract.md §3). Answers "event", "cart" or "checkout"."""
    if isinstance(body, dict):
        if "type" in body:
            return "event"
        if "line_items" in body:
            return "cart"
        if "order_id" in body and "cart_id" in body:
            return "checkout"
    raise SimError(
        "invalid_request_parameters",
        "request body is none of the shapes POST /sandbox/orders takes: an event has "
        '"type" and "payload", a cart update has "line_items", a checkout has '
        '"cart_id" and "order_id"',
    )
