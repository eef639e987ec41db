"""The typed client: retries, idempotency keys, the exception hierarchy, transports."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from contract_tests import models as m
from contract_tests.client import (
    AsyncHakunaClient,
    BadRequest,
    ContractViolation,
    HakunaClient,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportFailure,
    api_base_url,
)
from contract_tests.guide import PLAN_QUERY, PLAN_RESPONSE
from simulator.config import SimConfig
from simulator.domain.matching import Catalog
from simulator.web.app import create_app

QUERY = m.PlanQuery(**PLAN_QUERY)
EVENT = m.OrderCancelled(payload=m.CancellationPayload(order_id="o", cancelled_at="2024-01-01T00:00:00Z"))
FAST = RetryPolicy(attempts=4, base_delay=0.01)


def scripted(*answers: httpx.Response | Exception, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


def ok(body: object) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"X-Request-Id": "req-1"})


def err(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        json={"error": {"error_code": code, "validation_errors": ["why"]}},
        headers={"X-Request-Id": "req-9", **(headers or {})},
    )


def client(transport: httpx.MockTransport, slept: list[float] | None = None, **kw: Any) -> HakunaClient:
    return HakunaClient(
        "http://sim",
        "sk_test_clienttests",
        transport=transport,
        retry=FAST,
        sleep=(slept.append if slept is not None else lambda s: None),
        **kw,
    )


def test_a_post_keeps_one_idempotency_key_over_its_retries() -> None:
    seen: list[httpx.Request] = []
    first_id, second_id = "evt-" + "a" * 8 + "-aaaa-4aaa-8aaa-" + "a" * 12, "evt-" + "b" * 8 + "-bbbb-4bbb-8bbb-" + "b" * 12
    c = client(
        scripted(
            err(503, "service_unavailable"),
            httpx.ConnectError("down"),
            ok({"event_id": first_id}),
            ok({"event_id": second_id}),
            seen=seen,
        )
    )
    c.publish_event(EVENT)
    c.publish_event(EVENT)
    keys = [r.headers["Hakuna-Idempotency-Key"] for r in seen]
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert seen[0].url == "http://sim/sandbox/events"
    assert seen[0].headers["Authorization"] == "Bearer sk_test_clienttests"
    assert json.loads(seen[0].content) == EVENT.model_dump(exclude_none=True)


def test_429_waits_at_least_retry_after() -> None:
    slept: list[float] = []
    offer = client(scripted(err(429, "rate_limited", {"Retry-After": "2"}), ok(PLAN_RESPONSE)), slept).look_up_plans(QUERY)
    assert offer.model_dump(exclude_none=True) == PLAN_RESPONSE
    assert slept[0] >= 2


def test_backoff_grows_and_stays_under_its_ceiling() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0)
    assert [policy.delay(a, None, lambda: 1.0) for a in (1, 2, 3, 4, 5, 6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert policy.delay(3, None, lambda: 0.0) == 0.0  # full jitter


def test_persistent_failures_raise_after_the_last_attempt() -> None:
    with pytest.raises(ServerError) as caught:
        client(scripted(*[err(500, "internal_server_error")] * 4)).look_up_plans(QUERY)
    assert (caught.value.status, caught.value.error_code, caught.value.request_id) == (500, "internal_server_error", "req-9")
    with pytest.raises(RateLimited):
        client(scripted(*[err(429, "rate_limited")] * 4)).look_up_plans(QUERY)
    with pytest.raises(TransportFailure):
        client(scripted(*[httpx.ReadTimeout("slow")] * 4)).look_up_plans(QUERY)


def test_client_errors_are_not_retried_and_carry_the_error_body() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(BadRequest) as caught:
        client(scripted(err(400, "cancel_decline"), seen=seen)).publish_event(EVENT)
    assert caught.value.validation_errors == ["why"] and len(seen) == 1
    with pytest.raises(NotFound):
        client(scripted(err(404, "entity_not_found"))).get_order("o")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json", headers={"Content-Type": "application/json"}),
        httpx.Response(200, json={**PLAN_RESPONSE, "extra": 1}),
        httpx.Response(200, json={**PLAN_RESPONSE, "plans": [{**PLAN_RESPONSE["plans"][0], "price_amount": 12.0}]}),
        httpx.Response(200, text="<html>", headers={"Content-Type": "text/html"}),
        httpx.Response(400, json={"message": "no"}),
    ],
)
def test_answers_that_break_the_contract_raise_contract_violation(answer: httpx.Response) -> None:
    with pytest.raises(ContractViolation):
        client(scripted(answer), validate_schemas=True).look_up_plans(QUERY)


def test_base_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAKUNA_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HAKUNA_API_KEY", "sk_test_fromenvironment")
    c = HakunaClient()
    assert (c.base_url, c.api_key) == ("http://127.0.0.1:9/sandbox", "sk_test_fromenvironment")
    monkeypatch.delenv("HAKUNA_API_KEY")
    with pytest.raises(ValueError, match="HAKUNA_API_KEY"):
        HakunaClient()
    assert api_base_url("https://api.hellohakuna.com/sandbox/") == "https://api.hellohakuna.com/sandbox"


def test_async_client_runs_in_process_over_asgi(catalog: Catalog) -> None:
    app = create_app(SimConfig(catalog=catalog))

    async def run() -> tuple[m.PlanOffer, m.Order]:
        async with AsyncHakunaClient(
            "http://sim", "sk_test_asyncclient1", transport=httpx.ASGITransport(app=app), validate_schemas=True
        ) as c:
            offer = await c.look_up_plans(QUERY)
            await c.publish_event(
                m.OrderPlaced(
                    payload=m.OrderPlacedPayload(
                        order_id="o-1",
                        placed_at="2024-01-01T00:00:00Z",
                        order_currency="eur",
                        customer=m.Customer(first_name="A", last_name="B", email="a@b.de"),
                        customer_billing_address=m.BillingAddress(address_line_1="x", city="y", country="de", zip="1"),
                        line_items=[m.LineItem(id="l", quantity=1, price_amount=1, product_id="prd-bb-32")],
                    )
                )
            )
            return offer, await c.get_order("o-1")

    offer, order = asyncio.run(run())
    assert offer.model_dump(exclude_none=True) == PLAN_RESPONSE
    assert order.line("l").quantity == 1
