"""docs/contract.md §6: checkout linking, order events, order state and protections."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH, cancelled, cart, error_of, fulfilled, line, placed, post, refunded

PLAN = "pl-prd-hakuna"
PHONE_AND_PLAN = [
    line("p", "prd-iphone14", 2, 112900),
    line("x", PLAN, 2, 1200, reference="prd-iphone14"),
    line("c", "prd-bb-32", 1, 1200),
]


def order(client: TestClient, order_id: str = "o-1") -> dict[str, Any]:
    response = client.get(f"/sandbox/orders/{order_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def statuses(client: TestClient, order_id: str = "o-1") -> list[str]:
    return [p["status"] for p in order(client, order_id)["protections"]]


def event(client: TestClient, body: dict[str, Any], status: int = 200) -> Any:
    response = post(client, "/sandbox/events", body)
    assert response.status_code == status, response.text
    return response


# -- checkout ---------------------------------------------------------------------------


def test_checkout_rules(client: TestClient) -> None:
    checkout = {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"}
    response = post(client, "/sandbox/checkouts", checkout)
    assert response.status_code == 404 and error_of(response)[0] == "entity_not_found"
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14")]))
    response = post(client, "/sandbox/checkouts", {**checkout, "user_session_id": "other"})
    assert response.status_code == 400 and error_of(response)[0] == "user_session_mismatch"
    assert post(client, "/sandbox/checkouts", checkout).json() == checkout
    assert post(client, "/sandbox/checkouts", checkout).json() == checkout  # a repeat is fine
    response = post(client, "/sandbox/checkouts", {**checkout, "order_id": "o-2"})
    assert response.status_code == 400 and error_of(response)[0] == "cart_checked_out"
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14")], cart_id="cart-2"))
    response = post(client, "/sandbox/checkouts", {**checkout, "cart_id": "cart-2"})
    assert response.status_code == 400 and error_of(response)[0] == "order_already_linked"


def test_checkout_is_accepted_with_actions_pending(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14", 2), line("x", PLAN, 1, reference="prd-iphone14")]))
    response = post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o"})
    assert response.status_code == 200


# -- placement --------------------------------------------------------------------------


def test_placement_creates_one_pending_protection_per_plan_unit(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    body = order(client)
    assert body["status"] == "placed" and body["cart_id"] is None and body["cancelled_at"] is None
    assert [(l["id"], l["kind"]) for l in body["line_items"]] == [("p", "product"), ("x", "plan"), ("c", "product")]
    assert [
        (p["status"], p["starts_at"], p["ends_at"], p["product_line_item_id"], p["merchant_product_id"])
        for p in body["protections"]
    ] == [("pending", None, None, "p", PLAN)] * 2
    assert len({p["protection_id"] for p in body["protections"]}) == 2


def test_placement_connects_through_the_cart_without_product_reference(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("a", "prd-iphone14"), line("b", PLAN, reference="prd-iphone14")]))
    post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"})
    # Same line ids as the cart, no references.
    event(client, placed("o-1", [line("a", "prd-iphone14"), line("b", PLAN)], cart_id="cart-1"))
    assert client.get("/sandbox/orders/o-1/plan_connections", headers=AUTH).json()["plan_connections"] == [
        {"product_line_item_id": "a", "plan_line_item_id": "b"}
    ]
    # Other line ids (an ERP numbers its own lines): same product ids.
    post(client, "/sandbox/carts", cart([line("a", "prd-iphone14"), line("b", PLAN, reference="prd-iphone14")], cart_id="cart-2"))
    event(client, placed("o-2", [line("erp-2", PLAN), line("erp-1", "prd-iphone14")], cart_id="cart-2"))
    assert client.get("/sandbox/orders/o-2/plan_connections", headers=AUTH).json()["plan_connections"] == [
        {"product_line_item_id": "erp-1", "plan_line_item_id": "erp-2"}
    ]


def test_placement_with_an_unknown_cart_falls_back_to_product_reference(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN, cart_id="cart-nobody-sent"))
    assert order(client)["cart_id"] == "cart-nobody-sent"
    assert len(order(client)["protections"]) == 2


# Layouts that count units right, however the lines are split: never refused.
@pytest.mark.parametrize(
    "lines, pairs",
    [
        # one product line of 2, a plan line per unit
        (
            [
                line("p", "prd-iphone14", 2),
                line("x1", PLAN, 1, reference="prd-iphone14"),
                line("x2", PLAN, 1, reference="prd-iphone14"),
            ],
            [("x1", "p"), ("x2", "p")],
        ),
        # two product lines of one product, one plan line of 2
        (
            [line("p1", "prd-iphone14", 1), line("p2", "prd-iphone14", 1), line("x", PLAN, 2, reference="prd-iphone14")],
            [("x", "p1"), ("x", "p2")],
        ),
        # fewer plan units than product units: the rest stays unprotected
        (
            [line("p1", "prd-iphone14", 2), line("p2", "prd-iphone14", 1), line("x", PLAN, 2, reference="prd-iphone14")],
            [("x", "p1"), ("x", "p1")],
        ),
    ],
)
def test_placement_counts_units_across_split_lines(
    client: TestClient, lines: list[dict[str, Any]], pairs: list[tuple[str, str]]
) -> None:
    event(client, placed("o-1", lines))
    protections = order(client)["protections"]
    assert [(p["plan_line_item_id"], p["product_line_item_id"]) for p in protections] == pairs
    connections = client.get("/sandbox/orders/o-1/plan_connections", headers=AUTH).json()["plan_connections"]
    assert connections == [{"product_line_item_id": b, "plan_line_item_id": a} for a, b in dict.fromkeys(pairs)]


def test_split_product_lines_activate_and_refund_their_own_protections(client: TestClient) -> None:
    event(
        client,
        placed("o-1", [line("p1", "prd-iphone14"), line("p2", "prd-iphone14"), line("x", PLAN, 2, reference="prd-iphone14")]),
    )
    event(client, fulfilled("o-1", ("p2", 1), at="2024-01-12T10:00:00Z"))
    assert [(p["product_line_item_id"], p["status"]) for p in order(client)["protections"]] == [
        ("p1", "pending"),
        ("p2", "active"),
    ]
    # With its product (p2), a month later: inside the 3-month window; the pending one first.
    event(client, refunded("o-1", ("p2", 1), ("x", 2), at="2024-02-12T10:00:00Z"))
    assert statuses(client) == ["refunded", "refunded"]


@pytest.mark.parametrize(
    "lines, code, message",
    [
        (
            [line("p", "prd-iphone14"), line("x", PLAN)],
            "plan_not_connected",
            "payload.line_items[1]: plan line 'x' protects no product of this order: it has no "
            "custom_properties.product_reference and the order has no cart_id: set product_reference to the protected "
            "product's product_id (needed when the order is not placed with the cart_id of its checked-out cart)",
        ),
        (
            [line("x", PLAN, reference="prd-iphone14")],
            "plan_not_connected",
            "payload.line_items[0]: plan line 'x' protects no product of this order: its "
            "custom_properties.product_reference is 'prd-iphone14', but no product line of this order has product_id "
            "'prd-iphone14': add that product's line, or leave the plan line out",
        ),
        (
            [line("p", "prd-iphone14"), line("x", PLAN, reference="p")],
            "plan_not_connected",
            "payload.line_items[1]: plan line 'x' protects no product of this order: its "
            "custom_properties.product_reference 'p' is a line id; it takes the protected product's product_id "
            "('prd-iphone14')",
        ),
        (
            [
                line("p1", "prd-iphone14", 1),
                line("p2", "prd-iphone14", 1),
                line("x1", PLAN, 2, reference="prd-iphone14"),
                line("x2", PLAN, 1, reference="prd-iphone14"),
            ],
            "plan_quantity_exceeds_product",
            "payload.line_items: 3 plan unit(s) protect product 'prd-iphone14' (plan lines 'x1' x2, 'x2' x1) but the "
            "order has 2 unit(s) of it (lines 'p1' x1, 'p2' x1): one plan unit protects one product unit; remove 1 plan "
            "unit(s)",
        ),
        (
            [line("p", "prd-iphone14"), line("p", "prd-bb-32")],
            "invalid_request_parameters",
            "payload.line_items[1].id duplicates payload.line_items[0].id ('p'): line ids must be unique",
        ),
    ],
)
def test_placement_refusals_say_what_is_wrong(client: TestClient, lines: list[dict[str, Any]], code: str, message: str) -> None:
    response = event(client, placed("o-1", lines), 400)
    assert error_of(response) == (code, [message])
    assert client.get("/sandbox/orders/o-1", headers=AUTH).status_code == 404


def test_a_plan_line_whose_cart_product_is_missing_names_the_cart(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("a", "prd-iphone14"), line("b", PLAN, reference="prd-iphone14")]))
    post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"})
    response = event(client, placed("o-1", [line("b", PLAN), line("c", "prd-bb-32")], cart_id="cart-1"), 400)
    assert error_of(response) == (
        "plan_not_connected",
        [
            "payload.line_items[0]: plan line 'b' protects no product of this order: in cart 'cart-1' no plan "
            "'pl-prd-hakuna' protects a product that this order has, and the line has no "
            "custom_properties.product_reference: set it to the protected product's product_id"
        ],
    )


def test_a_billing_country_no_plan_is_sold_in_is_location_unsupported(client: TestClient) -> None:
    body = placed("o-1", PHONE_AND_PLAN)
    body["payload"]["customer_billing_address"]["country"] = "us"
    response = event(client, body, 400)
    assert error_of(response) == (
        "location_unsupported",
        [
            "payload.customer_billing_address.country: plan 'pl-prd-hakuna' (line 'x', payload.line_items[1]) is sold "
            "to customers billed in 'de', 'at', not 'us': offer no plan to customers billed there, and place the "
            "order without the plan line"
        ],
    )
    assert client.get("/sandbox/orders/o-1", headers=AUTH).status_code == 404
    body["payload"]["line_items"] = [line("c", "prd-bb-32")]  # no plan: nothing to refuse
    event(client, body)


def test_ineligible_or_mispriced_or_foreign_currency_plans_are_accepted(client: TestClient) -> None:
    """The real API's answer to these is not public: accepted, and reported."""
    event(
        client,
        placed(
            "o-1",
            [
                line("c", "prd-bb-32", 1, 1200),
                line("tv", "pl-prd-hakuna-tv-3y", 1, 1, reference="prd-bb-32"),
                line("p", "prd-iphone14", 1, 112900),
                line("x", PLAN, 1, 999, reference="prd-iphone14"),
            ],
        ),
    )
    in_francs = placed("o-2", [line("p", "prd-iphone14", 1, 112900), line("x", PLAN, 1, 1200, reference="prd-iphone14")])
    in_francs["payload"]["order_currency"] = "chf"
    event(client, in_francs)
    assert statuses(client) == ["pending", "pending"] and statuses(client, "o-2") == ["pending"]
    found = {(f["rule_id"], f["message"]) for f in client.get("/__sim/report", headers=AUTH).json()["findings"]}
    assert found == {
        (
            "order-plan-not-eligible",
            "order 'o-1' plan line 'tv': plan 'pl-prd-hakuna-tv-3y' does not cover 'prd-bb-32' (category 'accessories', "
            "list price 1200 eur; its category has no plan): put on an order only a plan the look-up offered for that "
            "product",
        ),
        (
            "plan-mispriced",
            "order 'o-1' plan line 'x' ('pl-prd-hakuna') costs 999 eur, but Hakuna prices it at 1200 eur for "
            "'prd-iphone14' (its list price 112900 eur falls in that band): place plans at the price the look-up "
            "answers; product coupons never discount a plan",
        ),
        (
            "order-plan-not-eligible",
            "order 'o-2' plan line 'x': plan 'pl-prd-hakuna' is sold in 'eur' but the order is in 'chf': offer the "
            "plans the look-up answers for the order's currency",
        ),
    }


