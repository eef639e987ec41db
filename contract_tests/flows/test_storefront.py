"""The guide's "E-commerce integration", top to bottom, through the reference storefront."""

from __future__ import annotations

import pytest

from contract_tests import guide
from contract_tests import models as m
from contract_tests.client import BadRequest, HakunaClient
from contract_tests.flows.conftest import CASE, IPHONE
from contract_tests.merchant import Storefront

GUIDE_PLAN = guide.PLAN_RESPONSE["plans"][0]


def plan_of(shop: Storefront) -> m.Plan:
    return shop.product_page(IPHONE)[0]


def test_product_page_offers_the_guides_plan(client: HakunaClient, shop: Storefront) -> None:
    offer = client.look_up_plans(
        m.PlanQuery(
            product_id=IPHONE.id,
            product_category=IPHONE.category,
            product_title=IPHONE.title,
            product_brand=IPHONE.brand,
            product_price_amount=IPHONE.price_amount,
            product_price_currency="eur",
            user_session_id=shop.user_session_id,
        )
    )
    assert offer.model_dump(exclude_none=True) == guide.PLAN_RESPONSE  # the guide's example response


def test_a_product_no_plan_covers_is_unsupported_and_offered_none(client: HakunaClient, shop: Storefront) -> None:
    with pytest.raises(BadRequest) as refused:
        client.look_up_plans(
            m.PlanQuery(
                product_id=CASE.id,
                product_category=CASE.category,
                product_price_amount=CASE.price_amount,
                product_price_currency="eur",
                user_session_id=shop.user_session_id,
            )
        )
    assert refused.value.error_code == "product_unsupported"
    assert "product_category 'accessories' has no protection plan" in refused.value.validation_errors[0]
    assert shop.product_page(CASE) == []


def test_adding_a_product_with_its_plan_needs_no_action(shop: Storefront) -> None:
    product_line = shop.add(IPHONE, plan=plan_of(shop))
    plan_line = shop.lines[1].id
    assert shop.sync() == []
    assert [(c.product_line_item_id, c.plan_line_item_id) for c in shop.connections()] == [(product_line, plan_line)]


def test_quantity_change_makes_the_plan_follow(shop: Storefront) -> None:
    product_line = shop.add(IPHONE, plan=plan_of(shop))
    shop.add(CASE)
    plan_line = shop.lines[1].id
    shop.lines[0].quantity = 2
    actions = shop.sync()
    assert [a.model_dump() for a in actions] == [
        {"type": "update_line_item", "payload": {"line_item_id": plan_line, "line_item_quantity": 2}}
    ]
    assert [(l.id, l.quantity) for l in shop.lines][:2] == [(product_line, 2), (plan_line, 2)]
    assert shop.sync() == []


def test_removing_a_product_removes_its_plan(shop: Storefront) -> None:
    product_line = shop.add(IPHONE, plan=plan_of(shop))
    case_line = shop.add(CASE)
    plan_line = shop.lines[1].id
    shop.lines.remove(shop._line(product_line))
    actions = shop.sync()
    assert [a.model_dump() for a in actions] == [{"type": "remove_line_item", "payload": {"line_item_id": plan_line}}]
    assert [l.id for l in shop.lines] == [case_line]
    assert shop.connections() == []


def test_cart_page_offers_plans_for_unprotected_products_only(shop: Storefront) -> None:
    protected = shop.add(IPHONE, plan=plan_of(shop))
    unprotected = shop.add(IPHONE, quantity=3)
    shop.add(CASE)
    offers = shop.opt_in_offers()
    assert list(offers) == [unprotected]
    assert offers[unprotected][0].model_dump() == GUIDE_PLAN
    plan_line = shop.protect(unprotected, offers[unprotected][0])
    connections = {(c.product_line_item_id, c.plan_line_item_id) for c in shop.connections()}
    assert connections == {(protected, shop.lines[1].id), (unprotected, plan_line)}
    assert shop._line(plan_line).quantity == 3
    assert shop.opt_in_offers() == {}


def test_plan_without_reference_and_second_plan_are_removed(shop: Storefront) -> None:
    product_line = shop.add(IPHONE, plan=plan_of(shop))
    first_plan = shop.lines[1]
    shop._add_plan_line(IPHONE.id, plan_of(shop), 1)  # a second plan for the same single line
    orphan = shop._add_plan_line(IPHONE.id, plan_of(shop), 1)
    orphan.protects = None  # and one without the custom property
    second = shop.lines[2].id
    actions = shop.sync()
    assert sorted(a.payload.line_item_id for a in actions) == sorted([second, orphan.id])
    assert all(a.type == "remove_line_item" for a in actions)
    assert [l.id for l in shop.lines] == [product_line, first_plan.id]


def test_the_same_cart_gets_the_same_actions(client: HakunaClient, shop: Storefront) -> None:
    shop.add(IPHONE, plan=plan_of(shop))
    shop.lines[0].quantity = 4
    cart = m.CartUpdate(
        cart_id=shop.cart_id,
        user_session_id=shop.user_session_id,
        cart_currency="eur",
        line_items=[l.as_model() for l in shop.lines],
    )
    first = client.update_cart(cart)
    assert client.update_cart(cart) == first
    assert len(first.actions) == 1


def test_an_empty_cart_is_valid(shop: Storefront) -> None:
    assert shop.sync() == []
    assert shop.connections() == []


def test_checkout_answers_the_checkout_and_freezes_the_cart(shop: Storefront, unique: str) -> None:
    shop.add(IPHONE, plan=plan_of(shop))
    answer = shop.check_out(f"ord-{unique}")
    assert answer == m.Checkout(cart_id=shop.cart_id, user_session_id=shop.user_session_id, order_id=f"ord-{unique}")
    assert shop.check_out(f"ord-{unique}") == answer  # a repeat is fine
    try:
        shop.change_quantity(shop.lines[0].id, 2)
    except BadRequest as refused:
        assert refused.status == 400 and refused.error_code == "cart_checked_out"
    else:
        raise AssertionError("a checked-out cart accepted an update")
