"""Snapshots (GET/PUT /__sim/state, schemas/sim-state.json): a round trip answers every
read as before, a snapshot moves between keys, a broken one changes nothing and names
every problem, and the bundled fixtures say what their names say."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from contract_tests import guide
from contract_tests.plugin import bundled_snapshots, load_snapshot
from tests.conftest import AUTH, cancelled, cart, error_of, fulfilled, line, look_up, placed, post, refunded

OTHER = {"Authorization": "Bearer sk_test_anotherkey02", "Hakuna-Version": "v2.0"}


def history(client: TestClient) -> None:
    """A little of everything a key keeps: a look-up, carts (one checked out), an order
    fulfilled and refunded, a cancelled one, a refused request, an idempotency key,
    settings, faults and a catalog of its own."""
    assert look_up(client).status_code == 200
    assert (
        post(
            client,
            "/sandbox/carts",
            cart([line("a", "prd-iphone14", 2, 112900), line("p", "pl-prd-hakuna", 1, 1200, "prd-iphone14")]),
        ).status_code
        == 200
    )
    assert (
        post(
            client,
            "/sandbox/carts",
            cart([line("a", "prd-iphone14")], cart_id="cart-2", session="s2"),
            headers={"Hakuna-Idempotency-Key": "key-1"},
        ).status_code
        == 200
    )
    assert (
        post(client, "/sandbox/checkouts", {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "ord-1"}).status_code
        == 200
    )
    lines = [line("a", "prd-iphone14", 2, 112900), line("p", "pl-prd-hakuna", 2, 1200, "prd-iphone14")]
    assert post(client, "/sandbox/events", placed("ord-1", lines, "cart-1")).status_code == 200
    assert post(client, "/sandbox/events", fulfilled("ord-1", ("a", 2))).status_code == 200
    assert post(client, "/sandbox/events", refunded("ord-1", ("p", 1))).status_code == 200
    assert post(client, "/sandbox/events", placed("ord-2", [line("b", "prd-iphone14")])).status_code == 200
    assert post(client, "/sandbox/events", cancelled("ord-2")).status_code == 200
    assert post(client, "/sandbox/events", cancelled("ord-2")).status_code == 400
    assert client.put("/__sim/settings", json={"refund_windows": {"plan_alone_days": 30}}, headers=AUTH).status_code == 200
    assert (
        client.put(
            "/__sim/faults", json={"faults": [{"route": "/sandbox/orders/*", "status": 503, "count": 1}]}, headers=AUTH
        ).status_code
        == 200
    )


def reads(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """Every read a merchant or a test can make of a key's state."""
    events = [
        e["response"]["event_id"]
        for e in client.get("/__sim/journal", headers=headers).json()["entries"]
        if e["path"] == "/sandbox/events" and e["status"] == 200
    ]
    got = {
        "cart-1": client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=headers),
        "cart-2": client.get("/sandbox/carts/cart-2/plan_connections", params={"user_session_id": "s2"}, headers=headers),
        "ord-1": client.get("/sandbox/orders/ord-1", headers=headers),
        "ord-1 connections": client.get("/sandbox/orders/ord-1/plan_connections", headers=headers),
        "ord-2": client.get("/sandbox/orders/ord-2", headers=headers),
        "settings": client.get("/__sim/settings", headers=headers),
        "faults": client.get("/__sim/faults", headers=headers),
        "catalog": client.get("/__sim/catalog", headers=headers),
        "journal": client.get("/__sim/journal", headers=headers),
        "report": client.get("/__sim/report", headers=headers),
        **{e: client.get(f"/sandbox/events/{e}", headers=headers) for e in events},
    }
    return {name: (r.status_code, r.json()) for name, r in got.items()}


def without_clock_times(answers: dict[str, Any]) -> dict[str, Any]:
    """Reads with the journal's wall-clock times left out: they are when a read was made."""
    out = copy.deepcopy(answers)
    for entry in out["journal"][1]["entries"]:
        del entry["at"], entry["duration_ms"]
    return out