def test_null_in_a_required_order_field_is_named(client: TestClient) -> None:
    body = placed("o-1", PHONE_AND_PLAN)
    body["payload"]["placed_at"] = None
    body["payload"]["cart_id"] = None  # optional: treated as absent
    response = event(client, body, 400)
    assert error_of(response)[1] == ["payload.placed_at is required and may not be null"]


def test_second_placement_of_an_order_id_is_refused(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    response = event(client, placed("o-1", [line("z", "prd-bb-32")]), 400)
    assert error_of(response)[0] == "order_already_exists"
    assert [l["id"] for l in order(client)["line_items"]] == ["p", "x", "c"]


# -- fulfilment, refunds, cancellation ---------------------------------------------------


def test_fulfilment_activates_protections_unit_by_unit(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("p", 1), at="2024-01-31T09:00:00Z"))
    body = order(client)
    assert [(p["status"], p["starts_at"], p["ends_at"]) for p in body["protections"]] == [
        ("active", "2024-01-31T09:00:00.000Z", "2025-01-31T09:00:00.000Z"),
        ("pending", None, None),
    ]
    event(client, fulfilled("o-1", ("p", 1), ("x", 2)))
    assert statuses(client) == ["active", "active"]
    assert {l["id"]: l["fulfilled_quantity"] for l in order(client)["line_items"]} == {"p": 2, "x": 2, "c": 0}


