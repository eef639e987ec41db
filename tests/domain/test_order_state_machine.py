"""Random order event sequences, valid and invalid, through the domain facade. After every
step: quantities within bounds, one protection per plan unit, statuses consistent with
the quantities, and a refused event changed nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from simulator.config import SimConfig
from simulator.contract.catalog import load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.contract.schemas import validate
from simulator.domain.errors import SimError
from simulator.facade import Sandbox
from tests.conftest import cancelled, fulfilled, line, placed, refunded

CATALOG = load_catalog(default_catalog_path())
START = datetime(2024, 1, 10, tzinfo=UTC)
LINE_IDS = ["p1", "x1", "p2", "x2", "c", "p1", "x1", "p2", "x2", "ghost"]  # mostly real lines
QUANTITY = st.sampled_from([1, 1, 1, 2, 3])


def stamp(days: int) -> str:
    return (START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class OrderMachine(RuleBasedStateMachine):
    @initialize(q1=st.integers(1, 3), q2=st.integers(1, 3), plans1=st.integers(0, 3), plans2=st.integers(0, 3))
    def place(self, q1: int, q2: int, plans1: int, plans2: int) -> None:
        self.sandbox = Sandbox(SimConfig(catalog=CATALOG))
        self.tenant = self.sandbox.tenants.get("sk_test_statemachine")
        self.clock = 1
        lines = [line("p1", "prd-iphone14", q1), line("p2", "prd-macbook-air-m2", q2), line("c", "prd-bb-32", 1)]
        if plans1:
            lines.append(line("x1", "pl-prd-hakuna", plans1, reference="prd-iphone14"))
        if plans2:
            lines.append(line("x2", "pl-prd-hakuna-laptop-2y", plans2, reference="prd-macbook-air-m2"))
        self.refused = 0
        self.send(placed("o", lines, placed_at=stamp(0)))

    def send(self, body: dict[str, Any]) -> bool:
        assert validate("event-request.json", body) == []
        before = json.dumps(self.tenant.orders["o"].as_body()) if "o" in self.tenant.orders else None
        events_before = len(self.tenant.events)
        try:
            self.sandbox.publish_event(self.tenant, body)
        except SimError as error:
            assert error.status in (400, 404) and error.messages
            after = json.dumps(self.tenant.orders["o"].as_body()) if "o" in self.tenant.orders else None
            assert after == before, "a refused event changed the order"
            assert len(self.tenant.events) == events_before
            self.refused += 1
            return False
        return True

    def tick(self, days: int) -> str:
        self.clock += days
        return stamp(self.clock)

    @rule(items=st.lists(st.tuples(st.sampled_from(LINE_IDS), QUANTITY), min_size=1, max_size=2), days=st.integers(0, 3))
    def fulfil(self, items: list[tuple[str, int]], days: int) -> None:
        self.send(fulfilled("o", *items, at=self.tick(days)))

    @rule(
        items=st.lists(st.tuples(st.sampled_from(LINE_IDS), QUANTITY), min_size=1, max_size=2),
        days=st.sampled_from([0, 1, 2, 5, 13, 20, 40, 100]),
    )
    def refund(self, items: list[tuple[str, int]], days: int) -> None:
        self.send(refunded("o", *items, at=self.tick(days)))

    @rule(attempt=st.integers(0, 3))
    def cancel(self, attempt: int) -> None:
        if attempt == 0:  # cancelling ends most sequences' interest: try it a quarter as often
            self.send(cancelled("o", at=self.tick(0)))

    @invariant()
    def quantities_and_protections_agree(self) -> None:
        order = self.tenant.orders.get("o")
        if order is None:
            return
        lines = {l.id: l for l in order.lines}
        for l in order.lines:
            assert 0 <= l.fulfilled_quantity <= l.quantity
            assert 0 <= l.refunded_quantity <= l.quantity
        for c in order.connections:
            plan, product = lines[c.plan_line_item_id], lines[c.product_line_item_id]
            mine = [p for p in order.protections if p.plan_line_item_id == plan.id]
            assert len(mine) == plan.quantity
            count = {s: sum(1 for p in mine if p.status == s) for s in ("pending", "active", "refunded", "cancelled")}
            assert count["refunded"] == plan.refunded_quantity
            assert count["active"] + sum(1 for p in mine if p.status == "refunded" and p.starts_at) <= product.fulfilled_quantity
            if order.status == "cancelled":
                assert count["pending"] == count["active"] == 0
            else:
                assert count["cancelled"] == 0
            for p in mine:
                assert (p.starts_at is None) == (
                    p.status in ("pending", "cancelled") or (p.status == "refunded" and p.ends_at is None)
                )
        assert len(order.protections) == sum(lines[c.plan_line_item_id].quantity for c in order.connections)


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(max_examples=150, stateful_step_count=25, deadline=None)
