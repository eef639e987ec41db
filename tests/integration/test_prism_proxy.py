"""Stoplight Prism, as a mock and as a validating proxy in front of a served simulator: the contract
flows, fault injection included (429s, 503s, 500s), go through it, and Prism must find
no answer of the simulator that breaks the served document. Requests the flows break on
purpose (the refusal tests) are Prism's to flag, and the test checks it flags them, so
the validator is known to be on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contract_tests import guide
from tests.serving import free_port, serving

TOOL = Path(__file__).resolve().parent / "prism"
NPM = shutil.which("npm")
# Prism holds a body that is not JSON and never answers it, so the one flow that sends
# `{` with a JSON content type is left out here (it runs against the simulator itself).
NOT_THROUGH_PRISM = "not test_transport_refusals_have_the_error_shape"


pytestmark = pytest.mark.skipif(NPM is None or shutil.which("node") is None, reason="needs Node.js 20 and npm")


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool = tmp_path_factory.mktemp("tool") / "prism"
    shutil.copytree(TOOL, tool, ignore=shutil.ignore_patterns("node_modules"))
    installed = subprocess.run([str(NPM), "ci", "--no-audit", "--no-fund"], cwd=tool, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return tool / "node_modules" / ".bin" / "prism"


def test_prism_finds_no_response_violation_in_the_contract_flows(prism: Path, tmp_path: Path) -> None:

    proxy_port = free_port()
    with serving(tmp_path) as base, (tmp_path / "prism.log").open("w") as log:
        document = tmp_path / "openapi.json"
        document.write_bytes(httpx.get(base + "/openapi.json").content)
        proxy = subprocess.Popen(
            [str(prism), "proxy", str(document), base, "--host", "127.0.0.1", "--port", str(proxy_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_listening(tmp_path / "prism.log")
            flows = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "contract-test",
                    "--base-url",
                    f"http://127.0.0.1:{proxy_port}/sandbox",
                    "--api-key",
                    "sk_test_prismflows01",
                    "--",
                    "-p",
                    "no:cacheprovider",
                    "-k",
                    NOT_THROUGH_PRISM,
                ],
                cwd=Path(__file__).resolve().parents[2],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "NO_COLOR": "1"},
            )
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
    assert flows.returncode == 0, flows.stdout[-5000:] + flows.stderr[-2000:]
    assert " skipped" not in flows.stdout.splitlines()[-1], flows.stdout[-1000:]  # the fault flows ran too

    text = (tmp_path / "prism.log").read_text()
    violations = re.findall(r"Violation: (\S+) .*", text)
    assert violations, "Prism flagged none of the requests the refusal flows break on purpose: is it validating?"
    assert not [v for v in violations if not v.startswith("request")], "\n".join(
        line for line in text.splitlines() if "Violation: response" in line
    )
    for status in ("429", "503"):  # injected faults went through the proxy
        assert re.search(rf"has returned {status}\b", text), f"no {status} went through Prism"


def test_prism_mocks_the_guide_from_the_documents_examples(prism: Path, tmp_path: Path) -> None:
    """Without the simulator, Prism's mock answers the guide's example responses: the
    document carries them per operation."""
    with serving(tmp_path) as base:
        document = tmp_path / "openapi.json"
        document.write_bytes(httpx.get(base + "/openapi.json").content)
    port = free_port()
    with (tmp_path / "mock.log").open("w") as log:
        mock = subprocess.Popen(
            [str(prism), "mock", str(document), "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_listening(tmp_path / "mock.log")
            headers = {"Authorization": "Bearer sk_test_prismmock01"}
            plans = httpx.get(f"http://127.0.0.1:{port}/sandbox/plans", params=guide.PLAN_QUERY, headers=headers)
            connections = httpx.get(
                f"http://127.0.0.1:{port}/sandbox/carts/cart-123/plan_connections",
                params={"user_session_id": guide.SESSION},
                headers=headers,
            )
            reads = {
                path: httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers).json()
                for path in (
                    "/sandbox/orders/ord-123",
                    "/sandbox/orders/ord-123/plan_connections",
                    "/sandbox/events/evt-7c1784a1-d96b-4ec6-b515-8dc4a5433cbe",
                )
            }
            errors = {
                status: httpx.get(
                    f"http://127.0.0.1:{port}/sandbox/orders/ord-123", headers={**headers, "Prefer": f"code={status}"}
                ).json()
                for status in ("400", "401", "404", "429", "503")
            }
        finally:
            mock.terminate()
            mock.wait(timeout=10)
    assert (plans.status_code, plans.json()) == (200, guide.PLAN_RESPONSE)
    assert (connections.status_code, connections.json()) == (200, guide.CART_CONNECTIONS_RESPONSE)
    # Reads and errors answer the document's examples, not values Prism makes up.
    assert reads["/sandbox/orders/ord-123"]["protections"][0]["status"] == "active"
    assert (
        reads["/sandbox/orders/ord-123/plan_connections"]["plan_connections"]
        == (guide.CART_CONNECTIONS_RESPONSE["plan_connections"])
    )
    assert reads["/sandbox/events/evt-7c1784a1-d96b-4ec6-b515-8dc4a5433cbe"]["type"] == "order_placed"
    assert errors["404"]["error"]["error_code"] == "entity_not_found"
    assert errors["503"]["error"]["error_code"] == "service_unavailable"
    assert "string" not in str(errors) and "string" not in str(reads)


def _wait_listening(log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "Prism is listening" in log.read_text():
            return
        time.sleep(0.2)
    raise AssertionError("Prism did not start: " + log.read_text()[-2000:])
