"""The journal, the conformance report and the /__sim set-up routes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from contract_tests import guide
from simulator.domain.timefmt import format_epoch, format_timestamp
from simulator.report.readiness import ITEMS
from simulator.report.rules import RULES
from simulator.state.journal import Journal
from tests.conftest import AUTH, cart, error_of, fulfilled, line, look_up, placed, post, refunded


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


@settings(max_examples=500, deadline=None)
@given(
    seconds=st.one_of(
        st.floats(-62_135_596_800 + 86_400, 253_402_300_799 - 86_400),
        st.integers(0, 2_000_000_000).map(lambda s: s + 0.9999995),
        st.integers(0, 2_000_000_000).map(lambda s: s + 0.0005),
    )
)
def test_journal_times_read_as_the_datetime_they_stand_for(seconds: float) -> None:
    assert format_epoch(seconds) == format_timestamp(datetime.fromtimestamp(seconds, UTC))


def test_a_journal_entry_renders_alike_whole_and_in_bytes() -> None:
    journal = Journal()
    for i in range(3):
        journal.record(
            f"r{i}",
            1_700_000_000.25 + i / 3,
            "POST",
            "/sandbox/carts",
            "x=1",
            {"authorization": "Bearer sk_test_abcdefgh12345", "hakuna-version": "v2.0"},
            b'{"cart_id": "c"}' if i else b"not json",
            200 if i else 400,
            b'{"ok": true}',
            0.5,
            ("no_version",) if i else (),
            False,
        )
    for record in journal.records():
        assert json.loads(record.as_json()) == json.loads(json.dumps(record.as_body()))
        assert record.as_body()["headers"]["authorization"] == "Bearer sk_test_…2345"


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
    from simulator.state.journal import Journal

    journal = Journal(limit=3)
    for i in range(5):
        journal.record(f"r{i}", 0.0, "GET", "/sandbox/plans", "", {}, b"", 200, b"{}", 0.1, (), False)
    assert [e.request_id for e in journal.records()] == ["r2", "r3", "r4"] and journal.dropped == 2


def test_a_fresh_key_has_an_empty_report(client: TestClient) -> None:
    body = report(client)
    assert body["readiness"]["ready"] is False  # tests/report/test_readiness.py
    assert {k: v for k, v in body.items() if k != "readiness"} == {
        "summary": {
            "errors": 0,
            "warnings": 0,
            "rules_checked": len(RULES),
            "journal_dropped": 0,
            "parity_differences": 0,
            "ready": False,
        },
        "findings": [],
        "parity": [],
    }


def test_the_guides_own_flow_raises_its_quirks_and_its_plan_price(client: TestClient) -> None:
    bearer = {"Bearer": guide.API_KEY}
    assert client.get("/sandbox/plans", params=guide.PLAN_QUERY, headers=bearer).status_code == 200
    for text in (guide.CART_UPDATE_TEXT, guide.CHECKOUT_TEXT, guide.ORDER_PLACED_TEXT, guide.FULFILLMENT_TEXT, guide.REFUND_TEXT):
        assert client.post("/sandbox/orders", content=text, headers=guide.GUIDE_HEADERS).status_code == 200
    found = {f["rule_id"]: f for f in client.get("/__sim/report", headers=bearer).json()["findings"]}
    assert set(found) == {"auth-bearer-header", "guide-orders-url", "missing-hakuna-version", "plan-mispriced"}
    # Only the three events were posted where the docs publish another URL.
    assert len(found["guide-orders-url"]["request_ids"]) == 3
    assert "Hakuna-Version: v2.0" in found["missing-hakuna-version"]["message"]
    # The guide's cart carries its plan at 2000, where Hakuna prices it at 1200.
    assert found["plan-mispriced"]["message"] == (
        "cart 'cart-123' plan line 'line-item-id-3322' ('pl-prd-hakuna') costs 2000 eur, but Hakuna prices it at 1200 "
        "eur for 'prd-iphone14' (its list price 112900 eur falls in that band): carry the price the plan look-up "
        "answers, never discounted"
    )


def test_findings_name_their_requests_and_junit_has_a_case_per_rule(client: TestClient) -> None:
    response = post(client, "/sandbox/events", fulfilled("o-404", ("p", 1)))
    body = report(client)
    [finding] = body["findings"]
    assert finding["rule_id"] == "refused-request" and finding["severity"] == "error"
    assert finding["request_ids"] == [response.headers["X-Request-Id"]]
    assert "entity_not_found (a refusal the real API documents)" in finding["message"]
    xml = client.get("/__sim/report", params={"format": "junit"}, headers=AUTH)
    assert xml.headers["content-type"].startswith("application/xml")
    assert xml.text.count("<testcase ") == len(RULES) + len(ITEMS) and xml.text.count("<failure ") == 1


def test_the_junit_reports_of_two_keys_merged_keep_their_suites_and_cases_apart(client: TestClient) -> None:
    other = {"Authorization": "Bearer sk_test_anotherkey99", "Hakuna-Version": "v2.0"}
    first = ElementTree.fromstring(client.get("/__sim/report", params={"format": "junit"}, headers=AUTH).content)
    second = ElementTree.fromstring(client.get("/__sim/report", params={"format": "junit"}, headers=other).content)
    assert first.get("name") != second.get("name")
    cases = {(c.get("classname"), c.get("name")) for suite in (first, second) for c in suite.findall("testcase")}
    assert len(cases) == 2 * (len(RULES) + len(ITEMS))
    assert "unittests01" not in first.get("name", "") + str(cases)  # the key itself is not shown


def test_the_report_refuses_an_unknown_format_or_threshold(client: TestClient) -> None:
    for params in ({"format": "xml"}, {"format": "junit", "fail_on": "info"}):
        response = client.get("/__sim/report", params=params, headers=AUTH)
        assert response.status_code == 400 and error_of(response)[0] == "invalid_request_parameters"


def test_reset_clears_traffic_and_keeps_settings(client: TestClient) -> None:
    post(client, "/sandbox/events", fulfilled("o-404", ("p", 1)))
    client.put("/__sim/settings", json={"refund_windows": {"plan_alone_days": 1, "with_product_months": 1}}, headers=AUTH)
    assert client.post("/__sim/reset", headers=AUTH).status_code == 200
    assert report(client)["findings"] == [] and client.get("/__sim/journal", headers=AUTH).json()["entries"] == []
    assert client.get("/__sim/settings", headers=AUTH).json()["refund_windows"]["plan_alone_days"] == 1


def test_put_catalog_replaces_this_keys_catalog_only(client: TestClient) -> None:
    catalog = {
        "plans": [
            {
                "merchant_product_id": "pl-garden",
                "title": {"en": "Garden cover"},
                "insurance_details_url": "https://example.com/garden",
                "currency": "eur",
                "countries": ["de"],
                "term_months": 24,
                "categories": ["garden"],
                "price_bands": [{"min_price_amount": 0, "plan_price_amount": 500}],
            }
        ]
    }
    response = client.put("/__sim/catalog", json=catalog, headers=AUTH)
    assert response.status_code == 200 and response.json() == {**catalog, "products": []}
    plans = look_up(client, product_id="mower", product_category="garden", product_price_amount=30000).json()["plans"]
    assert [p["merchant_product_id"] for p in plans] == ["pl-garden"]
    assert error_of(look_up(client))[0] == "product_unsupported"
    other = {"Authorization": "Bearer sk_test_othercatalog"}
    assert client.get("/sandbox/plans", params=guide.PLAN_QUERY, headers=other).json() == guide.PLAN_RESPONSE


def test_put_catalog_refuses_a_broken_one_and_keeps_the_old(client: TestClient) -> None:
    response = client.put("/__sim/catalog", json={"plans": [{"merchant_product_id": ""}]}, headers=AUTH)
    assert response.status_code == 400
    assert "plans[0].merchant_product_id must be a non-empty string without control characters" in error_of(response)[1]
    assert look_up(client).json() == guide.PLAN_RESPONSE
    default = client.get("/__sim/catalog", headers=AUTH).json()
    assert len(default["plans"]) == 13 and default["products"][0]["id"] == "prd-iphone14"
    assert default["plans"][0]["countries"] == ["de", "at"]


def test_one_mistake_repeated_is_one_finding_naming_every_request(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14", 2), line("x", "pl-prd-hakuna", reference="prd-iphone14")]))
    checkout = {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"}
    ids = [post(client, "/sandbox/checkouts", checkout).headers["X-Request-Id"] for _ in range(2)]
    found = report(client)["findings"]
    pending = [f for f in found if f["rule_id"] == "pending-cart-actions"]
    assert len(pending) == 1 and set(ids) <= set(pending[0]["request_ids"])
    assert len([f for f in found if f["rule_id"] == "checkout-without-order"]) == 1
    assert report(client)["summary"]["errors"] == len([f for f in found if f["severity"] == "error"])


def findings_of(client: TestClient, rule_id: str) -> list[dict[str, Any]]:
    return [f for f in report(client)["findings"] if f["rule_id"] == rule_id]


def test_a_finding_that_follows_a_refusal_names_it(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([line("p", "prd-iphone14"), line("x", "pl-prd-hakuna", reference="prd-iphone14")]))
    post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"})
    us = placed("o-1", [line("p", "prd-iphone14"), line("x", "pl-prd-hakuna")], cart_id="cart-1")
    us["payload"]["customer_billing_address"]["country"] = "us"
    refused = post(client, "/sandbox/events", us)
    assert error_of(refused)[0] == "location_unsupported"
    [finding] = findings_of(client, "checkout-without-order")
    assert f"refused with location_unsupported in request {refused.headers['X-Request-Id']}" in finding["message"]
    assert refused.headers["X-Request-Id"] in finding["request_ids"]


def test_an_order_naming_a_cart_this_key_never_sent_is_reported(client: TestClient) -> None:
    placed_response = post(
        client,
        "/sandbox/events",
        placed("o-1", [line("p", "prd-iphone14"), line("x", "pl-prd-hakuna", reference="prd-iphone14")], cart_id="cart-x"),
    )
    assert placed_response.status_code == 200
    [finding] = findings_of(client, "order-without-checkout")
    assert finding["message"] == (
        "order 'o-1' was placed with cart_id 'cart-x', but no cart of that id was ever sent by this key, so its "
        "plans connected through product_reference: send the cart update and its checkout (both POST "
        "/sandbox/orders, the guide's URL) before the order"
    )


def test_refund_guidance_asks_only_for_what_can_still_be_refunded(client: TestClient) -> None:
    phone = [line("p", "prd-iphone14", 2), line("x", "pl-prd-hakuna", 2, 1200, reference="prd-iphone14")]
    post(client, "/sandbox/events", placed("o-1", phone))
    post(client, "/sandbox/events", fulfilled("o-1", ("p", 2), at="2024-01-12T10:00:00Z"))
    # One phone back within the window, without its plan: reported, with the deadline.
    post(client, "/sandbox/events", refunded("o-1", ("p", 1), at="2024-02-01T10:00:00Z"))
    [finding] = findings_of(client, "product-refunded-without-plan")
    assert finding["message"] == (
        "order 'o-1': product line 'p' was refunded 1 unit(s) but 1 of its protections (plan line(s) 'x') were "
        "not: refund 1 unit(s) of the plan with the product they protect (possible until 2024-04-12T10:00:00.000Z)"
    )
    post(client, "/sandbox/events", refunded("o-1", ("x", 1), at="2024-02-01T10:00:00Z"))
    assert findings_of(client, "product-refunded-without-plan") == []
    # The other phone comes back after the window: its plan cannot be refunded, so nothing is asked.
    post(client, "/sandbox/events", refunded("o-1", ("p", 1), at="2024-06-01T10:00:00Z"))
    assert findings_of(client, "product-refunded-without-plan") == []
    late = post(client, "/sandbox/events", refunded("o-1", ("x", 1), at="2024-06-01T10:00:00Z"))
    assert error_of(late)[0] == "refund_window_expired"


@pytest.mark.parametrize(
    "second_key, expected",
    [
        (None, "without a Hakuna-Idempotency-Key"),
        ("key-2", "with a new Hakuna-Idempotency-Key"),
        ("key-1", None),
    ],
)
def test_a_retry_is_judged_whatever_its_key(client: TestClient, second_key: str | None, expected: str | None) -> None:
    client.put("/__sim/faults", json={"faults": [{"route": "/sandbox/carts", "status": 503, "count": 1}]}, headers=AUTH)
    body = cart([line("p", "prd-iphone14")])
    assert post(client, "/sandbox/carts", body, headers={"Hakuna-Idempotency-Key": "key-1"}).status_code == 503
    again = {"Hakuna-Idempotency-Key": second_key} if second_key else {}
    assert post(client, "/sandbox/carts", body, headers=again).status_code == 200
    found = findings_of(client, "retry-without-idempotency-key")
    if expected is None:
        assert found == []
    else:
        [finding] = found
        assert f"after a 503 answer, {expected}" in finding["message"]


def test_refused_codes_say_whose_rule_they_are(client: TestClient) -> None:
    post(client, "/sandbox/events", placed("o-1", [line("p", "prd-iphone14")]))
    post(client, "/sandbox/events", placed("o-1", [line("p", "prd-iphone14")]))  # order_already_exists
    [finding] = findings_of(client, "refused-request")
    assert "order_already_exists (the simulator's own rule where the docs are silent)" in finding["message"]
    assert "real API" not in finding["message"]


# -- timelines (docs/fidelity.md, the report's rules) ----------------------------------------


def _placed_with_plan(client: TestClient, placed_at: str = "2022-02-20T00:00:00Z") -> None:
    lines = [line("phone", "prd-iphone14", price=112900), line("plan", "pl-prd-hakuna", price=1200, reference="prd-iphone14")]
    assert post(client, "/sandbox/events", placed("o-1", lines, placed_at=placed_at)).status_code == 200


def test_a_fulfilment_dated_before_its_order_is_accepted_and_named_a_time_zone_mix_up(client: TestClient) -> None:
    _placed_with_plan(client)
    # A shop that labels Berlin wall-clock time with Z: 90 minutes before placed_at.
    response = post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), at="2022-02-19T22:30:00Z"))
    assert response.status_code == 200
    [finding] = [f for f in report(client)["findings"] if f["rule_id"] == "event-before-order-placed"]
    assert finding["severity"] == "error" and finding["request_ids"] == [response.headers["X-Request-Id"]]
    assert (
        "order_fulfillment_added is dated 2022-02-19T22:30:00Z, 90 minute(s) before the order was placed" in (finding["message"])
    )
    assert "protections start then" in finding["message"] and "time-zone mix-up" in finding["message"]


@pytest.mark.parametrize(
    "event",
    [
        refunded("o-1", ("plan", 1), at="2022-02-19T23:00:00Z"),
        {"type": "order_cancelled", "payload": {"order_id": "o-1", "cancelled_at": "2022-02-18T00:00:00+00:00"}},
    ],
    ids=["refund", "cancellation"],
)
def test_a_refund_or_cancellation_dated_before_its_order_is_reported(client: TestClient, event: dict[str, Any]) -> None:
    _placed_with_plan(client)
    assert post(client, "/sandbox/events", event).status_code == 200
    [finding] = [f for f in report(client)["findings"] if f["rule_id"] == "event-before-order-placed"]
    assert f"{event['type']} is dated" in finding["message"]


def test_events_dated_after_their_order_are_not_reported(client: TestClient) -> None:
    _placed_with_plan(client, placed_at="2022-02-20T00:00:00+01:00")  # 23:00 UTC the day before
    assert post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), at="2022-02-19T23:30:00Z")).status_code == 200
    assert "event-before-order-placed" not in rules(client)


@pytest.mark.parametrize("reference, severity", [(None, "error"), ("prd-iphone14", "warning")])
def test_an_order_that_arrives_before_its_checkout_is_reported(client: TestClient, reference: str | None, severity: str) -> None:
    lines = [line("phone", "prd-iphone14", price=112900), line("plan", "pl-prd-hakuna", price=1200, reference="prd-iphone14")]
    assert post(client, "/sandbox/carts", cart(lines)).json()["actions"] == []
    order_lines = [lines[0], line("plan", "pl-prd-hakuna", price=1200, reference=reference)]
    early = post(client, "/sandbox/events", placed("o-1", order_lines, cart_id="cart-1"))  # the ERP's queue first
    assert early.status_code == 200
    late = post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"})
    assert late.status_code == 200
    [finding] = [f for f in report(client)["findings"] if f["rule_id"] == "order-before-checkout"]
    assert finding["severity"] == severity
    assert finding["request_ids"] == [early.headers["X-Request-Id"], late.headers["X-Request-Id"]]
    assert "before that cart's checkout came" in finding["message"]
    assert ("may stay unconnected" in finding["message"]) == (reference is None)


def test_an_order_placed_after_its_checkout_is_not_reported(client: TestClient) -> None:
    lines = [line("phone", "prd-iphone14", price=112900)]
    assert post(client, "/sandbox/carts", cart(lines)).status_code == 200
    assert (
        post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"}).status_code
        == 200
    )
    assert post(client, "/sandbox/events", placed("o-1", lines, cart_id="cart-1")).status_code == 200
    assert "order-before-checkout" not in rules(client)