def test_a_round_trip_answers_every_read_as_before(make_client: Any) -> None:
    client = make_client(seed=7)  # request ids too go on as they would have
    history(client)
    snapshot = client.get("/__sim/state", headers=AUTH).json()
    before = without_clock_times(reads(client, AUTH))
    assert client.post("/__sim/reset", headers=AUTH).status_code == 200
    assert client.get("/sandbox/orders/ord-1", headers=AUTH).status_code == 404
    answer = client.put("/__sim/state", json=snapshot, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["imported"] == {
        "products": 1,
        "carts": 2,
        "orders": 2,
        "events": 5,
        "idempotency_keys": 1,
        "journal_entries": len(snapshot["journal"]["entries"]),
    }
    assert without_clock_times(reads(client, AUTH)) == before  # the fault fires again: its count came back too
    assert client.put("/__sim/state", json=snapshot, headers=AUTH).status_code == 200
    again = client.get("/__sim/state", headers=AUTH).json()
    assert {**again, "generated_ids": 0} == {**snapshot, "generated_ids": 0}  # reading it drew a request id
    replayed = post(
        client,
        "/sandbox/carts",
        cart([line("a", "prd-iphone14")], cart_id="cart-2", session="s2"),
        headers={"Hakuna-Idempotency-Key": "key-1"},
    )
    assert replayed.headers.get("Idempotent-Replayed") == "true"


def test_a_snapshot_of_one_key_imported_into_another_answers_alike(client: TestClient) -> None:
    history(client)
    snapshot = client.get("/__sim/state", headers=AUTH).json()
    assert client.put("/__sim/state", json=snapshot, headers=OTHER).status_code == 200
    theirs = reads(client, OTHER)
    ours = reads(client, AUTH)
    for answers in (theirs, ours):  # request ids are drawn per key
        for entry in answers["journal"][1]["entries"]:
            del entry["at"], entry["duration_ms"], entry["request_id"], entry["headers"]
        answers.pop("report")
    assert theirs == ours
    # Two sandboxes from then on: a change to one is not seen by the other.
    assert post(client, "/sandbox/events", fulfilled("ord-1", ("p", 1)), headers=OTHER).status_code == 200
    assert client.get("/sandbox/orders/ord-1", headers=AUTH).json() == reads(client, AUTH)["ord-1"][1]
    assert client.get("/sandbox/orders/ord-1", headers=OTHER).json() != reads(client, AUTH)["ord-1"][1]


def test_a_key_with_its_own_catalog_keeps_it(client: TestClient) -> None:
    own = client.get("/__sim/catalog", headers=AUTH).json()
    own["plans"] = own["plans"][:1]
    assert client.put("/__sim/catalog", json=own, headers=AUTH).status_code == 200
    snapshot = client.get("/__sim/state", headers=AUTH).json()
    assert snapshot["catalog"]["plans"] == own["plans"]
    assert client.put("/__sim/state", json=snapshot, headers=OTHER).status_code == 200
    assert client.get("/__sim/catalog", headers=OTHER).json()["plans"] == own["plans"]


def broken_snapshots(good: dict[str, Any]) -> list[tuple[dict[str, Any] | list[Any], list[str]]]:
    """(snapshot, what each message must name): schema problems, then problems only the
    snapshot as a whole shows."""
    out: list[tuple[Any, list[str]]] = [([], ["snapshot must be a snapshot object"])]
    shape = copy.deepcopy(good)
    shape["format"] = "hakuna-sim-state/0"
    shape["carts"][0]["line_items"][0]["quantity"] = 0
    shape["orders"][0]["protections"][0]["status"] = "lost"
    del shape["journal"]["next_seq"]
    out.append(
        (
            shape,
            [
                "format must be",
                "carts[0].line_items[0].quantity",
                "orders[0].protections[0].status",
                "journal.next_seq is required",
            ],
        )
    )
    whole = copy.deepcopy(good)
    whole["carts"].append(copy.deepcopy(whole["carts"][0]))
    whole["orders"][0]["plan_connections"][0]["plan_line_item_id"] = "nope"
    whole["orders"][0]["line_items"][0]["fulfilled_at"] *= 3
    whole["orders"][0]["line_items"][1]["product_id"] = "pl-unknown"
    whole["journal"]["entries"].reverse()
    out.append(
        (
            whole,
            [
                "carts[2].cart_id: 'cart-1' repeats carts[0].cart_id",
                "orders[0].plan_connections[0].plan_line_item_id",
                "orders[0].line_items[0].fulfilled_at: 6 units",
                "orders[0].line_items[1].product_id: 'pl-unknown'",
                "journal.entries[1].seq",
            ],
        )
    )
    journal = copy.deepcopy(good)
    entries = journal["journal"]["entries"]
    accepted_cart = next(i for i, e in enumerate(entries) if e["path"] == "/sandbox/carts" and e["status"] == 200)
    entries[accepted_cart]["body"] = {"text": '{"cart_id": 5}'}
    entries[0]["response"] = {"text": "[]"}
    out.append((journal, [f"journal.entries[{accepted_cart}].body: accepted, yet", "journal.entries[0].response"]))
    return out


def test_a_broken_snapshot_changes_nothing_and_names_every_problem(client: TestClient) -> None:
    history(client)
    good = client.get("/__sim/state", headers=AUTH).json()
    for document, named in broken_snapshots(good):
        answer = client.put("/__sim/state", json=document, headers=AUTH)
        code, messages = error_of(answer)
        assert (answer.status_code, code) == (400, "invalid_request_parameters")
        for part in named:
            assert any(part in m for m in messages), (part, messages)
        after = client.get("/__sim/state", headers=AUTH).json()
        assert {**after, "taken_at": None} == {**good, "taken_at": None}


@pytest.mark.parametrize(
    ("body", "headers", "params", "code"),
    [
        (b"{", {"Content-Type": "application/json"}, {}, "invalid_request_parameters"),
        (b"{}", {"Content-Type": "text/plain"}, {}, "unsupported_media_type"),
        (b"{}", {"Content-Type": "application/json"}, {"rebase": "yes"}, "invalid_request_parameters"),
        (b"[" * 300 + b"]" * 300, {"Content-Type": "application/json"}, {}, "invalid_request_parameters"),
    ],
)
def test_a_snapshot_that_is_no_snapshot_is_refused(
    client: TestClient, body: bytes, headers: dict[str, str], params: dict[str, str], code: str
) -> None:
    history(client)
    before = client.get("/__sim/state", headers=AUTH).json()
    answer = client.put("/__sim/state", content=body, params=params, headers={**AUTH, **headers})
    assert error_of(answer)[0] == code
    assert {**client.get("/__sim/state", headers=AUTH).json(), "taken_at": None} == {**before, "taken_at": None}


def test_state_routes_need_a_key(client: TestClient) -> None:
    assert error_of(client.get("/__sim/state"))[0] == "unauthorized"
    assert error_of(client.put("/__sim/state", content=b"{}", headers={"Content-Type": "application/json"}))[0] == "unauthorized"


def test_rebase_moves_every_time_by_the_snapshot_s_age(client: TestClient, clock: Any) -> None:
    history(client)
    client.delete("/__sim/faults", headers=AUTH)
    snapshot = client.get("/__sim/state", headers=AUTH).json()
    order = client.get("/sandbox/orders/ord-1", headers=AUTH).json()
    clock.now += timedelta(days=40)
    assert client.put("/__sim/state", json=snapshot, params={"rebase": "true"}, headers=OTHER).status_code == 200
    moved = client.get("/sandbox/orders/ord-1", headers=OTHER).json()

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    assert at(moved["placed_at"]) - at(order["placed_at"]) == timedelta(days=40)
    for was, now in zip(order["protections"], moved["protections"], strict=True):
        if was["starts_at"]:
            assert at(now["starts_at"]) - at(was["starts_at"]) == timedelta(days=40)
    placed_event = next(e for e in client.get("/__sim/state", headers=OTHER).json()["events"] if e["type"] == "order_placed")
    assert at(placed_event["payload"]["placed_at"]) - at(snapshot["events"][0]["payload"]["placed_at"]) == timedelta(days=40)


# -- the bundled snapshots, through the pytest plugin's marker --------------------------


def test_the_bundled_snapshots_are_listed() -> None:
    assert bundled_snapshots() == ["cancelled-order", "converged-cart", "order-fulfilled-13-days-ago"]
    with pytest.raises(FileNotFoundError, match="converged-cart"):
        load_snapshot("no-such-snapshot")


@pytest.mark.hakuna_snapshot("converged-cart")
def test_converged_cart(hakuna_sim: Any) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {hakuna_sim.api_key}", "Hakuna-Version": "v2.0"}
    connections = httpx.get(
        f"{hakuna_sim.base_url}/carts/cart-converged/plan_connections", params={"user_session_id": guide.SESSION}, headers=headers
    )
    assert connections.json()["plan_connections"] == [{"product_line_item_id": "line-phone", "plan_line_item_id": "line-plan"}]
    state = hakuna_sim.controls.state()
    again = {k: state["carts"][0][k] for k in ("cart_id", "user_session_id", "cart_currency")}
    again["line_items"] = [
        {k: v for k, v in l.items() if k not in ("product_reference",)}
        | ({"custom_properties": {"product_reference": l["product_reference"]}} if "product_reference" in l else {})
        for l in state["carts"][0]["line_items"]
    ]
    assert httpx.post(f"{hakuna_sim.base_url}/carts", json=again, headers=headers).json()["actions"] == []
    assert hakuna_sim.controls.report()["summary"]["errors"] == 0


@pytest.mark.hakuna_snapshot("order-fulfilled-13-days-ago")
def test_order_fulfilled_13_days_ago_has_one_day_left_to_refund_its_plan(hakuna_sim: Any) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {hakuna_sim.api_key}", "Hakuna-Version": "v2.0"}
    order = httpx.get(f"{hakuna_sim.base_url}/orders/ord-fulfilled", headers=headers).json()
    started = datetime.fromisoformat(order["protections"][0]["starts_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - started - timedelta(days=13)) < timedelta(minutes=5)
    late = datetime.now(UTC) + timedelta(days=2)
    refused = httpx.post(
        f"{hakuna_sim.base_url}/events",
        headers=headers,
        json=refunded("ord-fulfilled", ("line-plan", 1), at=late.strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    assert error_of(refused)[0] == "refund_window_expired"
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    accepted = httpx.post(
        f"{hakuna_sim.base_url}/events", headers=headers, json=refunded("ord-fulfilled", ("line-plan", 1), at=today)
    )
    assert accepted.status_code == 200, accepted.text


@pytest.mark.hakuna_snapshot("cancelled-order")
def test_cancelled_order_takes_no_more_events(hakuna_sim: Any) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {hakuna_sim.api_key}", "Hakuna-Version": "v2.0"}
    order = httpx.get(f"{hakuna_sim.base_url}/orders/ord-cancelled", headers=headers).json()
    assert order["status"] == "cancelled"
    assert {p["status"] for p in order["protections"]} == {"cancelled"}
    shipped = httpx.post(f"{hakuna_sim.base_url}/events", headers=headers, json=fulfilled("ord-cancelled", ("line-phone", 1)))
    assert error_of(shipped)[0] == "order_cancelled"


def test_every_bundled_snapshot_imports_whole_and_reports_no_error(client: TestClient) -> None:
    for name in bundled_snapshots():
        document = load_snapshot(name)
        answer = client.put("/__sim/state", json=document, params={"rebase": "true"}, headers=AUTH)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["imported"]["orders"] == len(document["orders"])
        assert answer.json()["imported"]["journal_entries"] == len(document["journal"]["entries"])
        report = client.get("/__sim/report", headers=AUTH).json()
        assert report["summary"]["errors"] == 0, (name, report["findings"])


# -- any snapshot, however broken: never a 5xx, and a refusal changes nothing ------------

SEED_SNAPSHOT = load_snapshot("order-fulfilled-13-days-ago")


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*at, i))
    return out


PATHS = _paths(SEED_SNAPSHOT)[1:]
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "x",
            "2024-02-30T00:00:00Z",
            "9999-12-31T23:59:59+00:00",
            "0001-01-01T00:00:00-14:00",
            "line-plan",
            "line-phone",
            "pl-prd-hakuna",
            "ord-fulfilled",
            "cart-fulfilled",
            "=",
            "AAA",
            "product",
            "plan",
            "active",
            "cancelled",
            "order_cancelled",
        ]
    ),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["text", "base64", "rule", "x"]), st.sampled_from(["", "QQ==", "Q", 1]), max_size=2),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), ODD_VALUES, st.booleans()), min_size=1, max_size=3), rebase=st.booleans()
)
def test_any_broken_snapshot_is_refused_cleanly(client: TestClient, changes: list[Any], rebase: bool) -> None:
    document = copy.deepcopy(SEED_SNAPSHOT)
    for path, value, delete in changes:
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    before = client.get("/__sim/state", headers=OTHER).json()
    answer = client.put("/__sim/state", json=document, params={"rebase": "true" if rebase else "false"}, headers=OTHER)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        code, messages = error_of(answer)
        assert code in ("invalid_request_parameters", "sandbox_full") and messages
        after = client.get("/__sim/state", headers=OTHER).json()
        assert {**after, "taken_at": None, "generated_ids": None} == {**before, "taken_at": None, "generated_ids": None}
    else:  # accepted: every read of it answers
        assert client.get("/__sim/state", headers=OTHER).status_code == 200
        assert client.get("/__sim/report", headers=OTHER).status_code == 200
        assert client.get("/__sim/journal", headers=OTHER).status_code == 200
        for order in client.get("/__sim/state", headers=OTHER).json()["orders"]:
            assert client.get(f"/sandbox/orders/{order['order_id']}", headers=OTHER).status_code == 200


