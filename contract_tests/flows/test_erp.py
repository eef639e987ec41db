"""The guide's "ERP integration" through the reference ERP: placement, fulfilment,
refunds, cancellation, and the protections they make."""

from __future__ import annotations

from contract_tests import models as m
from contract_tests.client import HakunaClient
from contract_tests.flows.conftest import CASE, IPHONE
from contract_tests.merchant import Erp, Storefront


def bought_phone_with_plan(shop: Storefront, erp: Erp, order_id: str, quantity: int = 1) -> tuple[str, str, str]:
    product_line = shop.add(IPHONE, quantity, plan=shop.product_page(IPHONE)[0])
    plan_line = shop.lines[1].id
    case_line = shop.add(CASE)
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id, placed_at="2024-03-01T10:00:00.000Z")
    return product_line, plan_line, case_line


def statuses(client: HakunaClient, order_id: str) -> list[str]:
    return [p.status for p in client.get_order(order_id).protections]


def test_placement_makes_pending_protections_and_connections(
    client: HakunaClient, shop: Storefront, erp: Erp, unique: str
) -> None:
    order_id = f"ord-{unique}"
    product_line, plan_line, case_line = bought_phone_with_plan(shop, erp, order_id, quantity=2)
    order = client.get_order(order_id)
    assert (order.status, order.cart_id, order.order_currency, order.cancelled_at) == ("placed", shop.cart_id, "eur", None)
    assert [(l.id, l.kind, l.quantity, l.fulfilled_quantity, l.refunded_quantity) for l in order.line_items] == [
        (product_line, "product", 2, 0, 0),
        (plan_line, "plan", 2, 0, 0),
        (case_line, "product", 1, 0, 0),
    ]
    assert [
        (p.status, p.plan_line_item_id, p.product_line_item_id, p.merchant_product_id, p.starts_at, p.ends_at)
        for p in order.protections
    ] == [("pending", plan_line, product_line, "pl-prd-hakuna", None, None)] * 2
    assert client.order_connections(order_id) == m.OrderConnections(
        order_id=order_id, plan_connections=[m.PlanConnection(product_line_item_id=product_line, plan_line_item_id=plan_line)]
    )


def test_shipping_activates_protections_for_the_plans_term(client: HakunaClient, shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    product_line, plan_line, case_line = bought_phone_with_plan(shop, erp, order_id, quantity=2)
    erp.ship(order_id, {product_line: 1, case_line: 1}, at="2024-03-02T12:51:14.158Z")
    order = client.get_order(order_id)
    assert [(l.id, l.fulfilled_quantity) for l in order.line_items] == [(product_line, 1), (plan_line, 1), (case_line, 1)]
    assert [(p.status, p.starts_at, p.ends_at) for p in order.protections] == [
        ("active", "2024-03-02T12:51:14.158Z", "2025-03-02T12:51:14.158Z"),
        ("pending", None, None),
    ]


def test_returning_a_product_refunds_its_plan(client: HakunaClient, shop: Storefront, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    product_line, plan_line, case_line = bought_phone_with_plan(shop, erp, order_id)
    erp.ship(order_id, {product_line: 1, case_line: 1}, at="2024-03-02T12:00:00.000Z")
    erp.refund(order_id, {product_line: 1, case_line: 1}, at="2024-04-20T12:00:00.000Z")
    order = client.get_order(order_id)
    assert [(l.id, l.refunded_quantity) for l in order.line_items] == [(product_line, 1), (plan_line, 1), (case_line, 1)]
    assert [(p.status, p.ends_at) for p in order.protections] == [("refunded", "2024-04-20T12:00:00.000Z")]
    # Connections stay listed whatever happened to the lines.
    assert len(client.order_connections(order_id).plan_connections) == 1


def test_cancelling_before_shipping_cancels_the_protections(
    client: HakunaClient, shop: Storefront, erp: Erp, unique: str
) -> None:
    order_id = f"ord-{unique}"
    bought_phone_with_plan(shop, erp, order_id, quantity=2)
    erp.cancel(order_id, at="2024-03-01T15:00:00.000Z")
    order = client.get_order(order_id)
    assert (order.status, order.cancelled_at) == ("cancelled", "2024-03-01T15:00:00.000Z")
    assert statuses(client, order_id) == ["cancelled", "cancelled"]


def test_erp_only_orders_connect_through_product_reference(client: HakunaClient, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    lines = [
        m.LineItem(id="a", quantity=1, price_amount=112900, product_id="prd-iphone14"),
        m.LineItem(
            id="b",
            quantity=1,
            price_amount=1200,
            product_id="pl-prd-hakuna",
            custom_properties=m.CustomProperties(product_reference="prd-iphone14"),
        ),
    ]
    erp.place(order_id, lines)
    assert client.order_connections(order_id).plan_connections == [
        m.PlanConnection(product_line_item_id="a", plan_line_item_id="b")
    ]
    assert statuses(client, order_id) == ["pending"]


def test_accepted_events_are_readable(client: HakunaClient, erp: Erp, unique: str) -> None:
    order_id = f"ord-{unique}"
    event_id = erp.place(order_id, [m.LineItem(id="a", quantity=1, price_amount=1200, product_id="prd-bb-32")])
    record = client.get_event(event_id)
    assert (record.event_id, record.type) == (event_id, "order_placed")
    assert record.payload["order_id"] == order_id
