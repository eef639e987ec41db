"""examples/node, as a JavaScript shop runs it: `npm ci`, then `npm test`, which
generates types from the served document with openapi-typescript, type-checks the
storefront and ERP against them with tsc, and runs the guide's flows with node's test
runner, failing on any conformance finding."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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

    with serving(tmp_path) as base:
        run = _npm("test", cwd=shop, env={**os.environ, "HAKUNA_BASE_URL": base})
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-3000:]
    assert "hakuna-api.d.ts" in run.stdout  # the types were generated from the served document
    assert "# fail 0" in run.stdout and "# pass 4" in run.stdout, run.stdout[-3000:]
