"""The reference merchant's whole integration on one key, every path the go-live
checklist asks for (docs/fidelity.md, "Readiness"): the report finds nothing wrong and
says the key is ready."""

from __future__ import annotations

from contract_tests.client import HakunaClient
from contract_tests.flows.conftest import CASE, IPHONE
from contract_tests.merchant import Erp, Storefront
from contract_tests.sim_controls import SimControls


def test_the_reference_merchant_is_ready_for_go_live(
    client: HakunaClient, shop: Storefront, erp: Erp, controls: SimControls, unique: str
) -> None:
    # Product page: a plan for the phone, none for the case.
    (plan,) = shop.product_page(IPHONE)[:1]
    assert shop.product_page(CASE) == []
    # Cart: two phones with their plans, one phone fewer (the plan follows), the phone out
    # (its plan goes with it), then the phone back with its plan and a case without one.
    phone = shop.add(IPHONE, 2, plan=plan)
    shop.change_quantity(phone, 1)
    shop.remove(phone)
    assert shop.lines == []
    phone = shop.add(IPHONE, plan=plan)
    shop.add(CASE)
    assert len(shop.connections()) == 1
    # Checkout and order; the ERP ships the phone with its plan.
    order_id = f"ord-{unique}"
    shop.check_out(order_id)
    erp.place(order_id, shop.order_lines(), cart_id=shop.cart_id)
    erp.ship(order_id, {phone: 1})
    erp.refund(order_id, {phone: 1})  # returned: the plan is refunded with it
    # An order placed by the ERP alone, shipped, whose plan the customer gives back.
    kept = f"ord-{unique}-kept"
    erp.place(kept, shop.order_lines())
    erp.ship(kept, {phone: 1})
    (connection,) = client.order_connections(kept).plan_connections
    erp.refund_plan(kept, connection.plan_line_item_id)
    # One cancelled before shipping.
    cancelled = f"ord-{unique}-cancelled"
    erp.place(cancelled, shop.order_lines())
    erp.cancel(cancelled)
    # The answer to an order is lost once (the client retries with the same key), and a
    # look-up is rate limited once (the client waits its Retry-After).
    controls.set_faults(
        {"route": "/sandbox/events", "status": 503, "count": 1, "when": "after"},
        {"route": "/sandbox/plans", "status": 429, "count": 1, "retry_after": 1},
    )
    erp.place(f"ord-{unique}-retried", shop.order_lines())
    assert shop.product_page(IPHONE)

    report = controls.report()
    assert report["findings"] == []
    readiness = report["readiness"]
    assert {i["id"]: i["status"] for i in readiness["items"]} == {i["id"]: "passed" for i in readiness["items"]}
    assert readiness["ready"] and readiness["missing"] == []