def test_a_frozen_item_is_kept_as_json_when_small_and_compressed_when_large() -> None:
    from simulator.state.shelf import SMALL, freeze_document, thaw_document

    small = {"order_id": "o1", "fulfillment_line_items": [{"line_item_id": "l1", "quantity": 1}]}
    large = {"order_id": "o1", "line_items": [{"id": f"l{i}", "product_title": "iPhone 14"} for i in range(100)]}
    assert freeze_document(small) == json.dumps(small, separators=(",", ":")).encode()
    assert len(json.dumps(large)) > SMALL and freeze_document(large)[:1] == b"x"
    assert len(freeze_document(large)) < len(json.dumps(large)) // 4
    for document in (small, large):
        assert thaw_document(freeze_document(document)) == document


def test_a_shelf_keeps_the_items_used_last_as_objects_and_the_rest_frozen() -> None:
    from simulator.state.shelf import HOT, Shelf

    def weigh(item: dict[str, int]) -> int:
        return 1000

    shelf: Shelf[dict[str, int]] = Shelf(lambda d: d, lambda d: d, weigh)  # type: ignore[arg-type,return-value]
    for n in range(HOT * 3):
        shelf.put(f"i{n}", {"n": n})
    assert list(shelf) == [f"i{n}" for n in range(HOT * 3)]  # in the order put
    held = shelf.held()
    assert [item["n"] for item in held.values()] == list(range(HOT * 3))
    assert shelf.get("i0") == {"n": 0} and shelf["i1"] == {"n": 1}  # thawed again
    assert len(shelf.parts()[2]) == HOT  # no more objects than that
    shelf.put("i0", {"n": 100})
    assert held.get("i0") == {"n": 0}  # a copy taken before reads as it was
    changed = shelf.restore(held)
    assert changed == {"i0"} and shelf.get("i0") == {"n": 0}


