"""The contract tests must fail against servers that are subtly wrong. Each case breaks
one behaviour of a simulator running in this process, then runs `hakuna-sim
contract-test` against it over its socket; the unbroken server must pass."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from contract_tests.server import BackgroundSimulator
from simulator import facade as sandbox
from simulator.domain import carts, matching, orders
from simulator.domain.errors import SimError
from simulator.domain.idempotency import IdempotencyStore
from simulator.domain.ids import IdFactory
from simulator.web import transport

pytestmark = pytest.mark.integration  # the contract tests in subprocesses against served simulators


def _no_quantity_actions(real: Callable[..., Any]) -> Callable[..., Any]:
    def reconcile(*args: Any) -> carts.Reconciliation:
        result = real(*args)
        kept = tuple(s for s in result.steps if s[0] != carts.UPDATE)
        return carts.Reconciliation(result.connections, kept, result.removal_reasons)

    return reconcile


def _order_body_with_extra_field(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda self: {**real(self), "total_amount": 0}


_real_offer = matching.offer
WRONG: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "plan quantity does not follow its product": lambda mp: mp.setattr(
        sandbox, "reconcile", _no_quantity_actions(carts.reconcile)
    ),
    "event ids are not uuid4": lambda mp: mp.setattr(
        IdFactory, "event_id", lambda self: "evt-" + self.uuid4().replace("-4", "-1", 1)
    ),
    "cancellation after fulfilment is accepted": lambda mp: mp.setattr(
        orders, "_cancel", lambda order, at: setattr(order, "cancelled_at", at)
    ),
    "refunds leave protections active": lambda mp: mp.setattr(orders, "_end_protections", lambda *args: None),
    "order state has an undocumented field": lambda mp: mp.setattr(
        orders.Order, "as_body", _order_body_with_extra_field(orders.Order.as_body)
    ),
    "idempotency keys are ignored": lambda mp: mp.setattr(IdempotencyStore, "replay", lambda self, key, print_, now: None),
    "unknown orders answer 400 instead of 404": lambda mp: mp.setattr(
        sandbox, "not_found", lambda message: SimError("invalid_request_parameters", message)
    ),
    "Hakuna-Version is not echoed": lambda mp: mp.setattr(transport, "api_version", lambda headers, strict: (None, [])),
    "a plan's price ignores the band": lambda mp: mp.setattr(
        matching,
        "offer",
        lambda catalog, product: {
            **(answer := _real_offer(catalog, product)),
            "plans": [{**p, "price_amount": p["price_amount"] + 1} for p in answer["plans"]],
        },
    ),
}


def contract_test(base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "contract-test",
            "--base-url",
            base_url,
            "--api-key",
            "sk_test_wrongserver01",
            "--",
            "-x",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_contract_tests_pass_against_the_simulator_over_a_socket() -> None:
    with BackgroundSimulator() as server:
        result = contract_test(server.base_url)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_the_contract_tests_fail_against_a_subtly_wrong_server(monkeypatch: pytest.MonkeyPatch, wrong: str) -> None:
    WRONG[wrong](monkeypatch)
    with BackgroundSimulator() as server:
        result = contract_test(server.base_url)
    assert result.returncode == 1, f"the contract tests passed against a server where {wrong}"
    assert "failed" in result.stdout
