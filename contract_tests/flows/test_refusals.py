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


def placed_order(shop: Storefront, erp: Erp, order_id: str) -> tuple[str, str]:
    product_line = shop.add(IPHONE, plan=shop.product_page(IPHONE).plans[0])
    case_line = shop.add(CASE)
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id)
    return product_line, case_line


def test_a_bad_key_is_unauthorized(hakuna_target: Target) -> None:
    with HakunaClient(hakuna_target.base_url, "sk_test_x") as bad:
        refused(lambda: bad.get_order("ord-none"), 401, "unauthorized")


def test_a_malformed_cart_lists_every_problem(hakuna_target: Target, unique: str) -> None:
    body = {"cart_id": f"cart-{unique}", "user_session_id": "s", "cart_currency": "EUR",
            "line_items": [{"id": "a", "quantity": 0, "price_amount": 12.5, "product_id": "prd-iphone14"}]}
    response = httpx.post(hakuna_target.base_url + "/carts", json=body,
                          headers={"Authorization": f"Bearer {hakuna_target.api_key}", "Hakuna-Version": "v1.3"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["error_code"] == "invalid_request_parameters"
    assert sorted(e.split(" ")[0] for e in error["validation_errors"]) == [
        "cart_currency", "line_items[0].price_amount", "line_items[0].quantity"]


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


def test_more_than_ordered_is_refused_and_changes_nothing(client: HakunaClient, shop: Storefront, erp: Erp,
                                                          unique: str) -> None:
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


def test_a_plan_refunded_alone_after_14_days_is_refused(client: HakunaClient, shop: Storefront, erp: Erp,
                                                        unique: str) -> None:
    order_id = f"ord-{unique}"
    product_line, _ = placed_order(shop, erp, order_id)
    plan_line = client.order_connections(order_id).plan_connections[0].plan_line_item_id
    erp.ship(order_id, {product_line: 1}, at="2024-05-01T00:00:00.000Z")
    late = m.OrderRefundAdded(payload=m.RefundPayload(order_id=order_id, refund_line_items=[
        m.RefundedLine(line_item_id=plan_line, quantity=1, refunded_at="2024-05-15T00:00:01.000Z")]))
    refused(lambda: client.publish_event(late), 400, "refund_window_expired")
    assert [p.status for p in client.get_order(order_id).protections] == ["active"]


def test_a_repeated_idempotency_key_replays_and_another_body_is_refused(client: HakunaClient, shop: Storefront,
                                                                        erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    _, case_line = placed_order(shop, erp, order_id)
    ship = m.OrderFulfillmentAdded(payload=m.FulfillmentPayload(order_id=order_id, fulfillment_line_items=[
        m.FulfilledLine(line_item_id=case_line, quantity=1, fulfilled_at="2024-05-01T00:00:00.000Z")]))
    first = client.publish_event(ship, idempotency_key=f"key-{unique}")
    assert client.publish_event(ship, idempotency_key=f"key-{unique}") == first
    assert client.get_order(order_id).line(case_line).fulfilled_quantity == 1
    cancel = m.OrderCancelled(payload=m.CancellationPayload(order_id=order_id, cancelled_at="2024-05-01T00:00:00Z"))
    refused(lambda: client.publish_event(cancel, idempotency_key=f"key-{unique}"), 400, "idempotency_key_reused")