def test_fulfilled_and_refunded_never_exceed_ordered(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    response = event(client, fulfilled("o-1", ("p", 1), ("p", 2)), 400)
    code, messages = error_of(response)
    assert code == "quantity_exceeds_ordered"
    assert messages[0].startswith("payload.fulfillment_line_items[1].quantity")
    event(client, refunded("o-1", ("c", 1)))
    response = event(client, refunded("o-1", ("c", 1)), 400)
    assert error_of(response)[0] == "quantity_exceeds_ordered"


def test_an_event_applies_whole_or_not_at_all(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    before = order(client)
    response = event(client, refunded("o-1", ("p", 1), ("x", 1), ("nope", 1)), 400)
    code, messages = error_of(response)
    assert code == "line_item_not_found" and messages[0].startswith("payload.refund_line_items[2].line_item_id")
    assert order(client) == before


def test_plan_refund_ends_pending_before_active_oldest_first(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("p", 1)))
    event(client, refunded("o-1", ("x", 1)))
    assert statuses(client) == ["active", "refunded"]
    event(client, refunded("o-1", ("x", 1), at="2024-01-20T10:00:00Z"))
    protections = order(client)["protections"]
    assert [p["status"] for p in protections] == ["refunded", "refunded"]
    assert protections[0]["ends_at"] == "2024-01-20T10:00:00.000Z"


def test_plan_alone_refund_window_is_14_days_after_fulfilment(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("p", 2), at="2024-01-12T10:00:00Z"))
    event(client, refunded("o-1", ("x", 1), at="2024-01-26T10:00:00Z"))  # exactly 14 days
    response = event(client, refunded("o-1", ("x", 1), at="2024-01-26T10:00:01Z"), 400)
    code, messages = error_of(response)
    assert code == "refund_window_expired"
    assert "2024-01-26T10:00:00.000Z" in messages[0] and "together with its product" in messages[0]
    # With its product, three calendar months.
    event(client, refunded("o-1", ("p", 1), ("x", 1), at="2024-04-12T10:00:00Z"))
    assert statuses(client) == ["refunded", "refunded"]


