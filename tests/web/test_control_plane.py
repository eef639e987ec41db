"""A server shared on a network: server-wide routes behind the admin token, Prometheus
metrics, `--no-sim-api`, and a dashboard that other sites cannot log in, frame or feed
scripts to."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulator.cli.main import build_parser
from tests.conftest import AUTH, cart, line, look_up, post

TOKEN = "admin-7f3c9a1e5b2d8c4f"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SERVER_WIDE = [("GET", "/__sim/admin/tenants"), ("DELETE", "/__sim/admin/tenants/sk_test_someone01"), ("GET", "/__sim/metrics")]


def _code(response: Any) -> str:
    return response.json()["error"]["error_code"]


@pytest.mark.parametrize(("method", "path"), SERVER_WIDE)
def test_every_server_wide_route_without_a_wrong_and_the_right_token(
    make_client: Callable[..., TestClient], method: str, path: str
) -> None:
    client = make_client(admin_token=TOKEN)
    post(client, "/sandbox/carts", cart([line("l1", "prd-iphone14")]))  # AUTH's key has a sandbox
    client.request("GET", "/healthz")
    none = client.request(method, path)
    assert (none.status_code, _code(none)) == (401, "unauthorized")
    for wrong in ("Bearer admin-7f3c9a1e5b2d8c4", "Bearer " + TOKEN + "x", AUTH["Authorization"], "Basic " + TOKEN, TOKEN):
        refused = client.request(method, path, headers={"Authorization": wrong})
        assert (refused.status_code, _code(refused)) == (401, "unauthorized"), wrong
    right = client.request(method, path, headers=ADMIN)
    assert right.status_code in (200, 404)  # 404: the evicted key was never there
    assert right.headers["X-Request-Id"]


@pytest.mark.parametrize(("method", "path"), SERVER_WIDE)
def test_server_wide_routes_are_off_without_a_configured_token(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, ADMIN):
        refused = client.request(method, path, headers=headers)
        assert (refused.status_code, _code(refused)) == (403, "forbidden")
        assert "--admin-token" in refused.json()["error"]["validation_errors"][0]


def test_the_admin_lists_keys_with_size_and_last_use_and_evicts_one(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin_token=TOKEN)
    post(client, "/sandbox/carts", cart([line("l1", "prd-iphone14")]))
    look_up(client)
    other = {"Authorization": "Bearer sk_test_otherteam01"}
    client.get("/sandbox/orders/nope", headers=other)

    listed = client.get("/__sim/admin/tenants", headers=ADMIN).json()
    assert listed["count"] == 2
    assert [t["key"] for t in listed["tenants"]] == ["sk_test_otherteam01", AUTH["Authorization"].split()[1]]
    mine = listed["tenants"][1]
    assert mine["requests"] == 2 and mine["size_bytes"] > mine["journal_bytes"] > 0 and mine["idle_seconds"] >= 0
    assert listed["total_bytes"] == sum(t["size_bytes"] for t in listed["tenants"])

    evicted = client.delete("/__sim/admin/tenants/sk_test_otherteam01", headers=ADMIN)
    assert evicted.json() == {"evicted": "sk_test_otherteam01"}
    again = client.delete("/__sim/admin/tenants/sk_test_otherteam01", headers=ADMIN)
    assert (again.status_code, _code(again)) == (404, "entity_not_found")
    assert [t["key"] for t in client.get("/__sim/admin/tenants", headers=ADMIN).json()["tenants"]] == [
        AUTH["Authorization"].split()[1]
    ]
    # The evicted key starts over with an empty sandbox.
    assert client.get("/__sim/journal", headers=other).json()["entries"] == []


def _samples(text: str) -> dict[str, float]:
    found = {}
    for row in text.splitlines():
        if row and not row.startswith("#"):
            name, value = row.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_metrics_count_requests_and_latency_by_route_template_and_status(make_client: Callable[..., TestClient]) -> None:
    client = make_client(admin_token=TOKEN)
    for order in ("ord-1", "ord-2", "ord-3"):
        client.get(f"/sandbox/orders/{order}", headers=AUTH)
    look_up(client)
    client.get("/no/such/route")
    client.get("/sandbox/" + "x" * 500)  # any unknown path: the same one series
    client.request("PROPFIND", "/sandbox/plans", headers=AUTH)  # an odd method: counted as OTHER
    response = client.get("/__sim/metrics", headers=ADMIN)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    orders = 'method="GET",route="/sandbox/orders/{order_id}",status="404"'
    assert samples[f"hakuna_sim_requests_total{{{orders}}}"] == 3  # one series, whatever the order id
    assert samples[f"hakuna_sim_request_seconds_count{{{orders}}}"] == 3
    assert samples[f'hakuna_sim_request_seconds_bucket{{{orders},le="+Inf"}}'] == 3
    buckets = [v for k, v in samples.items() if k.startswith(f"hakuna_sim_request_seconds_bucket{{{orders}")]
    assert buckets == sorted(buckets)  # cumulative
    assert samples['hakuna_sim_requests_total{method="GET",route="/sandbox/plans",status="200"}'] == 1
    assert samples['hakuna_sim_requests_total{method="GET",route="unmatched",status="404"}'] == 2
    assert samples['hakuna_sim_requests_total{method="OTHER",route="/sandbox/plans",status="405"}'] == 1
    assert "xxxxx" not in response.text and "PROPFIND" not in response.text
    assert samples["hakuna_sim_tenants"] == 1
    assert samples["hakuna_sim_state_bytes"] > samples["hakuna_sim_journal_bytes"] > 0
    assert "# TYPE hakuna_sim_tenants_evicted_total counter" in response.text
    assert not re.search(r"ord-[123]", response.text)


def test_no_sim_api_leaves_the_vendor_surface_alone(make_client: Callable[..., TestClient]) -> None:
    client = make_client(sim_api=False, admin_token=TOKEN)
    assert look_up(client).status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/openapi.json").status_code == 200
    for method, path in [
        ("POST", "/__sim/reset"),
        ("GET", "/__sim/journal"),
        ("GET", "/__sim/report"),
        ("PUT", "/__sim/faults"),
        ("GET", "/__sim/"),
        ("POST", "/__sim/login"),
        *SERVER_WIDE,
    ]:
        gone = client.request(method, path, headers={**AUTH, **ADMIN} if "admin" in path else AUTH)
        assert (gone.status_code, _code(gone)) == (404, "entity_not_found"), path


DASHBOARD_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


def test_every_dashboard_page_forbids_scripts_framing_and_sniffing(client: TestClient) -> None:
    key = AUTH["Authorization"].split()[1]
    post(client, "/sandbox/carts", cart([line("l1", "prd-iphone14")]))
    request_id = client.get("/__sim/journal", headers=AUTH).json()["entries"][0]["request_id"]
    link = client.post("/__sim/login-links", headers=AUTH).json()["url"]
    pages = [
        client.get("/__sim/"),
        client.post(
            "/__sim/login",
            content=f"key={key}",
            follow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://testserver"},
        ),
        client.get("/__sim/"),
        client.get(f"/__sim/requests/{request_id}"),
        client.get(link, follow_redirects=False),
        client.post("/__sim/logout", follow_redirects=False, headers={"Origin": "http://testserver"}),
    ]
    for page in pages:
        assert all(name in page.headers for name in DASHBOARD_HEADERS), page.url
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script-src" not in policy
        assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil.example"])
def test_a_login_from_another_origin_is_refused_and_logs_nobody_in(client: TestClient, origin: str) -> None:
    key = AUTH["Authorization"].split()[1]
    refused = client.post(
        "/__sim/login",
        content=f"key={key}",
        follow_redirects=False,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": origin},
    )
    assert refused.status_code == 403 and "another site" in refused.text
    assert "set-cookie" not in refused.headers
    fetched = client.post(
        "/__sim/login",
        content=f"key={key}",
        follow_redirects=False,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"},
    )
    assert fetched.status_code == 403


def test_a_short_admin_token_stops_serve(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--admin-token", "short"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert run.returncode == 2 and "--admin-token must be 16 characters or more" in run.stderr


def test_the_admin_token_and_no_sim_api_come_from_the_environment_too() -> None:
    args = build_parser({"HAKUNA_SIM_ADMIN_TOKEN": TOKEN, "HAKUNA_SIM_NO_SIM_API": "1"}).parse_args(["serve"])
    assert (args.admin_token, args.no_sim_api) == (TOKEN, True)
