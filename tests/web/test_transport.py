"""docs/contract.md §1 and §2: auth, tenants, version, request ids, body handling, and the
one error body. Every refusal changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from contract_tests import guide
from tests.conftest import AUTH, KEY, cart, error_of, line, look_up, post


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    responses = [
        look_up(client),
        client.get("/nope"),
        client.get("/sandbox/plans"),
        client.get("/healthz"),
        client.get("/openapi.json"),
        client.get("/__sim/"),
        client.delete("/sandbox/carts"),
    ]
    ids = {r.headers["X-Request-Id"] for r in responses}
    assert len(ids) == len(responses)


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "no API key"),
        ({"Authorization": "Bearer sk_test_short"}, "malformed API key"),
        ({"Authorization": "Bearer sk_test_has-a-dash-in-it"}, "malformed API key"),
        ({"Authorization": "Basic sk_test_4eC39HqLyjWDarjtT1zdp7dc"}, "Authorization header must be"),
        ({"Authorization": "Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc"}, "live keys are refused"),
        ({"Bearer": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}, "live keys are refused"),
    ],
)
def test_missing_malformed_or_live_key_is_unauthorized(client: TestClient, headers: dict[str, str], message: str) -> None:
    response = client.get("/sandbox/plans", params=guide.PLAN_QUERY, headers=headers)
    assert response.status_code == 401
    code, messages = error_of(response)
    assert code == "unauthorized" and message in messages[0]


def test_unauthorized_post_changes_nothing(client: TestClient) -> None:
    body = cart([line("p", "prd-iphone14")])
    response = client.post("/sandbox/carts", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert (
        client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code
        == 404
    )


def test_tenants_are_isolated_by_key(client: TestClient) -> None:
    assert post(client, "/sandbox/carts", cart([line("p", "prd-iphone14")])).status_code == 200
    other = {"Authorization": "Bearer sk_test_someoneelse1"}
    response = client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=other)
    assert response.status_code == 404
    assert (
        client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code
        == 200
    )


def test_version_is_echoed_and_an_unknown_one_refused(client: TestClient) -> None:
    assert look_up(client).headers["Hakuna-Version"] == "v2.0"
    response = client.get(
        "/sandbox/plans", params=guide.PLAN_QUERY, headers={"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v9"}
    )
    assert response.status_code == 400
    code, messages = error_of(response)
    assert code == "invalid_request_parameters" and "Hakuna-Version must be one of" in messages[0]


def test_non_json_content_type_is_415_and_changes_nothing(client: TestClient) -> None:
    body = json.dumps(cart([line("p", "prd-iphone14")]))
    response = client.post("/sandbox/carts", content=body, headers={**AUTH, "Content-Type": "text/plain"})
    assert response.status_code == 415
    assert error_of(response)[0] == "unsupported_media_type"
    assert (
        client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code
        == 404
    )


def test_body_over_one_mebibyte_is_413(client: TestClient) -> None:
    lines = [line(f"l{i}", "prd-bb-32", price=i) for i in range(20000)]
    body = json.dumps(cart(lines))
    assert len(body) > 1024 * 1024
    response = client.post("/sandbox/carts", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert error_of(response)[0] == "payload_too_large"


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"{", "not valid JSON"),
        (b'{"cart_id": NaN}', "not valid JSON"),
        (b'"\xff\xfe"', "UTF-8"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_json_is_400(client: TestClient, raw: bytes, fragment: str) -> None:
    response = client.post("/sandbox/carts", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    code, messages = error_of(response)
    assert code == "invalid_request_parameters" and fragment in messages[0]


def test_unknown_route_is_404_and_wrong_method_405_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/sandbox/nothing", headers=AUTH)
    assert response.status_code == 404 and error_of(response)[0] == "entity_not_found"
    response = client.delete("/sandbox/carts", headers=AUTH)
    assert response.status_code == 405 and error_of(response)[0] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"
    response = client.post("/sandbox/orders/o-1/plan_connections", headers=AUTH)
    assert response.status_code == 405 and set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}
    response = client.get("/sandbox/orders/o-1/plan_connections/more", headers=AUTH)
    assert response.status_code == 404 and error_of(response)[0] == "entity_not_found"
    # A route with a parameter answers as the route table says, its parameter read.
    response = client.get("/sandbox/orders/o-404", headers=AUTH)
    assert response.status_code == 404 and "'o-404'" in error_of(response)[1][0]


def test_orders_url_with_an_unrecognisable_body_is_400(client: TestClient) -> None:
    response = post(client, "/sandbox/orders", {"cart_id": "c"})
    assert response.status_code == 400
    assert "none of the shapes" in error_of(response)[1][0]


def test_strict_mode_refuses_the_guides_quirks(make_client) -> None:  # type: ignore[no-untyped-def]
    strict = make_client(strict=True)
    response = strict.get("/sandbox/plans", params=guide.PLAN_QUERY, headers={"Bearer": guide.API_KEY})
    assert response.status_code == 401
    response = strict.get("/sandbox/plans", params=guide.PLAN_QUERY, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 400 and "Hakuna-Version header is required" in error_of(response)[1][0]
    strict_headers = {"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v2.0", "Content-Type": "application/json"}
    # The guide's URL is the only one published for carts and checkouts: fine under --strict.
    response = strict.post("/sandbox/orders", content=guide.CART_UPDATE_TEXT, headers=strict_headers)
    assert response.status_code == 200
    # Order events have their own published URL.
    response = strict.post("/sandbox/orders", content=guide.ORDER_PLACED_TEXT, headers=strict_headers)
    assert response.status_code == 400
    assert error_of(response) == (
        "invalid_request_parameters",
        [
            "an order event was posted to /sandbox/orders, the guide's URL; the docs publish order events at POST "
            "/sandbox/events: post it there (--strict)"
        ],
    )
    response = post(strict, "/sandbox/carts", {**cart([line("p", "prd-bb-32", quantity=1.0)]), "x": 1.0})  # type: ignore[arg-type]
    assert error_of(response)[1] == ["line_items[0].quantity must be an integer written without a fraction (--strict)"]
    assert look_up(strict).json() == guide.PLAN_RESPONSE


def test_healthz_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_request_answered_while_its_sandbox_was_forgotten_applies_to_the_new_one(catalog: object) -> None:
    """A request that awaits (here an injected latency) while another request forgets the
    key's sandbox is applied to the sandbox the key has when it goes on, not to the
    forgotten one: what was answered 200 can be read back."""
    import threading

    import httpx

    from simulator.config import SimConfig
    from simulator.web.app import create_app
    from tests.serving import Served

    with Served(create_app(SimConfig(catalog=catalog))) as server:  # type: ignore[arg-type]
        headers = {**AUTH, "Content-Type": "application/json"}
        slow = {"faults": [{"route": "/sandbox/carts", "method": "POST", "latency_ms": 300}]}
        assert httpx.put(f"{server.root}/__sim/faults", json=slow, headers=headers).status_code == 200
        answers: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: answers.append(
                httpx.post(f"{server.root}/sandbox/carts", json=cart([line("a", "prd-iphone14")]), headers=headers)
            )
        )
        sender.start()
        threading.Event().wait(0.1)  # the cart update is waiting out its latency
        assert httpx.delete(f"{server.root}/__sim/sandbox", headers=headers).status_code == 200
        sender.join()
        assert answers[0].status_code == 200
        stored = httpx.get(
            f"{server.root}/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=headers
        )
        assert stored.status_code == 200, stored.text


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/sandbox/plans"), ("POST", "/sandbox/carts"), ("GET", "/sandbox/orders/o-1")]
)
def test_a_crash_is_answered_in_the_vendors_error_shape_and_counted(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    """Whether the route is dispatched straight (a fixed vendor path) or by Starlette's
    router, a bug answers 500 with the vendor body and a request id, and the metrics
    count it under the route's template."""
    sandbox = client.app.state.sandbox  # type: ignore[attr-defined]

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    for name in ("look_up_plans", "update_cart", "order"):
        monkeypatch.setattr(sandbox, name, crash)
    body = json.dumps(cart([line("a", "prd-iphone14")])) if method == "POST" else None
    answer = client.request(
        method,
        path,
        params=guide.PLAN_QUERY if path.endswith("plans") else None,
        content=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert answer.status_code == 500
    assert answer.json()["error"]["error_code"] == "internal_server_error"
    assert "RuntimeError: boom" in answer.json()["error"]["validation_errors"][0]
    assert answer.headers["X-Request-Id"].startswith("req-")
    template = path if "orders" not in path else "/sandbox/orders/{order_id}"
    metrics = client.app.state.metrics.series  # type: ignore[attr-defined]
    assert any(route == template and status == 500 for (_, route, status) in metrics), metrics


def test_the_collector_is_paused_while_worker_thread_work_runs_and_only_then(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A report's worker would otherwise hold the GIL through full collections of its
    # parsed journal; see simulator/web/workers.py.
    import gc
    import threading

    from simulator.web import workers

    seen: list[bool] = []
    assert gc.isenabled()

    def work() -> str:
        seen.append(gc.isenabled())
        return "answer"

    assert workers.paused(work) == "answer"
    assert seen == [False] and gc.isenabled()

    # Overlapping works: on again only when the last one ends.
    first_in, second_done, release = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        first_in.set()
        release.wait(5)

    worker = threading.Thread(target=workers.paused, args=(first,))
    worker.start()
    first_in.wait(5)
    workers.paused(second_done.set)
    assert second_done.is_set() and not gc.isenabled()
    release.set()
    worker.join(5)
    assert gc.isenabled()

    # A work that fails leaves the collector as it found it, and one that was off stays off.
    with pytest.raises(ZeroDivisionError):
        workers.paused(lambda: 1 / 0)
    assert gc.isenabled()
    gc.disable()
    try:
        workers.paused(lambda: None)
        assert not gc.isenabled()
    finally:
        gc.enable()

    # Every hand-off to a worker goes through it: the report, the journal, a snapshot
    # export and import, and the dashboard.
    calls: list[object] = []
    real = workers.paused

    def counting(work: object, *args: object) -> object:
        calls.append(work)
        return real(work, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(workers, "paused", counting)

    def hand_offs(client: TestClient) -> None:
        look_up(client)
        for path in ("/__sim/report", "/__sim/journal", "/__sim/state"):
            assert client.get(path, headers=AUTH).status_code == 200
        state = client.get("/__sim/state", headers=AUTH).content
        put = client.put("/__sim/state", content=state, headers={**AUTH, "Content-Type": "application/json"})
        assert put.status_code == 200

    hand_offs(make_client(own_collector=True))  # as `serve` starts it
    assert len(calls) == 5  # report, journal, two exports, and the import's parse
    # A server inside someone's process (the pytest plugin's) leaves their collector alone.
    hand_offs(make_client())
    assert len(calls) == 5
