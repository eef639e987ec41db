"""Fault injection, the rate limit and magic values (issue: client integration)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from simulator.cli.main import build_parser
from simulator.cli.serve import StartupError, build_config
from tests.conftest import AUTH, cancelled, cart, error_of, fulfilled, line, look_up, placed, post


def set_faults(client: TestClient, *rules: dict) -> object:
    return client.put("/__sim/faults", json={"faults": list(rules)}, headers=AUTH)


def test_next_n_requests_fail_then_succeed(client: TestClient) -> None:
    set_faults(client, {"route": "/sandbox/plans", "status": 503, "count": 2})
    first = look_up(client)
    assert first.status_code == 503 and error_of(first)[0] == "service_unavailable"
    assert [look_up(client).status_code for _ in range(2)] == [503, 200]
    assert client.get("/__sim/faults", headers=AUTH).json()["faults"][0]["fired"] == 2


def test_429_carries_retry_after_and_the_error_shape(client: TestClient) -> None:
    set_faults(client, {"route": "/sandbox/*", "method": "GET", "status": 429, "retry_after": 7, "count": 1})
    response = look_up(client)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert error_of(response)[0] == "rate_limited"


def test_a_fraction_of_requests_fails_reproducibly(client: TestClient) -> None:
    def run() -> list[int]:
        set_faults(client, {"route": "/sandbox/plans", "status": 500, "rate": 0.3, "seed": 5})
        return [look_up(client).status_code for _ in range(200)]

    first = run()
    assert first == run()
    assert 30 <= first.count(500) <= 90


def test_a_fault_before_changes_nothing_and_after_applies(client: TestClient) -> None:
    post(client, "/sandbox/events", placed("o-1", [line("c", "prd-bb-32", 2)]))
    set_faults(client, {"route": "/sandbox/events", "status": 503, "count": 1})
    assert post(client, "/sandbox/events", fulfilled("o-1", ("c", 1))).status_code == 503
    assert client.get("/sandbox/orders/o-1", headers=AUTH).json()["line_items"][0]["fulfilled_quantity"] == 0
    set_faults(client, {"route": "/sandbox/events", "status": 503, "count": 1, "when": "after"})
    assert post(client, "/sandbox/events", fulfilled("o-1", ("c", 1))).status_code == 503
    assert client.get("/sandbox/orders/o-1", headers=AUTH).json()["line_items"][0]["fulfilled_quantity"] == 1


def test_latency_is_added(client: TestClient) -> None:
    set_faults(client, {"route": "/sandbox/plans", "latency_ms": 150, "count": 1})
    started = time.monotonic()
    assert look_up(client).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_sim_routes_are_never_faulted_and_faults_are_per_key(client: TestClient) -> None:
    set_faults(client, {"route": "/*", "status": 500})
    assert client.get("/__sim/faults", headers=AUTH).status_code == 200
    other = {"Authorization": "Bearer sk_test_notfaulted1"}
    assert client.get("/sandbox/orders/x", headers=other).status_code == 404
    assert client.delete("/__sim/faults", headers=AUTH).json() == {"faults": []}
    assert look_up(client).status_code == 200


@pytest.mark.parametrize(
    "body, message",
    [
        ({"faults": [{"route": "sandbox", "status": 500}]}, "faults[0].route must be a path pattern"),
        ({"faults": [{"route": "/x", "status": 418}]}, "faults[0].status must be 429, 500 or 503"),
        ({"faults": [{"route": "/x", "status": 500, "rate": 2}]}, "faults[0].rate must be <= 1"),
        ({"faults": [{"route": "/x"}]}, "faults[0] does nothing"),
        ({"faults": [{"status": 500}]}, "faults[0].route is required"),
        ({}, "faults is required"),
    ],
)
def test_bad_fault_rules_are_refused_and_keep_the_old_ones(client: TestClient, body: dict, message: str) -> None:
    set_faults(client, {"route": "/sandbox/plans", "status": 500, "count": 5})
    response = client.put("/__sim/faults", json=body, headers=AUTH)
    assert response.status_code == 400
    assert any(m.startswith(message) for m in error_of(response)[1]), error_of(response)
    assert client.get("/__sim/faults", headers=AUTH).json()["faults"][0]["count"] == 5


def args(**overrides: object) -> argparse.Namespace:
    """`serve`'s arguments as its parser gives them, with some set."""
    parsed = build_parser().parse_args(["serve"])
    for name, value in overrides.items():
        setattr(parsed, name, value)
    return parsed


