"""The dashboard in a real headless Chromium (Debian's chromium, driven by Playwright):
enter a key, read the report, carts, orders and journal, follow a finding to its request."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contract_tests import guide
from contract_tests.plugin import Target

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the test extras")
pytestmark = [  # a real Chromium
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        yield context.new_page()
        browser.close()


def guide_flow(target: Target) -> None:
    """The guide's examples as a merchant who copied them sends them."""
    root = target.base_url.removesuffix("/sandbox")
    headers = {"Bearer": target.api_key, "Content-Type": "application/json"}
    httpx.get(target.base_url + "/plans", params=guide.PLAN_QUERY, headers=headers)
    for text in (guide.CART_UPDATE_TEXT, guide.CHECKOUT_TEXT, guide.ORDER_PLACED_TEXT, guide.FULFILLMENT_TEXT):
        assert httpx.post(root + "/sandbox/orders", content=text, headers=headers).status_code == 200
    httpx.post(root + "/sandbox/orders", content=guide.CANCELLATION_TEXT, headers=headers)  # declined: shipped
    orphan = {
        "cart_id": "cart-456",
        "user_session_id": "s-2",
        "cart_currency": "eur",
        "line_items": [{"id": "l-1", "quantity": 1, "price_amount": 1200, "product_id": "pl-prd-hakuna"}],
    }
    assert httpx.post(target.base_url + "/carts", json=orphan, headers=headers).status_code == 200


def test_dashboard_shows_report_carts_orders_and_requests(hakuna_sim: Target, page) -> None:  # type: ignore[no-untyped-def]
    guide_flow(hakuna_sim)
    root = hakuna_sim.base_url.removesuffix("/sandbox")
    page.goto(root + "/__sim/")
    page.fill("input[name=key]", "not-a-key")
    page.click("button[type=submit]")
    assert "malformed API key" in page.inner_text("main")
    page.fill("input[name=key]", hakuna_sim.api_key)
    page.click("button[type=submit]")

    report = page.inner_text("#report")
    assert "auth-bearer-header" in report and "guide-orders-url" in report and "refused-request" in report
    assert "cancel_decline" in report
    carts = page.inner_text("#carts")
    assert "cart-123" in carts and "checked out as ord-123" in carts and "line-item-id-3322" in carts
    orders = page.inner_text("#orders")
    assert "ord-123" in orders and "active" in orders and "2022-02-21T12:51:14.158Z" in orders
    assert "remove_line_item l-1 (it has no custom_properties.product_reference)" in carts
    assert page.locator("#journal tr").count() == 8  # a header row and seven requests
    if os.environ.get("HAKUNA_SIM_SCREENSHOT"):
        page.screenshot(path=os.environ["HAKUNA_SIM_SCREENSHOT"], full_page=True)

    page.click("#report tr:has-text('refused-request') a")
    detail = page.inner_text("main")
    assert "POST /sandbox/orders" in detail and "400" in detail and "order_cancelled" in detail
    assert "cancel_decline" in detail and hakuna_sim.api_key not in detail  # the key is masked
    assert "Findings that cite this request" in detail
    page.click("main li a:has-text('refused-request')")  # back to the finding that cites it
    fragment = page.url.split("#", 1)[1]
    assert fragment.startswith("finding-") and "refused-request" in page.inner_text(f"#{fragment}")

    page.goto(root + "/__sim/")
    page.click("text=Change key")
    assert page.locator("input[name=key]").count() == 1


def test_a_login_link_from_the_command_line_logs_its_key_in_once(hakuna_sim: Target, page) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    guide_flow(hakuna_sim)
    root = hakuna_sim.base_url.removesuffix("/sandbox")
    printed = subprocess.run(
        [sys.executable, "-m", "simulator", "dashboard", "--base-url", root, "--api-key", hakuna_sim.api_key, "--no-open"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip().rsplit(" ", 1)[1]
    assert link.startswith(root + "/__sim/login/") and hakuna_sim.api_key not in link
    page.goto(link)
    assert "auth-bearer-header" in page.inner_text("#report")
    page.context.clear_cookies()
    page.goto(link)  # spent
    assert "used already or has expired" in page.inner_text("main")
