"""A long merchant test session through the pytest plugin: does the server stay flat?

    python benchmarks/plugin_session.py [TESTS]     (default 10,000)

Writes a throwaway test module whose every test uses `hakuna_client` as a merchant's
would (a cart with a plan, a checkout, an order placed), runs it with pytest and the
plugin's in-process simulator, and prints, every tenth of the way, how many keys the
server holds and the process's resident memory. The plugin frees each finished test's
key, so the keys held stay at zero. Resident memory also holds what pytest keeps per
test (its reports and items), so the module then runs as many tests that touch no
server: the growth of the first half beyond the second's is the server's (target, issue
"Fits every merchant's toolchain": a 10,000-test session keeps the server's memory
flat).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

TEST_MODULE = '''
import pytest
from contract_tests.models import CartUpdate, Checkout, LineItem

@pytest.mark.parametrize("n", range({tests}))
def test_a_merchant_flow(hakuna_client, n):
    lines = [LineItem(id="1", quantity=2, price_amount=112900, product_id="prd-iphone14"),
             LineItem(id="2", quantity=2, price_amount=1200, product_id="pl-prd-hakuna",
                      custom_properties={{"product_reference": "prd-iphone14"}})]
    hakuna_client.update_cart(CartUpdate(cart_id=f"c{{n}}", user_session_id="s", cart_currency="eur", line_items=lines))
    hakuna_client.check_out(Checkout(cart_id=f"c{{n}}", user_session_id="s", order_id=f"o{{n}}"))


@pytest.mark.parametrize("n", range({tests}))
def test_nothing(n):
    """The same number of tests that touch no server: what pytest itself keeps per test."""
'''

CONFTEST = """
import os

import pytest

SEEN = {{"tests": 0, "simulator": None}}
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


@pytest.fixture(autouse=True)
def _the_simulator(hakuna_simulator):
    SEEN["simulator"] = hakuna_simulator


def pytest_runtest_logfinish(nodeid, location):
    SEEN["tests"] += 1
    if SEEN["tests"] % {step} == 0:
        tenants = len(SEEN["simulator"].app.state.sandbox.tenants)
        print(f"\\n{{SEEN['tests']:>7}} tests: {{tenants:>3}} keys held, resident {{rss_mib():6.1f}} MiB", flush=True)
"""


def server_heap_growth(cycles: int) -> float:
    """KiB the server keeps (tracemalloc, in process) after `cycles` more keys that each
    run the merchant flow and are then freed as the plugin frees them."""
    import gc
    import tracemalloc
    import uuid
    import warnings

    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

    from simulator.config import SimConfig
    from simulator.contract.catalog import load_catalog
    from simulator.contract.resources import default_catalog_path
    from simulator.web.app import create_app

    lines = [
        {"id": "1", "quantity": 2, "price_amount": 112900, "product_id": "prd-iphone14"},
        {
            "id": "2",
            "quantity": 2,
            "price_amount": 1200,
            "product_id": "pl-prd-hakuna",
            "custom_properties": {"product_reference": "prd-iphone14"},
        },
    ]
    with TestClient(create_app(SimConfig(catalog=load_catalog(default_catalog_path())))) as client:

        def cycle(n: int) -> None:
            key = {"Authorization": "Bearer sk_test_" + uuid.uuid4().hex, "Hakuna-Version": "v2.0"}
            client.post(
                "/sandbox/carts",
                headers={**key, "Hakuna-Idempotency-Key": uuid.uuid4().hex},
                json={"cart_id": f"c{n}", "user_session_id": "s", "cart_currency": "eur", "line_items": lines},
            )
            client.post(
                "/sandbox/checkouts",
                headers={**key, "Hakuna-Idempotency-Key": uuid.uuid4().hex},
                json={"cart_id": f"c{n}", "user_session_id": "s", "order_id": f"o{n}"},
            )
            assert client.delete("/__sim/sandbox", headers=key).status_code < 300

        for n in range(500):  # warm up: caches, interned strings, pools
            cycle(n)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(cycles):
            cycle(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    return (after - before) / 1024


def main(tests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "test_session.py").write_text(textwrap.dedent(TEST_MODULE.format(tests=tests)))
        (root / "conftest.py").write_text(textwrap.dedent(CONFTEST.format(step=max(1, tests // 10))))
        print(f"{tests:,} merchant tests, then {tests:,} tests that touch no server:")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", str(root)],
            cwd=root,
            capture_output=True,
            text=True,
        )
    for line in run.stdout.splitlines():
        if "keys held" in line or " passed" in line or "failed" in line:
            print(line.strip())
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-2000:])
        sys.exit(1)
    cycles = min(tests, 3000)
    print(f"server heap after {cycles:,} more keys, each used and freed: {server_heap_growth(cycles):+.1f} KiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