def test_plan_with_product_refund_window_is_three_calendar_months(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("p", 2), at="2023-11-30T10:00:00Z"))
    response = event(client, refunded("o-1", ("p", 1), ("x", 1), at="2024-03-01T00:00:00Z"), 400)
    assert "2024-02-29T10:00:00.000Z" in error_of(response)[1][0]  # 30 Nov + 3 months, clamped
    assert statuses(client) == ["active", "active"]
    assert order(client)["line_items"][0]["refunded_quantity"] == 0  # the product refund was undone too


def test_a_pending_protection_can_always_be_refunded(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, refunded("o-1", ("x", 2), at="2030-01-01T00:00:00Z"))
    assert statuses(client) == ["refunded", "refunded"]


def test_refund_windows_are_settable_per_tenant(client: TestClient) -> None:
    response = client.put(
        "/__sim/settings", json={"refund_windows": {"plan_alone_days": 30, "with_product_months": 6}}, headers=AUTH
    )
    assert response.status_code == 200
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("p", 1), at="2024-01-01T00:00:00Z"))
    event(client, refunded("o-1", ("x", 1), at="2024-01-25T00:00:00Z"))
    assert "refunded" in statuses(client)
    response = client.put("/__sim/settings", json={"refund_windows": {"plan_alone_days": -1, "x": 1}}, headers=AUTH)
    assert response.status_code == 400
    assert sorted(error_of(response)[1]) == [
        "refund_windows.plan_alone_days must be an integer from 0 to 36500",
        "refund_windows.x is not an allowed field",
    ]
    # A partial update changes what it names and keeps the rest.
    response = client.put("/__sim/settings", json={"refund_windows": {"plan_alone_days": 7}}, headers=AUTH)
    assert response.json() == {"refund_windows": {"plan_alone_days": 7, "with_product_months": 6}, "magic_values": False}
    response = client.put("/__sim/settings", json={"magic_values": True}, headers=AUTH)
    assert response.json() == {"refund_windows": {"plan_alone_days": 7, "with_product_months": 6}, "magic_values": True}


