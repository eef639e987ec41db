"""examples/php, as a PHP shop runs it: Debian's PHPUnit in the example's folder against
a served simulator, each test on its own key reset through the control API and failing on
any conformance finding; and against servers subtly wrong, where it must fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.domain import carts, orders
from simulator.web.app import create_app
from tests.serving import Served, serving

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "php"
PHPUNIT = shutil.which("phpunit")
pytestmark = pytest.mark.skipif(
    PHPUNIT is None or shutil.which("php") is None, reason="needs php-cli, php-curl and phpunit (.ci/run installs them)"
)


def phpunit(base: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PHPUNIT), "--colors=never"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HAKUNA_BASE_URL": base + "/sandbox", **env},
    )


def test_the_php_shop_runs_the_guides_whole_loop_without_a_finding(tmp_path: Path) -> None:
    with serving(tmp_path) as base:
        per_test = phpunit(base)
        one_key = phpunit(base, HAKUNA_API_KEY="sk_test_phpci00000001")
    assert per_test.returncode == 0, per_test.stdout[-4000:] + per_test.stderr[-2000:]
    assert "Tests: 7" in per_test.stdout and "Skipped: 1" in per_test.stdout, per_test.stdout[-2000:]
    # One key for the whole run, as the CI recipes do: its last test requires go-live readiness.
    assert one_key.returncode == 0 and "OK (7 tests" in one_key.stdout, one_key.stdout[-4000:]


def _update_actions_without_quantity(real: Any) -> property:
    def actions(self: carts.Reconciliation) -> tuple[dict[str, Any], ...]:
        return tuple({"type": a["type"], "payload": {"line_item_id": a["payload"]["line_item_id"]}} for a in real.fget(self))

    return property(actions)


WRONG: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "update actions lose line_item_quantity": lambda mp: mp.setattr(
        carts.Reconciliation, "actions", _update_actions_without_quantity(carts.Reconciliation.actions)
    ),
    "orders never get protections": lambda mp: mp.setattr(orders, "_assign_units", lambda lines, protected, refusals: []),
}


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_the_php_shop_fails_against_a_subtly_wrong_server(monkeypatch: pytest.MonkeyPatch, wrong: str) -> None:
    WRONG[wrong](monkeypatch)
    with Served(create_app(SimConfig(catalog=load_catalog(default_catalog_path())))) as served:
        run = phpunit(served.root)
    assert run.returncode != 0, f"the PHP shop's tests passed against a server where {wrong}"
    assert "FAILURES!" in run.stdout or "ERRORS!" in run.stdout, run.stdout[-2000:]