def started_with_faults(tmp_path: Path, make_client) -> tuple[TestClient, Path]:  # type: ignore[no-untyped-def]
    """A simulator started with `--faults FILE`: the first look-up of every key fails."""
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"faults": [{"route": "/sandbox/plans", "status": 503, "count": 1}]}))
    config = build_config(args(faults=str(path)))
    return make_client(catalog=config.catalog, faults=config.faults), path


def test_faults_file_at_start_up_applies_to_every_key(tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c, path = started_with_faults(tmp_path, make_client)
    assert look_up(c).status_code == 503 and look_up(c).status_code == 200
    other = {"Authorization": "Bearer sk_test_secondkey01"}
    assert c.get("/sandbox/plans", headers=other).status_code == 503
    path.write_text(json.dumps({"faults": [{"route": "/x", "status": 1}]}))
    with pytest.raises(StartupError, match=r"faults\[0\]\.status must be 429, 500 or 503"):
        build_config(args(faults=str(path)))


def test_rate_limit_answers_429_with_retry_after(make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(rate_limit=5.0)
    statuses = [look_up(c).status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    limited = next(r for r in (look_up(c) for _ in range(3)) if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and error_of(limited)[0] == "rate_limited"
    assert c.get("/sandbox/plans", headers={"Authorization": "Bearer sk_test_otherbucket1"}).status_code == 400


def test_magic_values_are_off_by_default_and_answer_vendor_errors_when_on(client: TestClient) -> None:
    assert "magic" not in error_of(look_up(client, product_category="hakuna-test-unsupported"))[1][0]
    body = placed("o-1", [line("c", "prd-bb-32")])
    body["payload"]["customer_billing_address"]["country"] = "aq"
    assert post(client, "/sandbox/events", body).status_code == 200  # no plan line: nothing to refuse
    client.put("/__sim/settings", json={"magic_values": True}, headers=AUTH)
    response = look_up(client, product_category="hakuna-test-unsupported")
    assert response.status_code == 400 and error_of(response) == (
        "product_unsupported",
        ["product category 'hakuna-test-unsupported' is not protectable (a magic test value)"],
    )
    body = placed("o-2", [line("c", "prd-bb-32")])
    body["payload"]["customer_billing_address"]["country"] = "aq"
    response = post(client, "/sandbox/events", body)
    assert response.status_code == 400 and error_of(response)[0] == "location_unsupported"
    assert post(client, "/sandbox/events", placed("ord-test-decline-1", [line("c", "prd-bb-32")])).status_code == 200
    response = post(client, "/sandbox/events", cancelled("ord-test-decline-1"))
    assert response.status_code == 400 and error_of(response)[0] == "cancel_decline"
    assert post(client, "/sandbox/carts", cart([])).status_code == 200


def test_reset_restores_the_start_up_faults(tmp_path: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    c, _ = started_with_faults(tmp_path, make_client)
    assert look_up(c).status_code == 503 and look_up(c).status_code == 200
    set_faults(c, {"route": "/sandbox/*", "status": 500})
    c.post("/__sim/reset", headers=AUTH)
    assert look_up(c).status_code == 503 and look_up(c).status_code == 200


def test_a_429s_retry_after_is_said_in_its_message_and_read_back_from_it() -> None:
    from simulator.domain.faults import retry_after_in, retry_after_text

    assert retry_after_in(["injected fault: 429 for GET /sandbox/plans (see /__sim/faults): " + retry_after_text(7)]) == 7
    assert retry_after_in(["more than 20 requests a second for this key: " + retry_after_text(1)]) == 1
    assert retry_after_in(["retry after 12 seconds", "no figure here"]) is None
