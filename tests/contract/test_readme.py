"""The README's walk-through, run as a reader runs it: its shell blocks, verbatim, with
curl against a served simulator. Every call must succeed, and the integration it shows
must earn an empty conformance report. The `serve` banner's curl line too."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import free_port, start, wait_ready

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
README_BASE = "http://127.0.0.1:8765"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def walk_through() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Walk-through") : text.index("\n## ", text.index("## Walk-through") + 1)]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)


def run_shell(script: str) -> list[tuple[int, str]]:
    """Runs `script` with curl reporting each answer's status; (status, body) per call."""
    wrapper = "curl() { command curl -sS -w '\\n@@%{http_code}@@\\n' \"$@\"; }\n"
    done = subprocess.run(["bash", "-e", "-c", wrapper + script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [(int(status), body.strip()) for body, status in re.findall(r"(.*?)\n@@(\d+)@@\n", done.stdout, flags=re.S)]


def test_the_walk_through_runs_verbatim_and_ends_with_an_empty_report(served: str) -> None:
    script = walk_through()
    assert script.count(README_BASE) == 1  # only the base URL is changed, to this server's port
    answers = run_shell(script.replace(README_BASE, served))
    assert len(answers) == 11 and all(status == 200 for status, _ in answers), answers
    report = httpx.get(served + "/__sim/report", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert report["findings"] == [] and report["summary"]["errors"] == report["summary"]["warnings"] == 0
    assert (
        answers[-1][1]
        == httpx.get(served + "/__sim/report", headers={"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v2.0"}).text
    )


def test_the_banners_curl_line_earns_no_finding(tmp_path: Path) -> None:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    line = next(l for l in out.splitlines() if l.startswith("try: curl"))
    process = start("--port", str(port), cwd=tmp_path)
    try:
        wait_ready(base)
        [(status, body)] = run_shell(line.removeprefix("try: "))
        assert status == 200 and '"merchant_product_id":"pl-prd-hakuna"' in body
        report = httpx.get(base + "/__sim/report", headers={"Authorization": f"Bearer {KEY}"}).json()
        assert report["findings"] == []
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
