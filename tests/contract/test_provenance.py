"""Provenance (docs/contract.md §9): every rule has a stated source, documents stay
inside the project, and nothing presents a simulator's choice as the real API's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from simulator.contract.openapi import served_document
from simulator.domain.errors import DOCUMENTED_CODES, STATUS_BY_CODE
from simulator.report.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
FIDELITY = (ROOT / "docs" / "fidelity.md").read_text(encoding="utf-8")


def table_row(first_cell: str) -> str:
    rows = [l for l in FIDELITY.splitlines() if l.startswith(f"| `{first_cell}`")]
    assert rows, f"docs/fidelity.md has no row for {first_cell}"
    return rows[0]


def test_every_report_rule_is_listed_with_its_severity_and_source() -> None:
    for rule in RULES:
        cells = [c.strip() for c in table_row(rule.id).split("|")[1:-1]]
        assert cells[1] == rule.severity, rule.id
        assert cells[2].startswith(rule.source), (rule.id, cells[2])


def test_every_error_code_is_listed_and_documented_ones_say_docs() -> None:
    codes = (
        set(STATUS_BY_CODE)
        | DOCUMENTED_CODES
        | {
            "order_already_exists",
            "order_already_linked",
            "cart_checked_out",
            "user_session_mismatch",
            "plan_not_connected",
            "plan_quantity_exceeds_product",
            "line_item_not_found",
            "quantity_exceeds_ordered",
            "order_cancelled",
            "refund_window_expired",
            "idempotency_key_reused",
            "order_too_large",
            "sandbox_full",
        }
    )
    error_rows = FIDELITY[FIDELITY.index("## Errors") : FIDELITY.index("## Plan matching")]
    for code in codes:
        row = next((l for l in error_rows.splitlines() if f"`{code}`" in l), None)
        assert row is not None, f"docs/fidelity.md does not list {code}"
        if code in DOCUMENTED_CODES:
            assert "| docs" in row, row


def test_every_served_operation_carries_its_source() -> None:
    for path, operations in served_document()["paths"].items():
        for method, operation in operations.items():
            source = operation["x-source"]
            assert source["origin"] in ("guide", "docs", "simulator"), (path, method)
            assert source["text"] and "Source: " + source["text"] in operation["description"]


def test_the_project_sends_no_reader_outside_it() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (an unpacked source distribution): read what is there
        tracked = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    outside = re.compile(r"\.\./shared|CONTRACT\.md|hakuna-integration-guide\.txt")
    offenders = [
        name
        for name in tracked
        if name.endswith((".py", ".md", ".json", ".toml", ".txt"))
        and outside.search((ROOT / name).read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


def test_no_simulator_rule_speaks_for_the_real_api() -> None:
    for rule in RULES:
        if rule.source == "simulator":
            assert "real API" not in rule.summary
