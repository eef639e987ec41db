"""The pytest plugin as a merchant's suite uses it: the README's example, run by pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract_tests.run import QUIET_PLUGINS

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.integration  # whole pytest sessions in subprocesses

README = Path(__file__).resolve().parents[2] / "README.md"
QUIET = ("-p", "no:cacheprovider", *QUIET_PLUGINS)  # a merchant's session, without this project's test tools


def readme_example() -> str:
    """The README's merchant test, as the README shows it."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```python\n# test_merchant.py\n") + len("```python\n")
    return text[start : text.index("```", start)]


ISOLATION = """
import pytest
from contract_tests.client import NotFound
from contract_tests.models import CartUpdate

SEEN = []

def test_first_sends_a_cart(hakuna_client, hakuna_sim):
    SEEN.append((hakuna_sim.base_url, hakuna_sim.api_key))
    hakuna_client.update_cart(CartUpdate(cart_id="shared", user_session_id="s", cart_currency="eur", line_items=[]))
    assert hakuna_client.cart_connections("shared", "s").plan_connections == []

def test_second_does_not_see_it_on_the_same_simulator(hakuna_client, hakuna_sim):
    (base_url, first_key), = SEEN
    assert hakuna_sim.base_url == base_url and hakuna_sim.api_key != first_key
    with pytest.raises(NotFound):
        hakuna_client.cart_connections("shared", "s")
"""


def test_readme_example_passes_with_the_plugins_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_merchant=readme_example())
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=1)


def test_each_test_gets_its_own_key_on_one_simulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess(*QUIET)
    result.assert_outcomes(passed=2)


FLAT = """
import pytest
from contract_tests.models import CartUpdate, LineItem

@pytest.mark.parametrize("n", range(300))
def test_many(hakuna_client, n):
    hakuna_client.update_cart(CartUpdate(cart_id=f"c-{n}", user_session_id="s", cart_currency="eur",
                                         line_items=[LineItem(id="l", quantity=1, price_amount=1,
                                                              product_id="prd-bb-32")]))

def test_zz_the_server_kept_no_finished_tests_sandbox(hakuna_simulator):
    assert len(hakuna_simulator.app.state.sandbox.tenants) <= 2
"""


def test_a_long_session_keeps_the_server_flat(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flat=FLAT)
    result = pytester.runpytest_subprocess(*QUIET, "-p", "no:randomly")
    result.assert_outcomes(passed=301)


READINESS = """
from contract_tests import guide
from contract_tests.models import CartUpdate, LineItem, PlanQuery

def test_looks_up(hakuna_client):
    hakuna_client.look_up_plans(PlanQuery(**guide.PLAN_QUERY))

def test_sends_an_empty_cart(hakuna_client):
    hakuna_client.update_cart(CartUpdate(cart_id="c", user_session_id="s", cart_currency="eur", line_items=[]))
"""


def test_the_readiness_option_fails_a_session_that_missed_an_item_and_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=READINESS)
    result = pytester.runpytest_subprocess(*QUIET, "-p", "no:randomly", "--hakuna-readiness")
    result.assert_outcomes(passed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "hakuna-sim readiness (storefront-and-erp, 2 key(s)): NOT ready",
            "*ok   plans-look-up*",
            "*---- cart-update-action*",
            "*how: send a cart with a plan for each of 2 product units*",
        ]
    )


def test_the_readiness_ini_option_and_an_erp_only_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=READINESS)
    pytester.makeini("[pytest]\nhakuna_readiness = true\nhakuna_integration = erp-only\n")
    result = pytester.runpytest_subprocess(*QUIET, "-p", "no:randomly")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["hakuna-sim readiness (erp-only, 2 key(s)): NOT ready", "*---- order-placed*"])
    assert "---- cart-update-action (optional)" in result.stdout.str()


def test_without_the_option_readiness_does_not_fail_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=READINESS)
    result = pytester.runpytest_subprocess(*QUIET, "-p", "no:randomly")
    assert result.ret == 0 and "hakuna-sim readiness" not in result.stdout.str()
