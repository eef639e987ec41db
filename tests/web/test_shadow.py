"""Shadow mode: the simulator in front of an upstream (here another simulator, or one
that differs in exactly one way). The merchant always gets the upstream's answer as it
came; the report's parity section holds exactly the differences there are."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from contract_tests import guide
from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.web.app import create_app
from tests.serving import Served

pytestmark = pytest.mark.integration  # served simulators as upstreams, and the parity command

CATALOG = load_catalog(default_catalog_path())
KEY = "sk_test_shadowmode01"
AUTH = {"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v2.0"}
Change = Callable[[str, str, int, bytes], tuple[int, bytes] | None]


def simulator() -> Any:
    return create_app(SimConfig(catalog=CATALOG))


class Differs:
    """A simulator whose answers `change` rewrites (None: left as it is)."""

    def __init__(self, change: Change):
        self.app = simulator()
        self.change = change

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: Any) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        status, body = started["status"], b"".join(chunks)
        changed = self.change(scope["method"], scope["path"], status, body)
        if changed is not None:
            status, body = changed
        headers = [(k, v) for k, v in started["headers"] if k != b"content-length"]
        await send(
            {"type": "http.response.start", "status": status, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        )
        await send({"type": "http.response.body", "body": body})


class Hangs:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(3)


def shadow_of(upstream: Served, timeout: float = 5.0) -> Served:
    return Served(create_app(SimConfig(catalog=CATALOG, upstream=upstream.root + "/sandbox", upstream_timeout=timeout)))


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15) as client:
        yield client


def parity(http: httpx.Client, shadow: Served) -> list[dict[str, Any]]:
    report = http.get(shadow.root + "/__sim/report", headers=AUTH).json()
    assert report["summary"]["parity_differences"] == len(report["parity"])
    return list(report["parity"])


def post(http: httpx.Client, root: str, path: str, body: Any) -> httpx.Response:
    return http.post(root + path, content=json.dumps(body), headers={**AUTH, "Content-Type": "application/json"})


CART = {
    "cart_id": "c-1",
    "user_session_id": "s-1",
    "cart_currency": "eur",
    "line_items": [
        {"id": "p", "quantity": 2, "price_amount": 112900, "product_id": "prd-iphone14"},
        {
            "id": "x",
            "quantity": 1,
            "price_amount": 1200,
            "product_id": "pl-prd-hakuna",
            "custom_properties": {"product_reference": "prd-iphone14"},
        },
    ],
}


def test_a_shadowed_simulator_agrees_over_the_whole_contract_suite_and_the_guide(http: httpx.Client) -> None:
    with Served(simulator()) as upstream, shadow_of(upstream) as shadow:
        result = subprocess.run(
            [sys.executable, "-m", "simulator", "contract-test", "--base-url", shadow.root + "/sandbox", "--api-key", KEY],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        guide_key = {"Bearer": guide.API_KEY}
        assert http.get(shadow.root + "/sandbox/plans", params=guide.PLAN_QUERY, headers=guide_key).status_code == 200
        for text in (
            guide.CART_UPDATE_TEXT,
            guide.CHECKOUT_TEXT,
            guide.ORDER_PLACED_TEXT,
            guide.FULFILLMENT_TEXT,
            guide.REFUND_TEXT,
        ):
            assert http.post(shadow.root + "/sandbox/orders", content=text, headers=guide.GUIDE_HEADERS).status_code == 200
        assert parity(http, shadow) == []
        guide_report = http.get(shadow.root + "/__sim/report", headers=guide_key).json()
        assert guide_report["parity"] == [] and {f["rule_id"] for f in guide_report["findings"]} == {
            "auth-bearer-header",
            "guide-orders-url",
            "missing-hakuna-version",
            "plan-mispriced",
        }


def _error(code: str) -> bytes:
    return json.dumps({"error": {"error_code": code, "validation_errors": ["upstream's own words"]}}).encode()


def _actions(change: Callable[[list[Any]], list[Any]]) -> Change:
    def rewrite(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if method == "POST" and path == "/sandbox/carts" and status == 200:
            answer = json.loads(body)
            return status, json.dumps({**answer, "actions": change(answer["actions"])}).encode()
        return None

    return rewrite


ONE_DIFFERENCE: dict[str, tuple[Change, Callable[[httpx.Client, str], httpx.Response], list[str], str]] = {
    "another error code": (
        lambda m, p, s, b: (404, _error("cart_unknown")) if p == "/sandbox/checkouts" and s == 404 else None,
        lambda http, root: post(http, root, "/sandbox/checkouts", {"cart_id": "nope", "user_session_id": "s", "order_id": "o"}),
        ['error.error_code: simulator "entity_not_found" / upstream "cart_unknown"'],
        "docs/fidelity.md, Errors: `entity_not_found`",
    ),
    "an extra cart action": (
        _actions(lambda actions: [*actions, {"type": "remove_line_item", "payload": {"line_item_id": "p"}}]),
        lambda http, root: post(http, root, "/sandbox/carts", CART),
        [
            'actions: simulator [{"type":"update_line_item","payload":{"line_item_id":"x","line_item_quantity":2}}] / '
            'upstream [{"type":"remove_line_item","payload":{"line_item_id":"p"}},{"type":"update_line_item","payload":'
            '{"line_item_id":"x","line_item_quantity":2}}] (the actions, in any order)'
        ],
        "docs/fidelity.md, Carts",
    ),
    "a missing cart action": (
        _actions(lambda actions: []),
        lambda http, root: post(http, root, "/sandbox/carts", CART),
        [
            'actions: simulator [{"type":"update_line_item","payload":{"line_item_id":"x","line_item_quantity":2}}] / '
            "upstream [] (the actions, in any order)"
        ],
        "docs/fidelity.md, Carts",
    ),
    "another field value": (
        lambda m, p, s, b: (s, b.replace(b'"price_amount":1200', b'"price_amount":1300')) if p == "/sandbox/plans" else None,
        lambda http, root: http.get(root + "/sandbox/plans", params=guide.PLAN_QUERY, headers=AUTH),
        ["plans[0].price_amount: simulator 1200 / upstream 1300"],
        "docs/fidelity.md, Plan matching",
    ),
    "a 500": (
        lambda m, p, s, b: (500, _error("internal_server_error")) if p == "/sandbox/carts" else None,
        lambda http, root: post(http, root, "/sandbox/carts", CART),
        ["status: simulator 200 / upstream 500", "body: simulator"],
        "docs/fidelity.md, Errors: `internal_server_error`",
    ),
}


@pytest.mark.parametrize("name", sorted(ONE_DIFFERENCE))
def test_an_upstream_that_differs_in_one_way_gives_exactly_that_finding(http: httpx.Client, name: str) -> None:
    change, send, expected, fidelity = ONE_DIFFERENCE[name]
    with Served(Differs(change)) as upstream, shadow_of(upstream) as shadow:
        got = send(http, shadow.root)
        direct = send(http, upstream.root)
        assert (got.status_code, got.content) == (direct.status_code, direct.content)  # the upstream's, unchanged
        [finding] = parity(http, shadow)
        assert finding["rule_id"] == "parity" and finding["fidelity"] == fidelity
        assert len(finding["differences"]) == len(expected), finding["differences"]
        for difference, start in zip(finding["differences"], expected, strict=True):
            assert difference.startswith(start), finding["differences"]
        assert finding["upstream"]["status"] == got.status_code and finding["simulator"]["status"] in (200, 404)
        journal = http.get(shadow.root + "/__sim/journal", headers=AUTH).json()["entries"]
        [entry] = journal  # the one request the merchant sent through the shadow
        assert finding["request_ids"] == [entry["request_id"]] and entry["status"] == got.status_code


def test_the_shadow_state_follows_the_upstream_so_one_difference_does_not_cascade(http: httpx.Client) -> None:
    """The upstream fails a cart update (500): the simulator, which took it, undoes it.
    The upstream accepts a cart after its checkout, which the simulator would refuse:
    the simulator applies it anyway. Each is reported once."""
    state = {"fail_next": True}

    def change(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path == "/sandbox/carts" and state.pop("fail_next", False):
            return 500, _error("internal_server_error")
        if path == "/sandbox/carts" and status == 400:
            return 200, json.dumps({"cart_id": "c-1", "user_session_id": "s-1", "actions": []}).encode()
        return None

    with Served(Differs(change)) as upstream:
        app = create_app(SimConfig(catalog=CATALOG, upstream=upstream.root + "/sandbox"))
        shadow_state = app.state.sandbox.tenants
        with Served(app) as shadow:
            assert post(http, shadow.root, "/sandbox/carts", CART).status_code == 500
            assert "c-1" not in shadow_state.get(KEY).carts  # undone here too
            assert post(http, shadow.root, "/sandbox/carts", CART).status_code == 200
            assert (
                post(
                    http, shadow.root, "/sandbox/checkouts", {"cart_id": "c-1", "user_session_id": "s-1", "order_id": "o-1"}
                ).status_code
                == 200
            )
            after = {**CART, "line_items": CART["line_items"][:1]}
            assert post(http, shadow.root, "/sandbox/carts", after).json()["actions"] == []
            cart = shadow_state.get(KEY).carts["c-1"]
            assert [l.id for l in cart.lines] == ["p"] and cart.order_id == "o-1"  # applied as the upstream did
            found = parity(http, shadow)
            assert [f["differences"][0] for f in found] == [
                "status: simulator 200 / upstream 500",
                "status: simulator 400 / upstream 200",
            ]
            assert found[1]["fidelity"] == "docs/fidelity.md, Errors: `cart_checked_out`"


def test_an_upstream_past_the_timeout_answers_502_and_is_journaled(http: httpx.Client) -> None:
    with Served(Hangs()) as upstream, shadow_of(upstream, timeout=0.5) as shadow:
        answer = http.get(shadow.root + "/sandbox/plans", params=guide.PLAN_QUERY, headers=AUTH)
        assert answer.status_code == 502 and answer.json()["error"]["error_code"] == "upstream_unavailable"
        [entry] = http.get(shadow.root + "/__sim/journal", headers=AUTH).json()["entries"]
        assert entry["status"] == 502 and entry["response"]["error"]["error_code"] == "upstream_unavailable"
        [finding] = parity(http, shadow)
        assert finding["differences"] == ["the upstream did not answer within 0.5 s; the merchant got 502"]
    refused = shadow_of(Served(Hangs()))  # nothing listens there at all: refused at once, also 502
    with refused as shadow:
        assert http.get(shadow.root + "/sandbox/plans", params=guide.PLAN_QUERY, headers=AUTH).status_code == 502


def parity_command(base: Served, compare: Served, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "parity",
            "--base-url",
            base.root + "/sandbox",
            "--compare-url",
            compare.root + "/sandbox",
            "--api-key",
            "sk_test_paritycommand",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_parity_command_finds_no_difference_between_two_simulators(tmp_path: Any) -> None:
    with Served(simulator()) as a, Served(simulator()) as b:
        result = parity_command(a, b, "--junit-xml", str(tmp_path / "parity.xml"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert " 0 flow(s) differ" in result.stdout
    xml = (tmp_path / "parity.xml").read_text()
    assert 'failures="0"' in xml and xml.count("<testcase ") > 20


def test_the_parity_command_prints_every_difference_and_fails() -> None:
    change = ONE_DIFFERENCE["another field value"][0]
    with Served(simulator()) as a, Served(Differs(change)) as b:
        result = parity_command(a, b)
    assert result.returncode == 1
    assert "GET /plans: plans[0].price_amount: base 1200 / compare 1300 (docs/fidelity.md, Plan matching)" in result.stdout
    assert "request 2: base sent" not in result.stdout  # generated ids in paths are not differences


def test_keys_and_customer_data_never_reach_the_logs(tmp_path: Any, http: httpx.Client) -> None:
    from tests.serving import free_port, start, wait_ready

    closed = free_port()  # nothing listens there: every forward is refused
    port = free_port()
    process = start("--port", str(port), "--upstream", f"http://127.0.0.1:{closed}/sandbox", cwd=tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        body = json.loads(guide.ORDER_PLACED_TEXT)
        answer = http.post(f"http://127.0.0.1:{port}/sandbox/events", json=body, headers=AUTH)
        assert answer.status_code == 502 and answer.json()["error"]["error_code"] == "upstream_unavailable"
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert KEY not in out + err and "max.mustermann" not in out + err and "Mustermann" not in out + err


def test_the_report_survives_whatever_the_upstream_accepts_or_answers(http: httpx.Client) -> None:
    """An upstream may accept a body the simulator's schema refuses, or answer in
    another shape: the report leaves such requests out instead of failing."""

    def change(method: str, path: str, status: int, body: bytes) -> tuple[int, bytes] | None:
        if path == "/sandbox/carts":
            return 200, b"OK" if b"nested" in body else b'{"actions": "none"}'
        if path == "/sandbox/checkouts":
            return 200, b"[1, 2]"
        return None

    class Echoing(Differs):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)

            async def replay() -> Any:
                return {"type": "http.request", "body": body, "more_body": False}

            self.change = lambda m, p, s, b: change(m, p, s, body)
            await super().__call__(scope, replay, send)

    with Served(Echoing(change)) as upstream, shadow_of(upstream) as shadow:
        assert post(http, shadow.root, "/sandbox/carts", {"cart_id": 5, "line_items": "x"}).status_code == 200
        assert post(http, shadow.root, "/sandbox/carts", {**CART, "nested": [[[[1]]]]}).content == b"OK"
        assert (
            post(http, shadow.root, "/sandbox/checkouts", {"cart_id": "c-1", "user_session_id": "s-1", "order_id": "o-1"}).content
            == b"[1, 2]"
        )
        report = http.get(shadow.root + "/__sim/report", headers=AUTH)
        assert report.status_code == 200
        assert len(report.json()["parity"]) == 3  # each answered otherwise than the simulator would
        assert http.get(shadow.root + "/__sim/journal", headers=AUTH).status_code == 200


def test_differences_name_each_side_by_its_label_and_leave_values_alone() -> None:
    from simulator.report.parity import Answer, differences

    found = differences(
        Answer(200, b'{"note": "simulator", "n": 1}'), Answer(200, b'{"note": "upstream", "m": 2}'), ("base", "compare")
    )
    assert found == [
        "m: only the compare has it (2)",
        "n: only the base has it (1)",
        'note: base "simulator" / compare "upstream"',
    ]
