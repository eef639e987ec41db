"""The dashboard's pages as HTML (the browser test is tests/web/test_dashboard.py): every
value escaped, whatever a request carried, and the pages' security headers."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import AUTH, post


def logged_in(client: TestClient) -> None:
    client.get(client.post("/__sim/login-links", headers=AUTH).json()["url"])


def test_what_a_request_carried_is_escaped_on_every_page(client: TestClient) -> None:
    hostile = "<script>alert(1)</script>"
    body = {"cart_id": hostile, "user_session_id": hostile, "cart_currency": "eur", "line_items": []}
    missing = post(client, "/sandbox/carts", body, {"User-Agent": hostile})
    assert missing.status_code == 200
    logged_in(client)
    page = client.get("/__sim/")
    assert page.status_code == 200 and hostile not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text  # the cart's id, shown as text
    detail = client.get(f"/__sim/requests/{missing.headers['x-request-id']}")
    assert detail.status_code == 200 and hostile not in detail.text and "&lt;script&gt;" in detail.text


def test_the_pages_run_no_script_and_no_other_site_frames_them(client: TestClient) -> None:
    logged_in(client)
    for path in ("/__sim/", "/__sim/requests/req-none"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "No such request" in client.get("/__sim/requests/req-none").text
