"""docs/contract.md §5: connections and reconciliation, as plain functions and over HTTP."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from simulator.domain.carts import (
    EXTRA_PLAN,
    MERGED,
    NO_REFERENCE,
    NOT_ELIGIBLE,
    PRODUCT_MISSING,
    LineItem,
    apply_actions,
    reconcile,
)
from simulator.domain.matching import Catalog
from tests.conftest import AUTH, cart, error_of, line, look_up, post

PLAN = "pl-prd-hakuna"


def reconcile_lines(catalog: Catalog, lines: list[LineItem]):  # type: ignore[no-untyped-def]
    return reconcile(lines, catalog, lambda product_id: catalog.product(product_id, "eur"))


def L(line_id: str, product_id: str, quantity: int = 1, ref: str | None = None) -> LineItem:
    return LineItem(line_id, product_id, quantity, 1000, ref)


def test_plan_follows_its_products_quantity(catalog: Catalog) -> None:
    result = reconcile_lines(catalog, [L("p", "prd-iphone14", 3), L("x", PLAN, 1, "prd-iphone14")])
    assert result.actions == ({"type": "update_line_item", "payload": {"line_item_id": "x", "line_item_quantity": 3}},)
    assert [c.as_body() for c in result.connections] == [{"product_line_item_id": "p", "plan_line_item_id": "x"}]


@pytest.mark.parametrize(
    "lines, reason",
    [
        ([L("p", "prd-iphone14"), L("x", PLAN)], NO_REFERENCE),
        ([L("x", PLAN, 1, "prd-iphone14")], PRODUCT_MISSING),
        ([L("p", "prd-iphone14"), L("x", PLAN, 1, "prd-iphone14"), L("y", PLAN, 1, "prd-iphone14")], EXTRA_PLAN),
        (
            [L("p", "prd-pixel-8a", 2), L("x", PLAN, 1, "prd-pixel-8a"), L("y", "pl-prd-hakuna-phone-2y", 1, "prd-pixel-8a")],
            EXTRA_PLAN,
        ),
        ([L("p", "prd-iphone14", 2), L("x", PLAN, 1, "prd-iphone14"), L("y", PLAN, 1, "prd-iphone14")], MERGED),
        ([L("p", "prd-macbook-air-m2"), L("x", PLAN, 1, "prd-macbook-air-m2")], NOT_ELIGIBLE),
        ([L("p", "pl-prd-hakuna-tv-2y"), L("x", PLAN, 1, "pl-prd-hakuna-tv-2y")], PRODUCT_MISSING),
    ],
)
def test_plans_that_cannot_stay_are_removed(catalog: Catalog, lines: list[LineItem], reason: str) -> None:
    result = reconcile_lines(catalog, lines)
    removed = [a["payload"]["line_item_id"] for a in result.actions if a["type"] == "remove_line_item"]
    assert lines[-1].id in removed
    assert result.removal_reasons[lines[-1].id] == reason
    assert all(catalog.is_plan(l.product_id) for l in lines if l.id in removed)


def test_a_product_nothing_is_known_of_keeps_its_plan(catalog: Catalog) -> None:
    # Neither looked up nor in the catalog's product list: Hakuna has nothing to judge
    # its eligibility on, so a shop that caches its look-ups loses no plan.
    result = reconcile_lines(catalog, [L("p", "prd-never-looked-up"), L("x", PLAN, 1, "prd-never-looked-up")])
    assert result.actions == () and [c.plan_line_item_id for c in result.connections] == ["x"]


def test_two_lines_of_one_product_each_take_their_own_plan(catalog: Catalog) -> None:
    lines = [
        L("p1", "prd-iphone14", 1),
        L("p2", "prd-iphone14", 2),
        L("x1", PLAN, 1, "prd-iphone14"),
        L("x2", PLAN, 1, "prd-iphone14"),
    ]
    result = reconcile_lines(catalog, lines)
    assert [(c.product_line_item_id, c.plan_line_item_id) for c in result.connections] == [("p1", "x1"), ("p2", "x2")]
    assert result.actions == ({"type": "update_line_item", "payload": {"line_item_id": "x2", "line_item_quantity": 2}},)


def test_an_ineligible_plan_does_not_take_the_product_from_an_eligible_one(catalog: Catalog) -> None:
    lines = [L("p", "prd-iphone14"), L("bad", "pl-prd-hakuna-tv-2y", 1, "prd-iphone14"), L("good", PLAN, 1, "prd-iphone14")]
    result = reconcile_lines(catalog, lines)
    assert [c.plan_line_item_id for c in result.connections] == ["good"]


# -- properties over generated carts ---------------------------------------------------

PRODUCTS = ["prd-iphone14", "prd-galaxy-s23", "prd-bb-32", "prd-macbook-air-m2", "prd-unknown"]
PLANS = ["pl-prd-hakuna", "pl-prd-hakuna-phone-2y", "pl-prd-hakuna-laptop-1y", "pl-prd-hakuna-tv-2y"]


@st.composite
def carts(draw: st.DrawFn) -> list[LineItem]:
    n = draw(st.integers(0, 12))
    lines = []
    for i in range(n):
        if draw(st.booleans()):
            lines.append(L(f"l{i}", draw(st.sampled_from(PRODUCTS)), draw(st.integers(1, 4))))
        else:
            ref = draw(st.one_of(st.none(), st.sampled_from(PRODUCTS + PLANS + ["", "prd-other"])))
            lines.append(L(f"l{i}", draw(st.sampled_from(PLANS)), draw(st.integers(1, 4)), ref))
    return draw(st.permutations(lines))


@settings(max_examples=300, deadline=None)
@given(carts())
def test_one_round_of_actions_converges(catalog: Catalog, lines: list[LineItem]) -> None:
    first = reconcile_lines(catalog, lines)
    after = apply_actions(lines, first.actions)
    second = reconcile_lines(catalog, after)
    assert second.actions == ()
    assert second.connections == first.connections


@settings(max_examples=300, deadline=None)
@given(carts())
def test_actions_touch_only_plan_lines_once_each_and_add_nothing(catalog: Catalog, lines: list[LineItem]) -> None:
    result = reconcile_lines(catalog, lines)
    targets = [a["payload"]["line_item_id"] for a in result.actions]
    assert max(Counter(targets).values(), default=0) <= 1
    by_id = {l.id: l for l in lines}
    assert all(t in by_id and catalog.is_plan(by_id[t].product_id) for t in targets)
    assert {l.id for l in apply_actions(lines, result.actions)} <= set(by_id)
    assert all(a["payload"].get("line_item_quantity", 1) >= 1 for a in result.actions)


@settings(max_examples=200, deadline=None)
@given(carts())
def test_the_same_cart_always_yields_the_same_actions(catalog: Catalog, lines: list[LineItem]) -> None:
    assert reconcile_lines(catalog, lines) == reconcile_lines(catalog, list(lines))


@settings(max_examples=200, deadline=None)
@given(carts())
def test_each_product_line_has_at_most_one_plan_of_its_quantity(catalog: Catalog, lines: list[LineItem]) -> None:
    result = reconcile_lines(catalog, lines)
    after = {l.id: l for l in apply_actions(lines, result.actions)}
    products = Counter(c.product_line_item_id for c in result.connections)
    assert max(products.values(), default=0) <= 1
    for c in result.connections:
        assert after[c.plan_line_item_id].quantity == after[c.product_line_item_id].quantity


# -- over HTTP ---------------------------------------------------------------------------


def test_eligibility_uses_the_list_price_from_the_last_look_up(client: TestClient) -> None:
    # A phone the fixtures do not know, looked up at a price no plan covers (over 2,500 EUR).
    look_up(client, product_id="prd-vertu", product_price_amount=900000)
    lines = [line("p", "prd-vertu", price=100), line("x", PLAN, reference="prd-vertu")]
    actions = post(client, "/sandbox/carts", cart(lines)).json()["actions"]
    assert actions == [{"type": "remove_line_item", "payload": {"line_item_id": "x"}}]
    look_up(client, product_id="prd-vertu", product_price_amount=120000)
    assert post(client, "/sandbox/carts", cart(lines)).json()["actions"] == []


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b["line_items"][0].update(price_amount=12.5), "line_items[0].price_amount must be an integer"),
        (lambda b: b["line_items"][0].update(price_amount="1200"), "line_items[0].price_amount must be an integer"),
        (lambda b: b["line_items"][0].update(quantity=0), "line_items[0].quantity must be an integer >= 1"),
        (lambda b: b["line_items"][0].update(quantity=-2), "line_items[0].quantity must be an integer >= 1"),
        (lambda b: b["line_items"][0].update(quantity=0.0), "line_items[0].quantity must be an integer >= 1"),
        (lambda b: b["line_items"][0].update(quantity=None), "line_items[0].quantity is required and may not be null"),
        (lambda b: b.update(cart_id=None), "cart_id is required and may not be null"),
        (
            lambda b: b.update(cart_currency="EUR"),
            "cart_currency must be a lower-case ISO 4217 currency code (e.g. \"eur\"), not 'EUR': send 'eur'",
        ),
        (lambda b: b.update(cart_currency="xyz"), "cart_currency must be a lower-case ISO 4217"),
        (lambda b: b.update(cart_id=""), "cart_id must be a non-empty string without control characters"),
        (lambda b: b["line_items"][0].update(id=""), "line_items[0].id must be a non-empty string without control characters"),
        (lambda b: b.pop("user_session_id"), "user_session_id is required"),
        (lambda b: b.pop("line_items"), "line_items is required"),
        (lambda b: b["line_items"][0].pop("product_id"), "line_items[0].product_id is required"),
        (
            lambda b: b["line_items"][1].update(custom_properties={"product_reference": ""}),
            "line_items[1].custom_properties.product_reference must be a non-empty string without control characters",
        ),
        (lambda b: b["line_items"][1].update(id="p"), "line_items[1].id duplicates line_items[0].id"),
    ],
)
def test_bad_cart_is_400_and_keeps_the_stored_cart(client: TestClient, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    good = cart([line("p", "prd-iphone14"), line("x", PLAN, reference="prd-iphone14")])
    assert post(client, "/sandbox/carts", good).json()["actions"] == []
    bad = cart([line("p", "prd-iphone14", quantity=2), line("x", PLAN, reference="prd-iphone14")])
    mutate(bad)
    response = post(client, "/sandbox/carts", bad)
    assert response.status_code == 400
    code, messages = error_of(response)
    assert code == "invalid_request_parameters"
    assert any(m.startswith(message) for m in messages), messages
    connections = client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).json()[
        "plan_connections"
    ]
    assert connections == [{"product_line_item_id": "p", "plan_line_item_id": "x"}]


def test_integral_numbers_and_nulls_in_optional_fields_are_read_as_the_contract_says(client: TestClient) -> None:
    body = cart([line("p", "prd-iphone14", quantity=2.0, price=112900.0), line("x", PLAN, reference="prd-iphone14")])  # type: ignore[arg-type]
    body["line_items"][0].update(product_title=None, custom_properties=None)
    response = post(client, "/sandbox/carts", body)
    assert response.status_code == 200
    assert response.json()["actions"] == [{"type": "update_line_item", "payload": {"line_item_id": "x", "line_item_quantity": 2}}]
    [entry] = client.get("/__sim/journal", headers=AUTH).json()["entries"]
    assert entry["deviations"] == ["integral_number"]


@pytest.mark.parametrize("written", [b"2e0", b"2E0", b"20e-1", b"2.000", b"0.2e1"])
def test_an_integer_written_with_an_exponent_or_a_fraction_is_the_integer(client: TestClient, written: bytes) -> None:
    raw = json.dumps(cart([line("p", "prd-iphone14"), line("x", PLAN, reference="prd-iphone14")])).encode()
    raw = raw.replace(b'"quantity": 1', b'"quantity": ' + written, 1)
    response = client.post("/sandbox/carts", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["actions"] == [{"type": "update_line_item", "payload": {"line_item_id": "x", "line_item_quantity": 2}}]
    [entry] = client.get("/__sim/journal", headers=AUTH).json()["entries"]
    assert entry["deviations"] == ["integral_number"]


def test_a_cart_update_lists_every_problem(client: TestClient) -> None:
    body = cart([{"id": "a", "quantity": 0, "price_amount": -1}, "not a line"])  # type: ignore[list-item]
    body["cart_currency"] = "Euro"
    messages = error_of(post(client, "/sandbox/carts", body))[1]
    assert messages == [
        'cart_currency must be a lower-case ISO 4217 currency code (e.g. "eur")',
        "line_items[0].product_id is required",
        "line_items[0].quantity must be an integer >= 1",
        "line_items[0].price_amount must be an integer amount in minor units >= 0 (e.g. 112900 for 1,129.00)",
        "line_items[1] must be a line item object, got a string",
    ]


def test_connections_need_the_carts_own_session(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14")]))
    response = client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "other"}, headers=AUTH)
    assert response.status_code == 404 and error_of(response)[0] == "entity_not_found"
    response = client.get("/sandbox/carts/cart-1/plan_connections", headers=AUTH)
    assert response.status_code == 400 and error_of(response)[1] == ["user_session_id is required"]
    response = client.get("/sandbox/carts/nope/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH)
    assert response.status_code == 404


def test_a_checked_out_cart_is_frozen(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14")]))
    assert (
        post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"}).status_code
        == 200
    )
    response = post(client, "/sandbox/carts", cart([line("p", "prd-iphone14", 2)]))
    assert response.status_code == 400 and error_of(response)[0] == "cart_checked_out"


@pytest.mark.parametrize("line_id", ["l\u0000x", "tab\there", "new\nline", "del\u007f"])
def test_a_control_character_in_an_id_is_refused_clearly(client: TestClient, line_id: str) -> None:
    response = post(client, "/sandbox/carts", cart([line(line_id, "prd-bb-32")]))
    assert response.status_code == 400
    assert error_of(response)[1] == ["line_items[0].id must be a non-empty string without control characters"]


def test_a_value_of_the_wrong_json_type_is_named_as_such(client: TestClient) -> None:
    body = cart([{"id": 7, "quantity": "2", "price_amount": 1.5, "product_id": None, "custom_properties": []}])
    response = post(client, "/sandbox/carts", body)
    assert error_of(response)[1] == [
        "line_items[0].product_id is required and may not be null",
        "line_items[0].id must be a non-empty string without control characters, got a number",
        "line_items[0].quantity must be an integer >= 1, got a string",
        "line_items[0].price_amount must be an integer amount in minor units >= 0 (e.g. 112900 for 1,129.00), got a number",
        "line_items[0].custom_properties must be an object, got an array",
    ]
