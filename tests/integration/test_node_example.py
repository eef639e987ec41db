"""examples/node, as a JavaScript shop runs it: `npm ci`, then `npm test`, which
generates types from the served document with openapi-typescript, type-checks the
storefront and ERP against them with tsc, and runs the guide's flows with node's test
runner, failing on any conformance finding."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.serving import serving

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
NPM = shutil.which("npm")


def _npm(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NPM), *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.skipif(NPM is None or shutil.which("node") is None, reason="needs Node.js 20 and npm")
def test_the_node_shop_runs_the_guide_flows_without_a_finding(tmp_path: Path) -> None:
    shop = tmp_path / "node"
    shutil.copytree(EXAMPLE, shop, ignore=shutil.ignore_patterns("node_modules", "hakuna-api.d.ts"))
    installed = _npm("ci", "--no-audit", "--no-fund", cwd=shop)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    key = "sk_test_nodeci0000000001"
    with serving(tmp_path) as base:
        run = _npm("test", cwd=shop, env={**os.environ, "HAKUNA_BASE_URL": base})
        # As the CI recipes run it: one key for the whole run, whose readiness the last test asks.
        one_key = _npm("test", cwd=shop, env={**os.environ, "HAKUNA_BASE_URL": base, "HAKUNA_API_KEY": key})
        report = httpx.get(base + "/__sim/report", headers={"Authorization": f"Bearer {key}", "Hakuna-Version": "v2.0"}).json()
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert "hakuna-api.d.ts" in run.stdout  # the types were generated from the served document
    assert "# fail 0" in run.stdout and "# pass 6" in run.stdout and "# skipped 1" in run.stdout, run.stdout[-3000:]
    assert one_key.returncode == 0 and "# pass 7" in one_key.stdout, one_key.stdout[-5000:]
    assert report["findings"] == [] and report["readiness"]["ready"] is True, report["readiness"]
