"""`hakuna-sim serve` as a user starts it: a real process on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from contract_tests import guide
from simulator.report.readiness import ITEMS
from simulator.report.rules import RULES, key_tag
from tests.serving import free_port, start, wait_ready


def test_serve_answers_the_guide_prints_a_curl_line_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = start("--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        response = httpx.get(base + "/sandbox/plans", params=guide.PLAN_QUERY, headers={"Bearer": guide.API_KEY})
        assert response.status_code == 200 and response.json() == guide.PLAN_RESPONSE
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert f"{base}/sandbox" in out
    assert (
        f"curl -H 'Authorization: Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc' -H 'Hakuna-Version: v2.0' '{base}/sandbox/plans?"
    ) in out


def test_broken_catalog_stops_start_up_with_the_path(tmp_path: Path) -> None:
    broken = tmp_path / "shop.json"
    broken.write_text(json.dumps({"plans": [{"merchant_product_id": ""}]}))
    process = start("--port", str(free_port()), "--catalog", str(broken), cwd=tmp_path)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert f"{broken}: plans[0].merchant_product_id must be a non-empty string without control characters" in err


def test_bad_flag_values_are_refused(tmp_path: Path) -> None:
    for flags, message in (
        (("--refund-windows", "14"), "DAYS,MONTHS"),
        (("--rate-limit", "0/s"), "above 0"),
        (("--rate-limit", "fast"), "requests a second"),
        (("--faults", "nope.json"), "nope.json"),
    ):
        process = start(*flags, cwd=tmp_path)
        _, err = process.communicate(timeout=20)
        assert process.returncode == 2 and message in err, (flags, err)


def test_contract_test_needs_a_key_for_another_server(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("HAKUNA_API_KEY", raising=False)
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "contract-test", "--base-url", "http://127.0.0.1:9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--api-key" in result.stderr


@pytest.mark.integration  # a served process
def test_report_prints_findings_writes_junit_and_fails_on_threshold(tmp_path: Path) -> None:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        key = "sk_test_reportcommand1"
        # One guide quirk (a warning) and one refused event (an error).
        httpx.get(base + "/sandbox/plans", params=guide.PLAN_QUERY, headers={"Bearer": key, "Hakuna-Version": "v2.0"})

        def report(*extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "simulator", "report", "--base-url", base, "--api-key", key, *extra],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=30,
            )

        clean = report()
        assert clean.returncode == 0 and "1 warning(s)" in clean.stdout and "auth-bearer-header" in clean.stdout
        assert report("--fail-on", "warning").returncode == 1
        # The JUnit file fails exactly when the command exits 1, with the same --fail-on.
        for fail_on, code, failures in (("error", 0, 0), ("warning", 1, 1)):
            only_warnings = report("--junit-xml", str(tmp_path / f"{fail_on}.xml"), "--fail-on", fail_on)
            assert only_warnings.returncode == code, only_warnings.stdout
            xml = ElementTree.parse(tmp_path / f"{fail_on}.xml").getroot()
            assert xml.get("failures") == str(failures) and len(xml.findall("testcase")) == len(RULES) + len(ITEMS)
            case = next(c for c in xml.findall("testcase") if c.get("name") == "auth-bearer-header")
            assert (case.find("failure") is not None) == bool(failures)
            assert "Authorization: Bearer" in "".join(case.itertext())
        httpx.post(
            base + "/sandbox/events",
            json={"type": "order_cancelled", "payload": {"order_id": "nope", "cancelled_at": "2024-01-01T00:00:00Z"}},
            headers={"Authorization": f"Bearer {key}", "Hakuna-Version": "v2.0"},
        )
        failing = report("--junit-xml", str(tmp_path / "report.xml"))
        assert failing.returncode == 1 and "ERROR   refused-request" in failing.stdout
        xml = ElementTree.parse(tmp_path / "report.xml").getroot()
        assert xml.get("failures") == "1" and len(xml.findall("testcase")) == len(RULES) + len(ITEMS)
        assert xml.get("name") == f"hakuna-sim conformance, key {key_tag(key)}"
        from_environment = subprocess.run(
            [sys.executable, "-m", "simulator", "report"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "HAKUNA_BASE_URL": base, "HAKUNA_API_KEY": key},
        )
        assert from_environment.returncode == 1 and "ERROR   refused-request" in from_environment.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    unreachable = subprocess.run(
        [sys.executable, "-m", "simulator", "report", "--base-url", base, "--api-key", key],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unreachable.returncode == 2 and "no simulator" in unreachable.stderr


@pytest.mark.integration  # a served process
def test_contract_test_runs_from_the_repository_root_against_a_running_server(tmp_path: Path) -> None:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        root = Path(__file__).resolve().parents[2]  # holds a contract_tests folder of its own
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "simulator",
                "contract-test",
                "--base-url",
                f"http://127.0.0.1:{port}/sandbox",
                "--api-key",
                "sk_test_fromtheroot1",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert " passed" in result.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
