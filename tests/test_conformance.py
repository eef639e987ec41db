"""The journal, the conformance report and the /__sim set-up routes."""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from contract_tests import guide
from tests.conftest import AUTH, cart, error_of, fulfilled, line, look_up, placed, post


def report(client: TestClient) -> dict[str, Any]:
    response = client.get("/__sim/report", headers=AUTH)
    assert response.status_code == 200
    return response.json()


def rules(client: TestClient) -> set[str]:
    return {f["rule_id"] for f in report(client)["findings"]}


def test_journal_records_requests_and_answers_with_the_key_masked(client: TestClient) -> None:
    look_up(client)
    post(client, "/sandbox/carts", {"cart_id": ""})
    journal = client.get("/__sim/journal", headers=AUTH).json()
    assert journal["limit"] == 10000 and journal["dropped"] == 0
    first, second = journal["entries"]
    assert (first["method"], first["path"], first["status"]) == ("GET", "/sandbox/plans", 200)
    assert first["response"] == guide.PLAN_RESPONSE and "product_id=prd-iphone14" in first["query"]
    assert "unittests01" not in json.dumps(journal) and first["headers"]["authorization"].startswith("Bearer sk_test_")
    assert second["status"] == 400 and second["body"] == {"cart_id": ""}
    assert second["response"]["error"]["error_code"] == "invalid_request_parameters"
    assert first["request_id"] != second["request_id"] and first["duration_ms"] >= 0


def test_journal_filters(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")], cart_id="c-1"))
    post(client, "/sandbox/carts", cart([line("p", "prd-bb-32")], cart_id="c-2"))
    post(client, "/sandbox/events", placed("o-1", [line("p", "prd-bb-32")], cart_id="c-1"))
    client.get("/sandbox/orders/o-1", headers=AUTH)
    get = lambda **q: [e["request_id"] for e in client.get("/__sim/journal", params=q, headers=AUTH).json()["entries"]]  # noqa: E731
    assert len(get(cart_id="c-1")) == 2 and len(get(cart_id="c-2")) == 1
    assert len(get(order_id="o-1")) == 2 and len(get(path="/sandbox/carts")) == 2
    assert len(get(path="/sandbox/*")) == 4 and len(get(status=200)) == 4 and get(status=404) == []
    assert client.get("/__sim/journal", params={"status": "ok"}, headers=AUTH).status_code == 400


def test_journal_keeps_the_newest_entries_and_says_how_many_it_dropped() -> None:
    from simulator.journal import Journal
    journal = Journal(limit=3)
    for i in range(5):
        journal.record(f"r{i}", 0.0, "GET", "/sandbox/plans", "", {}, b"", 200, b"{}", 0.1, (), False)
    assert [e.request_id for e in journal.records()] == ["r2", "r3", "r4"] and journal.dropped == 2


def test_a_fresh_key_has_an_empty_report(client: TestClient) -> None:
    body = report(client)
    assert body == {"summary": {"errors": 0, "warnings": 0, "rules_checked": 13, "journal_dropped": 0},
                    "findings": []}


def test_the_guides_own_requests_raise_its_quirks(client: TestClient) -> None:
    client.get("/sandbox/plans", params=guide.PLAN_QUERY, headers={"Bearer": guide.API_KEY})
    client.post("/sandbox/orders", content=guide.CART_UPDATE_TEXT, headers=guide.GUIDE_HEADERS)
    found = {f["rule_id"]: f for f in client.get("/__sim/report", headers={"Bearer": guide.API_KEY}).json()["findings"]}
    assert {"auth-bearer-header", "guide-orders-url", "missing-hakuna-version"} <= set(found)
    assert all(f["severity"] == "warning" for k, f in found.items() if k != "plan-not-offered")
    # The guide's cart carries its plan at 2000 while the look-up offered it at 1200.
    assert "at 2000" in found["plan-not-offered"]["message"] and "pl-prd-hakuna at 1200" in found["plan-not-offered"]["message"]


def test_findings_name_their_requests_and_junit_has_a_case_per_rule(client: TestClient) -> None:
    response = post(client, "/sandbox/events", fulfilled("o-404", ("p", 1)))
    body = report(client)
    [finding] = body["findings"]
    assert finding["rule_id"] == "refused-request" and finding["severity"] == "error"
    assert finding["request_ids"] == [response.headers["X-Request-Id"]]
    assert "entity_not_found" in finding["message"]
    xml = client.get("/__sim/report", params={"format": "junit"}, headers=AUTH)
    assert xml.headers["content-type"].startswith("application/xml")
    assert xml.text.count("<testcase ") == 13 and xml.text.count("<failure ") == 1


def test_reset_clears_traffic_and_keeps_settings(client: TestClient) -> None:
    post(client, "/sandbox/events", fulfilled("o-404", ("p", 1)))
    client.put("/__sim/settings", json={"refund_windows": {"plan_alone_days": 1, "with_product_months": 1}},
               headers=AUTH)
    assert client.post("/__sim/reset", headers=AUTH).status_code == 200
    assert report(client)["findings"] == [] and client.get("/__sim/journal", headers=AUTH).json()["entries"] == []
    assert client.get("/__sim/settings", headers=AUTH).json()["refund_windows"]["plan_alone_days"] == 1


def test_put_catalog_replaces_this_keys_catalog_only(client: TestClient) -> None:
    catalog = {"plans": [{"merchant_product_id": "pl-garden", "title": {"en": "Garden cover"},
                          "insurance_details_url": "https://example.com/garden", "currency": "eur",
                          "term_months": 24, "categories": ["garden"],
                          "price_bands": [{"min_price_amount": 0, "plan_price_amount": 500}]}]}
    response = client.put("/__sim/catalog", json=catalog, headers=AUTH)
    assert response.status_code == 200 and response.json() == {**catalog, "products": []}
    plans = look_up(client, product_id="mower", product_category="garden", product_price_amount=30000).json()["plans"]
    assert [p["merchant_product_id"] for p in plans] == ["pl-garden"]
    assert look_up(client).json()["plans"] == []
    other = {"Authorization": "Bearer sk_test_othercatalog"}
    assert client.get("/sandbox/plans", params=guide.PLAN_QUERY, headers=other).json() == guide.PLAN_RESPONSE


def test_put_catalog_refuses_a_broken_one_and_keeps_the_old(client: TestClient) -> None:
    response = client.put("/__sim/catalog", json={"plans": [{"merchant_product_id": ""}]}, headers=AUTH)
    assert response.status_code == 400
    assert "plans[0].merchant_product_id must be a non-empty string" in error_of(response)[1]
    assert look_up(client).json() == guide.PLAN_RESPONSE
    default = client.get("/__sim/catalog", headers=AUTH).json()
    assert len(default["plans"]) == 13 and default["products"][0]["id"] == "prd-iphone14"


def test_one_mistake_repeated_is_one_finding_naming_every_request(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14", 2), line("x", "pl-prd-hakuna", reference="prd-iphone14")]))
    checkout = {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"}
    ids = [post(client, "/sandbox/checkouts", checkout).headers["X-Request-Id"] for _ in range(2)]
    found = report(client)["findings"]
    pending = [f for f in found if f["rule_id"] == "pending-cart-actions"]
    assert len(pending) == 1 and set(ids) <= set(pending[0]["request_ids"])
    assert len([f for f in found if f["rule_id"] == "checkout-without-order"]) == 1
    assert report(client)["summary"]["errors"] == len([f for f in found if f["severity"] == "error"])