def test_refunding_a_protected_product_without_its_plan_is_accepted(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("p", 1)))
    event(client, refunded("o-1", ("p", 1)))
    assert statuses(client) == ["active", "pending"]


def test_cancellation(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, refunded("o-1", ("x", 1)))
    event(client, cancelled("o-1"))
    body = order(client)
    assert body["status"] == "cancelled" and body["cancelled_at"] == "2024-01-11T10:00:00.000Z"
    assert [p["status"] for p in body["protections"]] == ["refunded", "cancelled"]
    response = event(client, cancelled("o-1"), 400)
    assert error_of(response)[0] == "cancel_decline"
    for later in (fulfilled("o-1", ("p", 1)), refunded("o-1", ("c", 1))):
        response = event(client, later, 400)
        assert error_of(response)[0] == "order_cancelled"
    assert order(client) == body


def test_cancel_after_fulfilment_is_declined(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    event(client, fulfilled("o-1", ("c", 1)))
    response = event(client, cancelled("o-1"), 400)
    assert error_of(response)[0] == "cancel_decline"
    assert order(client)["status"] == "placed"


def test_events_for_unknown_orders_and_other_tenants_orders_are_404(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    other = {"Authorization": "Bearer sk_test_othertenant", "Content-Type": "application/json"}
    import json

    response = client.post("/sandbox/events", content=json.dumps(fulfilled("o-1", ("p", 1))), headers=other)
    assert response.status_code == 404 and error_of(response)[0] == "entity_not_found"
    assert client.get("/sandbox/orders/o-1", headers=other).status_code == 404
    assert event(client, cancelled("o-404"), 404)
    assert client.get("/sandbox/events/evt-nope", headers=AUTH).status_code == 404
    assert client.get("/sandbox/orders/o-404/plan_connections", headers=AUTH).status_code == 404


# -- bad input per event type ------------------------------------------------------------


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            {"type": "order_shipped", "payload": {}},
            ["type must be one of order_placed, order_fulfillment_added, order_refund_added, order_cancelled"],
        ),
        ({"payload": {}}, ["type is required"]),
        ({"type": "order_cancelled"}, ["payload is required"]),
        (
            {"type": "order_cancelled", "payload": {"order_id": 5, "cancelled_at": "yesterday"}},
            [
                "payload.order_id must be a non-empty string without control characters, got a number",
                'payload.cancelled_at must be an RFC 3339 timestamp from the year 1000 to 9998 (e.g. "2022-02-20T00:00:00.000Z")',
            ],
        ),
        (
            {"type": "order_fulfillment_added", "payload": {"order_id": "o-1", "fulfillment_line_items": []}},
            ["payload.fulfillment_line_items must be a non-empty array"],
        ),
        (
            {
                "type": "order_fulfillment_added",
                "payload": {
                    "order_id": "o-1",
                    "fulfillment_line_items": [{"line_item_id": "p", "quantity": 0, "fulfilled_at": "2024-02-30T00:00:00Z"}],
                },
            },
            [
                "payload.fulfillment_line_items[0].quantity must be an integer >= 1",
                "payload.fulfillment_line_items[0].fulfilled_at must be an RFC 3339 timestamp from the year 1000 to 9998 "
                '(e.g. "2022-02-20T00:00:00.000Z")',
            ],
        ),
        (
            {
                "type": "order_refund_added",
                "payload": {"order_id": "o-1", "refund_line_items": [{"line_item_id": "p", "quantity": "1"}]},
            },
            [
                "payload.refund_line_items[0].refunded_at is required",
                "payload.refund_line_items[0].quantity must be an integer >= 1, got a string",
            ],
        ),
    ],
)
def test_malformed_events_list_every_problem(client: TestClient, body: dict[str, Any], expected: list[str]) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN))
    before = order(client)
    response = event(client, body, 400)
    assert error_of(response) == ("invalid_request_parameters", expected)
    assert order(client) == before


