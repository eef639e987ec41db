"""The guide's examples, sent exactly as the guide writes them: its `Bearer:` header,
its `/sandbox/orders` URL, its bodies. Read top to bottom like the guide."""

from __future__ import annotations

import json
import re

import httpx
from starlette.testclient import TestClient

from contract_tests import guide

H = guide.GUIDE_HEADERS


def send(client: TestClient, text: str) -> httpx.Response:
    return client.post(guide.GUIDE_POST_URL, content=text.encode(), headers=H)


def test_product_page_look_up_answers_the_guides_example_response(client: TestClient) -> None:
    response = client.get("/sandbox/plans", params=guide.PLAN_QUERY, headers={"Bearer": guide.API_KEY})
    assert response.status_code == 200
    assert response.json() == guide.PLAN_RESPONSE
    assert response.headers["content-type"] == "application/json"


def test_guides_example_cart_is_valid_and_connects_its_plan(client: TestClient) -> None:
    response = send(client, guide.CART_UPDATE_TEXT)
    assert response.status_code == 200
    assert response.json() == {"cart_id": "cart-123", "user_session_id": guide.SESSION, "actions": []}
    connections = client.get(
        "/sandbox/carts/cart-123/plan_connections", params={"user_session_id": guide.SESSION}, headers={"Bearer": guide.API_KEY}
    )
    assert connections.status_code == 200
    assert connections.json() == guide.CART_CONNECTIONS_RESPONSE


def test_quantity_two_yields_the_guides_update_line_item_action(client: TestClient) -> None:
    body = json.loads(guide.CART_UPDATE_TEXT)
    body["line_items"][0]["quantity"] = 2
    response = client.post(guide.GUIDE_POST_URL, content=json.dumps(body), headers=H)
    assert response.status_code == 200
    assert response.json() == guide.CART_QUANTITY_TWO_RESPONSE


def test_empty_cart_is_valid(client: TestClient) -> None:
    body = {"cart_id": "cart-9", "user_session_id": "s", "cart_currency": "eur", "line_items": []}
    response = client.post("/sandbox/carts", content=json.dumps(body), headers=H)
    assert response.status_code == 200
    assert response.json()["actions"] == []


def test_checkout_answers_the_guides_example_response(client: TestClient) -> None:
    send(client, guide.CART_UPDATE_TEXT)
    response = send(client, guide.CHECKOUT_TEXT)
    assert response.status_code == 200
    assert response.json() == guide.CHECKOUT_RESPONSE


def test_erp_flow_placement_fulfilment_refund(client: TestClient) -> None:
    send(client, guide.CART_UPDATE_TEXT)
    send(client, guide.CHECKOUT_TEXT)
    ids = []
    for text in (guide.ORDER_PLACED_TEXT, guide.FULFILLMENT_TEXT, guide.REFUND_TEXT):
        response = send(client, text)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"event_id"}
        assert re.fullmatch(
            r"evt-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", response.json()["event_id"]
        )
        ids.append(response.json()["event_id"])
    stored = client.get(f"/sandbox/events/{ids[0]}", headers={"Bearer": guide.API_KEY}).json()
    assert stored["type"] == "order_placed"
    assert stored["payload"] == json.loads(guide.ORDER_PLACED_TEXT)["payload"]
    order = client.get("/sandbox/orders/ord-123", headers={"Bearer": guide.API_KEY}).json()
    quantities = {l["id"]: (l["kind"], l["fulfilled_quantity"], l["refunded_quantity"]) for l in order["line_items"]}
    assert quantities == {
        "line-item-id-3311": ("product", 1, 1),
        "line-item-id-3322": ("plan", 0, 1),
        "line-item-id-4411": ("product", 1, 1),
    }
    [protection] = order["protections"]
    assert protection["status"] == "refunded"
    assert protection["starts_at"] == "2022-02-21T12:51:14.158Z"


def test_erp_flow_cancellation_before_fulfilment(client: TestClient) -> None:
    send(client, guide.ORDER_PLACED_TEXT)
    response = send(client, guide.CANCELLATION_TEXT)
    assert response.status_code == 200
    order = client.get("/sandbox/orders/ord-123", headers={"Bearer": guide.API_KEY}).json()
    assert order["status"] == "cancelled"
    assert order["cancelled_at"] == "2022-02-20T15:00:00.000Z"
    assert [p["status"] for p in order["protections"]] == ["cancelled"]


def test_guide_placement_without_a_cart_connects_through_product_reference(client: TestClient) -> None:
    response = send(client, guide.ORDER_PLACED_TEXT)
    assert response.status_code == 200
    connections = client.get("/sandbox/orders/ord-123/plan_connections", headers={"Bearer": guide.API_KEY})
    assert connections.json() == {
        "order_id": "ord-123",
        "plan_connections": [{"product_line_item_id": "line-item-id-3311", "plan_line_item_id": "line-item-id-3322"}],
    }


def test_proper_routes_accept_the_same_bodies(client: TestClient) -> None:
    for path, text in (
        ("/sandbox/carts", guide.CART_UPDATE_TEXT),
        ("/sandbox/checkouts", guide.CHECKOUT_TEXT),
        ("/sandbox/events", guide.ORDER_PLACED_TEXT),
    ):
        headers = {"Authorization": f"Bearer {guide.API_KEY}", "Content-Type": "application/json", "Hakuna-Version": "v2.0"}
        response = client.post(path, content=text.encode(), headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["Hakuna-Version"] == "v2.0"
