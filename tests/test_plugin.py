"""The pytest plugin as a merchant's suite uses it: the README's example, run by pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    """The README's merchant test, as the README shows it."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```python\n# test_merchant.py\n") + len("```python\n")
    return text[start:text.index("```", start)]

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
    pytester.makepyfile(test_merchant=readme_example())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_each_test_gets_its_own_key_on_one_simulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
