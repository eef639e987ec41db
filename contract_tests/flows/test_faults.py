"""The client's retries and idempotency against injected faults (simulator only)."""

from __future__ import annotations

import time

import pytest

from contract_tests.client import NotFound, RetryPolicy, ServerError
from contract_tests.flows.conftest import CASE, IPHONE, PRODUCTS
from contract_tests.merchant import Erp, Storefront
from contract_tests.models import PlanQuery
from contract_tests.plugin import Target
from contract_tests.sim_controls import SimControls


@pytest.mark.parametrize("when", ["before", "after"])
def test_whole_flow_completes_under_30_percent_503s_with_every_event_applied_once(
    hakuna_target: Target, controls: SimControls, unique: str, when: str
) -> None:
    # "after": the server applies the request and loses the answer; only the
    # idempotency key keeps the retry from applying it twice.
    controls.set_faults({"route": "/sandbox/*", "status": 503, "rate": 0.3, "seed": 11, "when": when})
    with hakuna_target.client(retry=RetryPolicy(attempts=12, base_delay=0.001, max_delay=0.01), validate_schemas=True) as client:
        shop = Storefront(client, cart_id=f"cart-{unique}", user_session_id=f"s-{unique}", products=PRODUCTS)
        erp = Erp(client)
        product_line = shop.add(IPHONE, 2, plan=shop.product_page(IPHONE)[0])
        case_line = shop.add(CASE)
        shop.change_quantity(product_line, 1)
        shop.check_out(f"ord-{unique}")
        erp.place(f"ord-{unique}", shop.order_lines(), cart_id=shop.cart_id)
        erp.ship(f"ord-{unique}", {product_line: 1, case_line: 1})
        erp.refund(f"ord-{unique}", {case_line: 1})
        fired = controls.faults()["faults"][0]["fired"]
        controls.clear_faults()
        order = client.get_order(f"ord-{unique}")
    assert fired >= 3, "the flow must actually have met injected failures"
    assert [(l.quantity, l.fulfilled_quantity, l.refunded_quantity) for l in order.line_items] == [
        (1, 1, 0),
        (1, 1, 0),
        (1, 1, 1),
    ]
    assert [p.status for p in order.protections] == ["active"]


def test_429_retry_after_is_honoured(hakuna_target: Target, controls: SimControls) -> None:
    controls.set_faults({"route": "/sandbox/orders/*", "method": "GET", "status": 429, "count": 1, "retry_after": 1})
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)  # really: the report judges whether the retry waited

    with hakuna_target.client(sleep=sleep) as client:
        with pytest.raises(NotFound):  # the 429 was retried, and the retry reached the order look-up
            client.get_order("ord-none")
    assert slept and slept[0] >= 1.0


def test_persistent_5xx_raises_server_error_after_the_last_attempt(hakuna_target: Target, controls: SimControls) -> None:
    controls.set_faults({"route": "/sandbox/plans", "status": 500})
    with hakuna_target.client(retry=RetryPolicy(attempts=3, base_delay=0.001), sleep=lambda s: None) as client:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            client.look_up_plans(
                PlanQuery(
                    product_id="p",
                    product_category="c",
                    product_price_amount=1,
                    product_price_currency="eur",
                    user_session_id="s",
                )
            )
    assert caught.value.status == 500 and caught.value.error_code == "internal_server_error"
    assert time.monotonic() - started < 5
    assert controls.faults()["faults"][0]["fired"] == 3
