"""pytest plugin (entry point `pytest11`), for merchants' own test suites and for the
contract tests:

    def test_checkout(hakuna_client):          # a client on a fresh key
        ...
    def test_report(hakuna_sim):               # base_url, api_key, controls (reset,
        ...                                    #   journal, report, faults, catalog)

One simulator per test session, on a free port in a background thread; every test gets
a fresh API key, which is its own sandbox, so tests never see each other's carts, and
whose sandbox is freed when the test ends, so a long session keeps the server flat.

A test can start from a snapshot of a whole sandbox instead of replaying its history:

    @pytest.mark.hakuna_snapshot("order-fulfilled-13-days-ago")   # bundled, or a file path
    def test_late_refund(hakuna_client): ...

The snapshot is imported into the test's key with its times moved to now (`rebase`), so
"fulfilled 13 days ago" holds whenever the test runs.

With `--hakuna-readiness` (or `hakuna_readiness = true` in the ini file) every test key's
readiness checklist is read before its sandbox is freed; the session prints the checklist
of all its keys together (an item is passed when one test passed it: other tests may get
it wrong on purpose, and their findings are listed) and fails when a required item is
missing. `--hakuna-integration erp-only` (or
`hakuna_integration`) judges an integration without a storefront.

`hakuna_target` is what the contract tests run against: the same in-process simulator,
or any server given by `--hakuna-base-url`/`--hakuna-api-key` (or HAKUNA_BASE_URL and
HAKUNA_API_KEY), e.g. the real sandbox, where `controls` is None.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract_tests.client import HakunaClient, api_base_url
from contract_tests.sim_controls import SimControls


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hakuna", "Hakuna contract tests")
    group.addoption(
        "--hakuna-base-url", default=None, help="run the contract tests against this server (default: an in-process simulator)"
    )
    group.addoption("--hakuna-api-key", default=None, help="the API key for --hakuna-base-url")
    group.addoption(
        "--hakuna-readiness",
        action="store_true",
        default=None,
        help="gather every test key's go-live readiness and fail the session unless every required item passed",
    )
    group.addoption(
        "--hakuna-integration",
        default=None,
        choices=("storefront-and-erp", "erp-only"),
        help="the integration path readiness judges (default: storefront-and-erp)",
    )
    parser.addini("hakuna_readiness", "as --hakuna-readiness", type="bool", default=False)
    parser.addini("hakuna_integration", "as --hakuna-integration", default="storefront-and-erp")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hakuna_snapshot(name_or_path, rebase=True): start the test's key from a snapshot: a file "
        "(GET /__sim/state or `hakuna-sim state export` writes one) or a bundled one by name: " + ", ".join(bundled_snapshots()),
    )
    wanted = config.getoption("--hakuna-readiness") or config.getini("hakuna_readiness")
    if wanted:
        integration = config.getoption("--hakuna-integration") or config.getini("hakuna_integration")
        config.stash[READINESS] = Readiness(integration)


class Readiness:
    """The readiness checklists of a session's keys (the last report of each), combined
    item by item."""

    def __init__(self, integration: str):
        self.integration = integration
        self.reports: dict[str, dict[str, Any]] = {}

    @property
    def keys(self) -> int:
        return len(self.reports)

    def add(self, key: str, report: dict[str, Any]) -> None:
        self.reports[key] = report

    @property
    def items(self) -> dict[str, dict[str, Any]]:
        combined: dict[str, dict[str, Any]] = {}
        for report in self.reports.values():
            for item in report["readiness"]["items"]:
                held = combined.setdefault(item["id"], {**item, "status": "not_exercised", "request_ids": [], "findings": []})
                held["findings"] += item.get("findings", [])
                held["request_ids"] += item["request_ids"][: max(0, 5 - len(held["request_ids"]))]
                # Passed where some test did it right: a suite's other tests may do it wrong on
                # purpose (to test the shop's error handling); their findings stay listed.
                if item["status"] == "passed" or held["status"] == "passed":
                    held["status"] = "passed"
                elif item["status"] == "failed":
                    held["status"] = "failed"
        return combined

    def missing(self) -> list[str]:
        return [i["id"] for i in self.items.values() if i["required"] and i["status"] != "passed"]

    def failed(self) -> bool:
        return bool(self.missing()) or not self.reports

    def lines(self) -> list[str]:
        lines = [f"hakuna-sim readiness ({self.integration}, {self.keys} key(s)): " + ("NOT ready" if self.failed() else "ready")]
        for item in self.items.values():
            mark = {"passed": "ok  ", "failed": "FAIL", "not_exercised": "----"}[item["status"]]
            optional = "" if item["required"] else " (optional)"
            lines.append(f"  {mark} {item['id']}{optional}: {item['summary']}")
            for f in item["findings"][:3] if item["status"] == "failed" else ():
                lines.append(f"         {f['message']} (requests: {', '.join(f['request_ids'][:5])})")
            if item["status"] == "not_exercised":
                lines.append(f"         how: {item['how']['text']}")
        return lines


READINESS = pytest.StashKey[Readiness]()


def _gather(config: pytest.Config, controls: SimControls) -> None:
    readiness = config.stash.get(READINESS, None)
    if readiness is not None:
        readiness.add(controls.api_key, controls.report(readiness.integration))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    readiness = config.stash.get(READINESS, None)
    if readiness is None:
        return
    if not readiness.keys:
        terminalreporter.write_line("hakuna-sim readiness: no test used a simulator key", red=True)
        return
    for line in readiness.lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    readiness = session.config.stash.get(READINESS, None)
    if readiness is not None and readiness.failed() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def bundled_snapshots() -> list[str]:
    from simulator.contract.resources import fixtures_dir

    return sorted(p.stem for p in (fixtures_dir() / "snapshots").glob("*.json"))


def load_snapshot(name_or_path: str | os.PathLike[str]) -> Any:
    """A snapshot document from a file, or from fixtures/snapshots by name."""
    from simulator.contract.resources import fixtures_dir

    path = Path(name_or_path)
    if not path.is_file():
        bundled = fixtures_dir() / "snapshots" / f"{name_or_path}.json"
        if not bundled.is_file():
            raise FileNotFoundError(f"no snapshot {name_or_path!r}: give a file path or one of {', '.join(bundled_snapshots())}")
        path = bundled
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class Target:
    base_url: str
    api_key: str
    controls: SimControls | None  # None: not a simulator (e.g. the real sandbox)

    def client(self, **options: object) -> HakunaClient:
        return HakunaClient(self.base_url, self.api_key, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def hakuna_simulator() -> Iterator[object]:
    from contract_tests.server import BackgroundSimulator

    with BackgroundSimulator() as simulator:
        yield simulator


def fresh_key() -> str:
    return "sk_test_" + uuid.uuid4().hex


@pytest.fixture
def hakuna_sim(hakuna_simulator: object, request: pytest.FixtureRequest) -> Iterator[Target]:
    """The session's simulator, with a fresh key (an empty sandbox, or the marker's
    snapshot) for this test."""
    key = fresh_key()
    controls = SimControls(hakuna_simulator.base_url, key)  # type: ignore[attr-defined]
    marker = request.node.get_closest_marker("hakuna_snapshot")
    if marker is not None:
        controls.import_state(load_snapshot(*marker.args), rebase=marker.kwargs.get("rebase", True))
    yield Target(hakuna_simulator.base_url, key, controls)  # type: ignore[attr-defined]
    _gather(request.config, controls)
    # The key was this test's alone: free its sandbox, so a long session stays flat.
    with contextlib.suppress(Exception):
        controls.forget()
    controls.close()


@pytest.fixture
def hakuna_client(hakuna_sim: Target) -> Iterator[HakunaClient]:
    with hakuna_sim.client() as client:
        yield client


@pytest.fixture
def hakuna_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    base_url = request.config.getoption("--hakuna-base-url") or os.environ.get("HAKUNA_BASE_URL")
    if not base_url:
        yield request.getfixturevalue("hakuna_sim")
        return
    api_key = request.config.getoption("--hakuna-api-key") or os.environ.get("HAKUNA_API_KEY")
    if not api_key:
        pytest.fail("--hakuna-base-url needs --hakuna-api-key (or HAKUNA_API_KEY)")
    controls = SimControls(base_url, api_key)
    available = controls.available()
    yield Target(api_base_url(base_url), api_key, controls if available else None)
    if available:
        _gather(request.config, controls)
    controls.close()