def test_a_broken_snapshot_names_every_broken_collection_by_its_path(client: TestClient) -> None:
    document = copy.deepcopy(SEED_SNAPSHOT)
    document["catalog"], document["carts"], document["journal"] = 5, {"c": 1}, []
    answer = client.put("/__sim/state", json=document, headers=OTHER)
    assert answer.status_code == 400
    assert error_of(answer)[1] == [
        "catalog must be null or an object, got a number",
        "carts must be an array of carts, got an object",
        "journal must be an object, got an array",
    ]


def test_integers_written_with_a_fraction_in_a_snapshot_are_read_as_integers(client: TestClient) -> None:
    document = copy.deepcopy(SEED_SNAPSHOT)
    entry = document["journal"]["entries"][0]
    entry["truncated"], entry["status"], entry["seq"] = float(entry["truncated"]), float(entry["status"]), float(entry["seq"])
    answer = client.put("/__sim/state", json=document, headers=OTHER)
    assert answer.status_code == 200, answer.text
    kept = client.get("/__sim/journal", headers=OTHER).json()["entries"][0]
    assert (kept["status"], kept["seq"], kept["truncated"]) == (int(entry["status"]), int(entry["seq"]), False)
    assert client.get("/__sim/report", headers=OTHER).status_code == 200
