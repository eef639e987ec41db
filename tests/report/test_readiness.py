"""Go-live readiness: what an integration exercised, what it did wrong on the way, and
how to exercise the rest here (simulator/report/readiness.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from starlette.testclient import TestClient

from simulator.report.readiness import ITEMS
from tests.conftest import AUTH, cart, error_of, fulfilled, line, look_up, placed, post, refunded
from tests.serving import serving

ROOT = Path(__file__).resolve().parents[2]
PHONE = line("phone", "prd-iphone14", price=112900)
PLAN = line("plan", "pl-prd-hakuna", price=1200, reference="prd-iphone14")


def readiness(client: TestClient, **query: str) -> dict[str, Any]:
    response = client.get("/__sim/report", params=query, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["readiness"]
    return body


def item(client: TestClient, item_id: str, **query: str) -> dict[str, Any]:
    return next(i for i in readiness(client, **query)["items"] if i["id"] == item_id)


def status(client: TestClient, item_id: str) -> str:
    return str(item(client, item_id)["status"])


def test_a_fresh_key_exercised_nothing_and_is_not_ready(client: TestClient) -> None:
    ready = readiness(client)
    assert ready["ready"] is False and ready["integration"] == "storefront-and-erp"
    assert [i["id"] for i in ready["items"]] == [i.id for i in ITEMS]
    assert {i["status"] for i in ready["items"]} == {"not_exercised"}
    assert ready["missing"] == [i["id"] for i in ready["items"] if i["required"]]
    for i in ready["items"]:
        assert i["how"]["text"] and i["how"]["steps"] and i["source"] and i["request_ids"] == []
    report = client.get("/__sim/report", headers=AUTH).json()
    assert report["summary"]["ready"] is False


@pytest.mark.integration  # a served process
def test_every_items_how_followed_literally_against_a_served_simulator_passes_it(tmp_path: Path) -> None:
    with serving(tmp_path) as base:
        for n, wanted in enumerate(ITEMS):
            headers = {"Authorization": f"Bearer sk_test_readiness{n:04d}", "Hakuna-Version": "v2.0"}
            before = httpx.get(base + "/__sim/report", headers=headers).json()["readiness"]
            (how,) = [i["how"] for i in before["items"] if i["id"] == wanted.id]
            for step in how["steps"]:
                if "wait_seconds" in step:
                    time.sleep(step["wait_seconds"])
                    continue
                answer = httpx.request(
                    step["method"], base + step["path"], json=step.get("body"), headers={**headers, **step.get("headers", {})}
                )
                assert answer.status_code == step["expect"], (wanted.id, step, answer.text)
            after = httpx.get(base + "/__sim/report", headers=headers).json()
            (done,) = [i for i in after["readiness"]["items"] if i["id"] == wanted.id]
            assert done["status"] == "passed" and done["request_ids"], (wanted.id, done)
            assert after["findings"] == [], (wanted.id, after["findings"])


# -- done wrong: failed, citing the requests -----------------------------------------------


def test_an_update_action_ignored_fails_the_item_citing_both_updates(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([{**PHONE, "quantity": 2}, {**PLAN, "quantity": 2}]))
    asked = post(client, "/sandbox/carts", cart([PHONE, {**PLAN, "quantity": 2}]))
    assert asked.json()["actions"][0]["type"] == "update_line_item"
    again = post(client, "/sandbox/carts", cart([PHONE, {**PLAN, "quantity": 2}]))
    found = item(client, "cart-update-action")
    assert found["status"] == "failed"
    assert found["findings"][0]["request_ids"] == [asked.headers["x-request-id"], again.headers["x-request-id"]]
    post(client, "/sandbox/carts", cart([PHONE, PLAN]))  # carried out at last: still failed, the mistake stays
    assert status(client, "cart-update-action") == "failed"


def test_an_update_action_carried_out_passes(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([{**PHONE, "quantity": 2}, {**PLAN, "quantity": 2}]))
    post(client, "/sandbox/carts", cart([PHONE, {**PLAN, "quantity": 2}]))
    assert status(client, "cart-update-action") == "not_exercised"  # asked, not carried out yet
    post(client, "/sandbox/carts", cart([PHONE, PLAN]))
    assert status(client, "cart-update-action") == "passed"


def test_a_checkout_with_a_remove_action_pending_fails_the_item(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([PHONE, PLAN]))
    asked = post(client, "/sandbox/carts", cart([PLAN]))
    assert asked.json()["actions"][0]["type"] == "remove_line_item"
    checkout = post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "o-1"})
    found = item(client, "cart-remove-action")
    assert found["status"] == "failed"
    assert checkout.headers["x-request-id"] in found["findings"][0]["request_ids"]
    assert status(client, "checkout") == "failed"  # and the checkout was never ordered


def test_a_plan_offered_for_an_unsupported_product_fails_the_item(client: TestClient) -> None:
    told = look_up(client, product_id="prd-bb-32", product_category="accessories", product_price_amount="1200")
    assert error_of(told)[0] == "product_unsupported"
    offered = post(
        client, "/sandbox/carts", cart([line("case", "prd-bb-32"), line("plan", "pl-prd-hakuna", reference="prd-bb-32")])
    )
    found = item(client, "product-unsupported")
    assert found["status"] == "failed"
    assert found["findings"][0]["request_ids"] == [told.headers["x-request-id"], offered.headers["x-request-id"]]


def order_with_plan(client: TestClient, order_id: str = "o-1") -> None:
    assert post(client, "/sandbox/events", placed(order_id, [PHONE, PLAN])).status_code == 200


def test_a_product_refunded_without_its_plan_fails_refund_with_plan(client: TestClient) -> None:
    order_with_plan(client)
    post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), ("plan", 1)))
    alone = post(client, "/sandbox/events", refunded("o-1", ("phone", 1)))
    found = item(client, "refund-with-plan")
    assert found["status"] == "failed" and found["findings"][0]["rule_id"] == "product-refunded-without-plan"
    assert alone.headers["x-request-id"] in found["findings"][0]["request_ids"]


def test_refunds_with_and_without_the_product(client: TestClient) -> None:
    order_with_plan(client)
    post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), ("plan", 1)))
    post(client, "/sandbox/events", refunded("o-1", ("plan", 1)))
    assert (status(client, "plan-refund-alone"), status(client, "refund-with-plan")) == ("passed", "not_exercised")
    order_with_plan(client, "o-2")
    post(client, "/sandbox/events", fulfilled("o-2", ("phone", 1), ("plan", 1)))
    post(client, "/sandbox/events", refunded("o-2", ("phone", 1), ("plan", 1)))
    assert status(client, "refund-with-plan") == "passed"
    assert status(client, "fulfilment") == "passed"


def test_a_declined_second_cancellation_is_an_answer_to_handle_not_a_mistake(client: TestClient) -> None:
    order_with_plan(client)
    cancel = {"type": "order_cancelled", "payload": {"order_id": "o-1", "cancelled_at": "2024-01-11T10:00:00Z"}}
    post(client, "/sandbox/events", cancel)
    again = post(client, "/sandbox/events", cancel, {"Hakuna-Idempotency-Key": "another"})
    assert error_of(again)[0] == "cancel_decline"  # already cancelled
    assert status(client, "cancellation") == "passed"


def test_a_cancellation_after_shipping_fails_the_item(client: TestClient) -> None:
    order_with_plan(client)
    post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), ("plan", 1)))
    declined = post(
        client,
        "/sandbox/events",
        {"type": "order_cancelled", "payload": {"order_id": "o-1", "cancelled_at": "2024-01-13T10:00:00Z"}},
    )
    assert error_of(declined)[0] == "cancel_decline"
    found = item(client, "cancellation")
    assert found["status"] == "failed" and found["findings"][0]["request_ids"] == [declined.headers["x-request-id"]]


def test_a_retry_with_a_new_key_after_a_5xx_fails_retry_same_key(client: TestClient) -> None:
    faults = {"faults": [{"route": "/sandbox/events", "status": 503, "count": 1, "when": "after"}]}
    assert client.put("/__sim/faults", json=faults, headers=AUTH).status_code == 200
    body = placed("o-1", [PHONE, PLAN])
    lost = post(client, "/sandbox/events", body, {"Hakuna-Idempotency-Key": "k-1"})
    assert lost.status_code == 503
    retried = post(client, "/sandbox/events", body, {"Hakuna-Idempotency-Key": "k-2"})
    found = item(client, "retry-same-key")
    assert found["status"] == "failed" and found["findings"][0]["rule_id"] == "retry-without-idempotency-key"
    assert retried.headers["x-request-id"] in found["findings"][0]["request_ids"]


def test_a_retry_with_the_same_key_after_a_lost_answer_passes(client: TestClient) -> None:
    faults = {"faults": [{"route": "/sandbox/events", "status": 503, "count": 1, "when": "after"}]}
    client.put("/__sim/faults", json=faults, headers=AUTH)
    body = placed("o-1", [PHONE, PLAN])
    post(client, "/sandbox/events", body, {"Hakuna-Idempotency-Key": "k-1"})
    replay = post(client, "/sandbox/events", body, {"Hakuna-Idempotency-Key": "k-1"})
    assert replay.headers["idempotent-replayed"] == "true"
    assert item(client, "retry-same-key")["request_ids"][-1] == replay.headers["x-request-id"]
    assert status(client, "retry-same-key") == "passed"


def test_a_request_sent_again_before_its_retry_after_fails_rate_limited(client: TestClient) -> None:
    faults = {"faults": [{"route": "/sandbox/plans", "status": 429, "count": 2, "retry_after": 2}]}
    client.put("/__sim/faults", json=faults, headers=AUTH)
    first = look_up(client)
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    early = look_up(client)  # at once: the clock did not move
    found = item(client, "rate-limited")
    assert found["status"] == "failed" and "before its Retry-After of 2 s" in found["findings"][0]["message"]
    assert found["findings"][0]["request_ids"] == [first.headers["x-request-id"], early.headers["x-request-id"]]


def test_a_request_sent_again_after_its_retry_after_passes_rate_limited(client: TestClient) -> None:
    client.put(
        "/__sim/faults", json={"faults": [{"route": "/sandbox/plans", "status": 429, "count": 1, "retry_after": 1}]}, headers=AUTH
    )
    assert look_up(client).status_code == 429
    time.sleep(1)  # the journal's times are the server's wall clock
    assert look_up(client).status_code == 200
    assert status(client, "rate-limited") == "passed"


def test_a_request_without_hakuna_version_fails_headers(client: TestClient) -> None:
    look_up(client)
    assert status(client, "headers") == "passed"
    bare = client.get("/sandbox/orders/o-none", headers={"Authorization": AUTH["Authorization"]})
    found = item(client, "headers")
    assert found["status"] == "failed" and found["findings"][0]["rule_id"] == "missing-hakuna-version"
    assert bare.headers["x-request-id"] in found["findings"][0]["request_ids"]
    assert status(client, "plans-look-up") == "passed"  # the header finding fails `headers` alone


# -- integration paths, JUnit, the command line -----------------------------------------------


def erp_only_flow(client: TestClient) -> None:
    for n in (1, 2, 3):
        order_with_plan(client, f"o-{n}")
    client.get("/sandbox/orders/o-1/plan_connections", headers=AUTH)
    post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), ("plan", 1)))
    post(client, "/sandbox/events", refunded("o-1", ("phone", 1), ("plan", 1)))
    post(client, "/sandbox/events", fulfilled("o-2", ("phone", 1), ("plan", 1)))
    post(client, "/sandbox/events", refunded("o-2", ("plan", 1)))
    post(
        client,
        "/sandbox/events",
        {"type": "order_cancelled", "payload": {"order_id": "o-3", "cancelled_at": "2024-01-11T10:00:00Z"}},
    )
    faults = [
        {"route": "/sandbox/events", "status": 503, "count": 1, "when": "after"},
        {"route": "/sandbox/orders/*", "status": 429, "count": 1, "retry_after": 1},
    ]
    client.put("/__sim/faults", json={"faults": faults}, headers=AUTH)
    body = placed("o-4", [PHONE, PLAN])
    post(client, "/sandbox/events", body, {"Hakuna-Idempotency-Key": "k-4"})
    post(client, "/sandbox/events", body, {"Hakuna-Idempotency-Key": "k-4"})
    client.get("/sandbox/orders/o-4", headers=AUTH)
    time.sleep(1)
    client.get("/sandbox/orders/o-4", headers=AUTH)


def test_an_erp_only_integration_is_judged_on_the_erp_items(client: TestClient) -> None:
    erp_only_flow(client)
    assert readiness(client)["ready"] is False  # the storefront's items are missing
    erp = readiness(client, integration="erp-only")
    assert erp["ready"] is True and erp["missing"] == []
    by_id = {i["id"]: i for i in erp["items"]}
    assert not by_id["cart-update-action"]["required"] and by_id["cart-update-action"]["status"] == "not_exercised"
    assert all(i["status"] == "passed" for i in erp["items"] if i["part"] == "erp"), erp


def test_an_unknown_integration_or_flag_is_refused_in_the_error_shape(client: TestClient) -> None:
    look_up(client)
    answer = client.get("/__sim/report", params={"integration": "pos"}, headers=AUTH)
    assert answer.status_code == 400
    assert "storefront-and-erp or erp-only" in error_of(answer)[1][0]
    answer = client.get("/__sim/report", params={"format": "junit", "require_ready": "yes"}, headers=AUTH)
    assert answer.status_code == 400 and error_of(answer)[1] == ["query.require_ready must be true or false, not 'yes'"]
    assert status(client, "plans-look-up") == "passed"  # the refusals changed nothing, and judge nothing


def test_junit_has_a_case_per_item_failed_only_when_readiness_is_required(client: TestClient) -> None:
    look_up(client)
    relaxed = ElementTree.fromstring(client.get("/__sim/report", params={"format": "junit"}, headers=AUTH).text)
    cases = {c.get("name"): c for c in relaxed.iter("testcase") if ".readiness" in (c.get("classname") or "")}
    assert set(cases) == {i.id for i in ITEMS}
    assert relaxed.get("failures") == "0"
    assert cases["plans-look-up"].find("skipped") is None and cases["checkout"].find("skipped") is not None
    strict = ElementTree.fromstring(
        client.get("/__sim/report", params={"format": "junit", "require_ready": "true"}, headers=AUTH).text
    )
    failed = {c.get("name") for c in strict.iter("testcase") if c.find("failure") is not None}
    assert failed == set(readiness(client)["missing"]) and strict.get("failures") == str(len(failed))
    optional = next(c for c in strict.iter("testcase") if c.get("name") == "order-connections")
    assert optional.find("failure") is None and optional.find("skipped") is not None


@pytest.mark.integration  # a served process
def test_the_command_line_requires_readiness(tmp_path: Path) -> None:
    def report(key: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "simulator", "report", "--base-url", base, "--api-key", key, *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)

    with serving(tmp_path) as base:
        key = "sk_test_commandline01"
        httpx.get(
            base + "/sandbox/plans",
            params={
                "product_id": "prd-iphone14",
                "product_category": "smartphones",
                "product_price_amount": 112900,
                "product_price_currency": "eur",
                "user_session_id": "s",
            },
            headers={"Authorization": f"Bearer {key}", "Hakuna-Version": "v2.0"},
        )
        relaxed = report(key)
        assert relaxed.returncode == 0 and "NOT ready" in relaxed.stdout
        strict = report(key, "--require-ready", "--junit-xml", str(tmp_path / "junit.xml"))
        assert strict.returncode == 1
        assert "ok   plans-look-up" in strict.stdout and "---- cart-update-action" in strict.stdout
        assert "how: send a cart with a plan for each of 2 product units" in strict.stdout
        assert "POST /sandbox/carts" in strict.stdout  # the literal steps
        xml = ElementTree.parse(tmp_path / "junit.xml").getroot()
        assert int(xml.get("failures") or 0) == len([i for i in ITEMS if i.required]) - 2  # look-up and headers passed


@pytest.mark.parametrize("integration", ["storefront-and-erp", "erp-only"])
def test_the_dashboard_shows_the_checklist(client: TestClient, integration: str) -> None:
    look_up(client)
    login = client.post("/__sim/login-links", headers=AUTH).json()["url"]
    client.get(login)
    page = client.get("/__sim/", params={"integration": integration}).text
    assert f"Go-live readiness ({integration})" in page and 'id="ready-plans-look-up"' in page
    assert "How: send a cart with a plan" in page  # the storefront's items are optional, still shown


def test_a_plan_line_without_reference_fails_cart_connections(client: TestClient) -> None:
    post(client, "/sandbox/carts", cart([PHONE, line("plan", "pl-prd-hakuna", price=1200)]))
    found = item(client, "cart-connections")
    assert found["status"] == "failed"
    assert {f["rule_id"] for f in found["findings"]} >= {"plan-line-without-reference"}


def test_an_order_plan_priced_for_another_band_fails_order_placed(client: TestClient) -> None:
    look_up(client, product_id="prd-cheap", product_price_amount="20000")  # its plan costs 499
    order = post(
        client,
        "/sandbox/events",
        placed(
            "o-1", [line("phone", "prd-cheap", price=20000), line("plan", "pl-prd-hakuna", price=1200, reference="prd-cheap")]
        ),
    )
    found = item(client, "order-placed")
    assert found["status"] == "failed"
    assert any(order.headers["x-request-id"] in f["request_ids"] for f in found["findings"])


def test_a_plan_fulfilled_before_its_product_fails_fulfilment(client: TestClient) -> None:
    order_with_plan(client)
    early = post(client, "/sandbox/events", fulfilled("o-1", ("plan", 1)))
    found = item(client, "fulfilment")
    assert found["status"] == "failed" and found["findings"][0]["rule_id"] == "plan-fulfilled-before-product"
    assert early.headers["x-request-id"] in found["findings"][0]["request_ids"]


def test_a_plan_refund_dated_before_its_order_fails_plan_refund_alone(client: TestClient) -> None:
    order_with_plan(client)
    post(client, "/sandbox/events", fulfilled("o-1", ("phone", 1), ("plan", 1)))
    early = post(client, "/sandbox/events", refunded("o-1", ("plan", 1), at="2024-01-09T10:00:00Z"))  # placed on the 10th
    found = item(client, "plan-refund-alone")
    assert found["status"] == "failed" and found["findings"][0]["rule_id"] == "event-before-order-placed"
    assert early.headers["x-request-id"] in found["findings"][0]["request_ids"]