def test_malformed_order_placed_lists_every_problem(client: TestClient) -> None:
    body = placed("o-1", [line("p", "prd-iphone14", price=99.5)])  # type: ignore[arg-type]
    body["payload"]["order_currency"] = "EUR"
    body["payload"]["customer_billing_address"]["country"] = "DE"
    body["payload"]["customer"].pop("email")
    body["payload"]["placed_at"] = "20.02.2022"
    response = event(client, body, 400)
    assert error_of(response)[1] == [
        'payload.placed_at must be an RFC 3339 timestamp from the year 1000 to 9998 (e.g. "2022-02-20T00:00:00.000Z")',
        "payload.order_currency must be a lower-case ISO 4217 currency code (e.g. \"eur\"), not 'EUR': send 'eur'",
        "payload.customer.email is required",
        'payload.customer_billing_address.country must be a lower-case ISO 3166-1 alpha-2 country code (e.g. "de"), '
        "not 'DE': send 'de'",
        "payload.line_items[0].price_amount must be an integer amount in minor units >= 0 (e.g. 112900 for 1,129.00), "
        "got a number",
    ]
    assert client.get("/sandbox/orders/o-1", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "placed_at", ["0001-01-01T00:00:00+00:01", "0999-12-31T23:59:59Z", "9999-01-01T00:00:00Z", "9998-12-31T23:59:59-23:59"]
)
def test_timestamps_outside_the_published_years_are_refused_by_the_schema(client: TestClient, placed_at: str) -> None:
    """Every timestamp the published schema admits is accepted: it says the years (1000
    to 9998), so that no offset takes an instant outside the calendar."""
    if placed_at.startswith("9998"):
        event(client, placed("o-1", PHONE_AND_PLAN, placed_at=placed_at))  # 10000 in UTC? no: 9999-01-01T23:58
        return
    response = event(client, placed("o-1", PHONE_AND_PLAN, placed_at=placed_at), 400)
    assert error_of(response)[1] == [
        'payload.placed_at must be an RFC 3339 timestamp from the year 1000 to 9998 (e.g. "2022-02-20T00:00:00.000Z")'
    ]


def test_timestamps_at_the_calendars_edges(client: TestClient) -> None:
    event(client, placed("o-1", PHONE_AND_PLAN, placed_at="1000-01-01T00:00:00+01:00"))
    event(client, fulfilled("o-1", ("p", 1), at="9998-06-01T00:00:00Z"))
    body = order(client)
    assert body["placed_at"] == "0999-12-31T23:00:00.000Z"
    assert body["protections"][0]["ends_at"] == "9999-06-01T00:00:00.000Z"


def test_calendar_months_count_in_the_zone_each_time_was_written_in() -> None:
    """One instant, written in two zones, is two calendar days: a month later differs
    (the arithmetic keeps answers by instant and zone, never by instant alone)."""
    from simulator.domain.timefmt import add_months, parse_timestamp

    utc, berlin = parse_timestamp("2024-01-31T23:30:00Z"), parse_timestamp("2024-02-01T00:30:00+01:00")
    assert utc == berlin
    assert add_months(utc, 1).isoformat() == "2024-02-29T23:30:00+00:00"
    assert add_months(berlin, 1).isoformat() == "2024-03-01T00:30:00+01:00"
    assert add_months(utc, 1).isoformat() == "2024-02-29T23:30:00+00:00"
