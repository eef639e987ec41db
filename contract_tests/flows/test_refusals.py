"""What the API refuses, with which status and error code; a refusal changes nothing."""

from __future__ import annotations

import httpx
import pytest

from contract_tests import models as m
from contract_tests.client import BadRequest, HakunaClient, NotFound, Unauthorized
from contract_tests.flows.conftest import CASE, IPHONE
from contract_tests.merchant import Erp, Storefront
from contract_tests.plugin import Target


def refused(call, status: int, code: str) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises((BadRequest, NotFound, Unauthorized)) as caught:
        call()
    assert (caught.value.status, caught.value.error_code) == (status, code), caught.value
    assert caught.value.validation_errors, "a refusal must say why"
    return caught.value.validation_errors


def placed_order(shop: Storefront, erp: Erp, order_id: str, placed_at: str | None = None) -> tuple[str, str]:
    product_line = shop.add(IPHONE, plan=shop.product_page(IPHONE)[0])
    case_line = shop.add(CASE)
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at=placed_at)
    return product_line, case_line


def test_a_bad_key_is_unauthorized(hakuna_target: Target) -> None:
    with HakunaClient(hakuna_target.base_url, "sk_test_x") as bad:
        refused(lambda: bad.get_order("ord-none"), 401, "unauthorized")


