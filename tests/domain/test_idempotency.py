"""Hakuna-Idempotency-Key (docs/contract.md §6) and seeded ids."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
from starlette.testclient import TestClient

from simulator.config import SimConfig
from simulator.domain.matching import Catalog
from simulator.web.app import create_app
from tests.conftest import AUTH, KEY, Clock, error_of, fulfilled, line, placed, post

PLACE = placed("o-1", [line("p", "prd-iphone14", 2), line("x", "pl-prd-hakuna", 2, reference="prd-iphone14")])


def test_same_key_and_body_replays_the_first_response(client: TestClient) -> None:
    post(client, "/sandbox/events", PLACE)
    first = post(client, "/sandbox/events", fulfilled("o-1", ("p", 1)), {"Hakuna-Idempotency-Key": "k1"})
    again = post(client, "/sandbox/events", fulfilled("o-1", ("p", 1)), {"Hakuna-Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    order = client.get("/sandbox/orders/o-1", headers=AUTH).json()
    assert order["line_items"][0]["fulfilled_quantity"] == 1


def test_same_key_with_another_body_is_refused(client: TestClient) -> None:
    post(client, "/sandbox/events", PLACE)
    post(client, "/sandbox/events", fulfilled("o-1", ("p", 1)), {"Hakuna-Idempotency-Key": "k1"})
    response = post(client, "/sandbox/events", fulfilled("o-1", ("x", 1)), {"Hakuna-Idempotency-Key": "k1"})
    assert response.status_code == 400 and error_of(response)[0] == "idempotency_key_reused"
    assert client.get("/sandbox/orders/o-1", headers=AUTH).json()["line_items"][1]["fulfilled_quantity"] == 0


def test_keys_are_scoped_per_tenant(client: TestClient) -> None:
    post(client, "/sandbox/events", PLACE, {"Hakuna-Idempotency-Key": "k"})
    other = {"Authorization": "Bearer sk_test_anothertenant", "Content-Type": "application/json", "Hakuna-Idempotency-Key": "k"}
    response = client.post("/sandbox/events", content=json.dumps(PLACE), headers=other)
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers


def test_keys_are_kept_24_hours(client: TestClient, clock: Clock) -> None:
    post(client, "/sandbox/events", PLACE, {"Hakuna-Idempotency-Key": "k"})
    clock.now += timedelta(hours=23, minutes=59)
    assert post(client, "/sandbox/events", PLACE, {"Hakuna-Idempotency-Key": "k"}).headers.get("Idempotent-Replayed") == "true"
    clock.now += timedelta(hours=1)
    response = post(client, "/sandbox/events", PLACE, {"Hakuna-Idempotency-Key": "k"})
    assert response.status_code == 400 and error_of(response)[0] == "order_already_exists"


def test_a_refused_request_is_not_remembered(client: TestClient) -> None:
    response = post(client, "/sandbox/events", fulfilled("o-1", ("p", 1)), {"Hakuna-Idempotency-Key": "k"})
    assert response.status_code == 404
    post(client, "/sandbox/events", PLACE)
    response = post(client, "/sandbox/events", fulfilled("o-1", ("p", 1)), {"Hakuna-Idempotency-Key": "k"})
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers


def test_concurrent_requests_with_one_key_apply_once(catalog: Catalog, clock: Clock) -> None:
    app = create_app(SimConfig(catalog=catalog), clock)
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
            await c.post("/sandbox/events", content=json.dumps(PLACE), headers=headers)
            body = json.dumps(fulfilled("o-1", ("p", 1)))
            return await asyncio.gather(
                *[
                    c.post("/sandbox/events", content=body, headers={**headers, "Hakuna-Idempotency-Key": "same"})
                    for _ in range(20)
                ]
            )

    responses = asyncio.run(run())
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["event_id"] for r in responses}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1


def test_a_seed_makes_every_generated_id_reproducible(catalog: Catalog, clock: Clock) -> None:
    def run() -> list[str]:
        with TestClient(create_app(SimConfig(catalog=catalog, seed=7), clock)) as c:
            a = post(c, "/sandbox/events", PLACE)
            b = c.get("/sandbox/orders/o-1", headers=AUTH)
            return [
                a.headers["X-Request-Id"],
                a.json()["event_id"],
                b.headers["X-Request-Id"],
                *[p["protection_id"] for p in b.json()["protections"]],
            ]

    first, second = run(), run()
    assert first == second
    assert first[1].startswith("evt-") and first[1][18] == "4"
    with TestClient(create_app(SimConfig(catalog=catalog, seed=8), clock)) as c:
        assert post(c, "/sandbox/events", PLACE).json()["event_id"] != first[1]


def test_generated_uuids_are_valid_version_4() -> None:
    import uuid

    from simulator.domain.ids import IdFactory

    for factory in (IdFactory(), IdFactory(seed=3, scope="k")):
        for _ in range(200):
            text = factory.uuid4()
            parsed = uuid.UUID(text)
            assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_an_empty_or_overlong_key_is_refused(client: TestClient) -> None:
    for key in ("", "k" * 256):
        response = post(client, "/sandbox/events", PLACE, {"Hakuna-Idempotency-Key": key})
        assert response.status_code == 400 and "1 to 255 characters" in error_of(response)[1][0]
    assert client.get("/sandbox/orders/o-1", headers=AUTH).status_code == 404
