"""The pytest plugin as a merchant's suite uses it: the README's example, run by pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

README_EXAMPLE = '''
from contract_tests.models import CartUpdate, LineItem

def test_my_cart_sync(hakuna_client, hakuna_sim):
    cart = CartUpdate(cart_id="c-1", user_session_id="s-1", cart_currency="eur", line_items=[
        LineItem(id="1", quantity=2, price_amount=112900, product_id="prd-iphone14"),
        LineItem(id="2", quantity=1, price_amount=1200, product_id="pl-prd-hakuna",
                 custom_properties={"product_reference": "prd-iphone14"})])
    actions = hakuna_client.update_cart(cart).actions
    assert [(a.type, a.payload.line_item_quantity) for a in actions] == [("update_line_item", 2)]
    assert hakuna_sim.controls.journal(path="/sandbox/carts")["entries"][0]["status"] == 200
'''

ISOLATION = '''
def test_first(hakuna_client, hakuna_sim):
    from contract_tests.models import Checkout
    import pytest
    from contract_tests.client import NotFound
    with pytest.raises(NotFound):
        hakuna_client.check_out(Checkout(cart_id="shared", user_session_id="s", order_id="o"))

def test_keys_differ(hakuna_sim, request):
    assert hakuna_sim.api_key.startswith("sk_test_")
'''


def test_readme_example_passes_with_the_plugins_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_merchant=README_EXAMPLE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_each_test_gets_its_own_key_on_one_simulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
