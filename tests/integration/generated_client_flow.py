"""The guide's storefront and ERP flow, driven through a client that openapi-python-client
generated from the served document (not through this project's own client). Run as
`python generated_client_flow.py BASE_URL API_KEY`, with the generated package `client`
importable; it exits non-zero at the first answer that differs from the guide's."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

from client import AuthenticatedClient  # type: ignore[import-not-found]
from client.api.erp import get_event, get_order, order_plan_connections, publish_event  # type: ignore[import-not-found]
from client.api.storefront import cart_plan_connections, check_out, look_up_plans, update_cart  # type: ignore[import-not-found]
from client.models import (  # type: ignore[import-not-found]
    CartUpdate,
    CheckoutNotification,
    Currency,
    OrderCancelledEventRequest,
    OrderFulfillmentAddedEventRequest,
    OrderPlacedEventRequest,
    OrderRefundAddedEventRequest,
)

from contract_tests import guide

# The document's tagged union of events: one generated model per `type`.
EVENTS = {
    "order_placed": OrderPlacedEventRequest,
    "order_fulfillment_added": OrderFulfillmentAddedEventRequest,
    "order_refund_added": OrderRefundAddedEventRequest,
    "order_cancelled": OrderCancelledEventRequest,
}


def event_of(text: str) -> Any:
    body = json.loads(text)
    return EVENTS[body["type"]].from_dict(body)


def answer(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.content)
    return response.parsed


def main(base: str, key: str) -> None:
    api = AuthenticatedClient(base_url=base, token=key, headers={"Hakuna-Version": "v2.0"})
    query = dict(guide.PLAN_QUERY)
    query["product_price_currency"] = Currency(query["product_price_currency"])
    plans = answer(look_up_plans.sync_detailed(client=api, **query))
    assert plans.to_dict() == guide.PLAN_RESPONSE, plans.to_dict()

    def fresh() -> str:
        return uuid.uuid4().hex

    cart = CartUpdate.from_dict(json.loads(guide.CART_UPDATE_TEXT))
    actions = answer(update_cart.sync_detailed(client=api, body=cart, hakuna_idempotency_key=fresh()))
    # The guide's cart already holds the plan its product needs: nothing to do.
    assert actions.to_dict() == {"cart_id": "cart-123", "user_session_id": guide.SESSION, "actions": []}, actions.to_dict()
    connections = answer(cart_plan_connections.sync_detailed("cart-123", client=api, user_session_id=guide.SESSION))
    assert connections.to_dict() == guide.CART_CONNECTIONS_RESPONSE, connections.to_dict()

    checkout = CheckoutNotification.from_dict(json.loads(guide.CHECKOUT_TEXT))
    linked = answer(check_out.sync_detailed(client=api, body=checkout, hakuna_idempotency_key=fresh()))
    assert linked.to_dict() == guide.CHECKOUT_RESPONSE, linked.to_dict()

    def publish(text: str) -> None:
        event = event_of(text)
        accepted = answer(publish_event.sync_detailed(client=api, body=event, hakuna_idempotency_key=fresh()))
        recorded = answer(get_event.sync_detailed(accepted.event_id, client=api)).to_dict()
        assert recorded["type"] == event.type_.value, recorded

    publish(guide.ORDER_PLACED_TEXT)
    order_connections = answer(order_plan_connections.sync_detailed("ord-123", client=api)).to_dict()
    assert order_connections["plan_connections"] == guide.CART_CONNECTIONS_RESPONSE["plan_connections"], order_connections
    publish(guide.FULFILLMENT_TEXT)
    assert [p["status"] for p in answer(get_order.sync_detailed("ord-123", client=api)).to_dict()["protections"]] == ["active"]
    publish(guide.REFUND_TEXT)
    assert [p["status"] for p in answer(get_order.sync_detailed("ord-123", client=api)).to_dict()["protections"]] == ["refunded"]

    # A refusal reaches the generated client as the document's error model.
    event = event_of(guide.CANCELLATION_TEXT)
    refused = answer(publish_event.sync_detailed(client=api, body=event, hakuna_idempotency_key=fresh()), 400)
    assert refused.to_dict()["error"]["error_code"] == "cancel_decline", refused.to_dict()
    print("generated client: guide flow ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
