"""`hakuna-sim serve` as a user starts it: a real process on a free port."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from contract_tests import guide


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "simulator", "serve", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the simulator did not start")


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
    assert f"curl -H 'Authorization: Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc' '{base}/sandbox/plans?" in out


def test_broken_catalog_stops_start_up_with_the_path(tmp_path: Path) -> None:
    broken = tmp_path / "shop.json"
    broken.write_text(json.dumps({"plans": [{"merchant_product_id": ""}]}))
    process = start("--port", str(free_port()), "--catalog", str(broken), cwd=tmp_path)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert f"{broken}: plans[0].merchant_product_id must be a non-empty string" in err


def test_bad_flag_values_are_refused(tmp_path: Path) -> None:
    process = start("--refund-windows", "14", cwd=tmp_path)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "DAYS,MONTHS" in err