def test_a_malformed_cart_lists_every_problem(hakuna_target: Target, unique: str) -> None:
    body = {
        "cart_id": f"cart-{unique}",
        "user_session_id": "s",
        "cart_currency": "EUR",
        "line_items": [{"id": "a", "quantity": 0, "price_amount": 12.5, "product_id": "prd-iphone14"}],
    }
    response = httpx.post(
        hakuna_target.base_url + "/carts",
        json=body,
        headers={"Authorization": f"Bearer {hakuna_target.api_key}", "Hakuna-Version": "v2.0"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["error_code"] == "invalid_request_parameters"
    assert sorted(e.split(" ")[0] for e in error["validation_errors"]) == [
        "cart_currency",
        "line_items[0].price_amount",
        "line_items[0].quantity",
    ]


def test_events_for_an_unknown_order_are_not_found(erp: Erp, unique: str) -> None:
    refused(lambda: erp.cancel(f"ord-none-{unique}"), 404, "entity_not_found")


def test_checkout_of_an_unknown_cart_or_with_another_session(client: HakunaClient, shop: Storefront, unique: str) -> None:
    refused(lambda: shop.check_out(f"ord-{unique}"), 404, "entity_not_found")
    shop.add(CASE)
    other = m.Checkout(cart_id=shop.cart_id, user_session_id="someone-else", order_id=f"ord-{unique}")
    refused(lambda: client.check_out(other), 400, "user_session_mismatch")
    shop.check_out(f"ord-{unique}")
    refused(lambda: shop.check_out(f"ord-other-{unique}"), 400, "cart_checked_out")


def test_an_order_is_placed_once(shop: Storefront, erp: Erp, unique: str) -> None:
    placed_order(shop, erp, f"ord-{unique}")
    refused(lambda: erp.place(f"ord-{unique}", shop.order_lines()), 400, "order_already_exists")


def test_more_than_ordered_is_refused_and_changes_nothing(client: HakunaClient, shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    product_line, case_line = placed_order(shop, erp, order_id)
    before = client.get_order(order_id)
    refused(lambda: erp.ship(order_id, {case_line: 2}), 400, "quantity_exceeds_ordered")
    refused(lambda: erp.refund(order_id, {case_line: 1, "no-such-line": 1}), 400, "line_item_not_found")
    assert client.get_order(order_id) == before


def test_cancelling_after_shipping_is_declined(client: HakunaClient, shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    product_line, case_line = placed_order(shop, erp, order_id)
    erp.ship(order_id, {case_line: 1})
    refused(lambda: erp.cancel(order_id), 400, "cancel_decline")
    assert client.get_order(order_id).status == "placed"


def test_a_cancelled_order_takes_no_event(shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    product_line, case_line = placed_order(shop, erp, order_id)
    erp.cancel(order_id)
    refused(lambda: erp.ship(order_id, {case_line: 1}), 400, "order_cancelled")
    refused(lambda: erp.cancel(order_id), 400, "cancel_decline")


def plan_refund_after_shipping(
    client: HakunaClient, shop: Storefront, erp: Erp, order_id: str, refunded_at: str
) -> m.OrderRefundAdded:
    """An order placed on 30 April 2024 whose phone shipped on 1 May, and the refund of its plan alone at `refunded_at`."""
    product_line, _ = placed_order(shop, erp, order_id, placed_at="2024-04-30T10:00:00.000Z")
    plan_line = client.order_connections(order_id).plan_connections[0].plan_line_item_id
    erp.ship(order_id, {product_line: 1}, at="2024-05-01T00:00:00.000Z")
    return m.OrderRefundAdded(
        payload=m.RefundPayload(
            order_id=order_id, refund_line_items=[m.RefundedLine(line_item_id=plan_line, quantity=1, refunded_at=refunded_at)]
        )
    )


def test_a_plan_refunded_alone_after_14_days_is_refused(client: HakunaClient, shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    late = plan_refund_after_shipping(client, shop, erp, order_id, "2024-05-15T00:00:01.000Z")
    refused(lambda: client.publish_event(late), 400, "refund_window_expired")
    assert [p.status for p in client.get_order(order_id).protections] == ["active"]


def test_a_repeated_idempotency_key_replays_and_another_body_is_refused(
    client: HakunaClient, shop: Storefront, erp: Erp, unique: str
) -> None:
    order_id = f"ord-{unique}"
    _, case_line = placed_order(shop, erp, order_id)
    ship = m.OrderFulfillmentAdded(
        payload=m.FulfillmentPayload(
            order_id=order_id,
            fulfillment_line_items=[m.FulfilledLine(line_item_id=case_line, quantity=1, fulfilled_at="2024-05-01T00:00:00.000Z")],
        )
    )
    first = client.publish_event(ship, idempotency_key=f"key-{unique}")
    assert client.publish_event(ship, idempotency_key=f"key-{unique}") == first
    assert client.get_order(order_id).line(case_line).fulfilled_quantity == 1
    cancel = m.OrderCancelled(payload=m.CancellationPayload(order_id=order_id, cancelled_at="2024-05-01T00:00:00Z"))
    refused(lambda: client.publish_event(cancel, idempotency_key=f"key-{unique}"), 400, "idempotency_key_reused")


def _raw(target: Target, method: str, path: str, **kw: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {target.api_key}", "Hakuna-Version": "v2.0", **kw.pop("headers", {})}  # type: ignore[dict-item]
    return httpx.request(method, target.base_url + path, headers=headers, **kw)  # type: ignore[arg-type]


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"error_code", "validation_errors"}, body
    assert body["error"]["validation_errors"], "an error must say why"
    assert response.headers.get("x-request-id")
    return response.status_code, body["error"]["error_code"]


def test_transport_refusals_have_the_error_shape(hakuna_target: Target, unique: str) -> None:
    assert _error(_raw(hakuna_target, "DELETE", "/carts")) == (405, "method_not_allowed")
    assert _error(_raw(hakuna_target, "POST", "/carts", content=b"cart_id=1", headers={"Content-Type": "text/plain"})) == (
        415,
        "unsupported_media_type",
    )
    assert _error(_raw(hakuna_target, "POST", "/carts", content=b"{", headers={"Content-Type": "application/json"})) == (
        400,
        "invalid_request_parameters",
    )
    live = httpx.get(
        hakuna_target.base_url + f"/orders/ord-{unique}", headers={"Authorization": "Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc"}
    )
    assert _error(live) == (401, "unauthorized")
    assert _error(_raw(hakuna_target, "GET", "/plans", headers={"Hakuna-Version": "v0.9"})) == (400, "invalid_request_parameters")


def test_another_sessions_cart_is_not_found(client: HakunaClient, shop: Storefront) -> None:
    shop.add(CASE)
    refused(lambda: client.cart_connections(shop.cart_id, "someone-else"), 404, "entity_not_found")


def test_plan_lines_need_a_product_to_protect(erp: Erp, unique: str) -> None:
    plan = m.LineItem(
        id="b",
        quantity=2,
        price_amount=1200,
        product_id="pl-prd-hakuna",
        custom_properties=m.CustomProperties(product_reference="prd-iphone14"),
    )
    phone = m.LineItem(id="a", quantity=1, price_amount=112900, product_id="prd-iphone14")
    refused(lambda: erp.place(f"ord-{unique}", [plan]), 400, "plan_not_connected")
    refused(lambda: erp.place(f"ord-{unique}", [phone, plan]), 400, "plan_quantity_exceeds_product")


def test_a_plan_refunded_alone_on_day_14_is_accepted(client: HakunaClient, shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    client.publish_event(plan_refund_after_shipping(client, shop, erp, order_id, "2024-05-15T00:00:00.000Z"))
    assert [(p.status, p.ends_at) for p in client.get_order(order_id).protections] == [("refunded", "2024-05-15T00:00:00.000Z")]


def test_a_replay_says_so(hakuna_target: Target, unique: str) -> None:
    body = {"cart_id": f"cart-{unique}", "user_session_id": "s", "cart_currency": "eur", "line_items": []}
    headers = {"Content-Type": "application/json", "Hakuna-Idempotency-Key": f"replay-{unique}"}
    first = _raw(hakuna_target, "POST", "/carts", json=body, headers=headers)
    again = _raw(hakuna_target, "POST", "/carts", json=body, headers=headers)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert first.headers["x-request-id"] != again.headers["x-request-id"]
