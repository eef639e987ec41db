"""Schemathesis' own command line against a served simulator, as a merchant runs it:
every check (`--checks all`, `positive_data_acceptance` included), every phase
(examples, coverage, fuzzing, stateful through the document's links), configured only by
the repository's `schemathesis.toml` and the hooks it names."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contract_tests import schemathesis_hooks as hooks
from tests.serving import serving

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")


@pytest.mark.skipif(SCHEMATHESIS is None, reason="the schemathesis command is part of the test extras")
def test_every_check_in_every_phase_passes(tmp_path: Path) -> None:
    with serving(tmp_path) as base:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--no-color",
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                "10",
                "--seed",
                "20261127",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in run.stdout, run.stdout[-3000:]
    assert "9/9" in run.stdout  # every operation was selected and tested


def _case(mode: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    generation = SimpleNamespace(mode=SimpleNamespace(is_positive=mode == "positive"))
    return SimpleNamespace(meta=SimpleNamespace(generation=generation), body=body, headers=headers)


def _response(status: int, code: str) -> Any:
    text = json.dumps({"error": {"error_code": code, "validation_errors": ["x"]}})
    return SimpleNamespace(status_code=status, content=text.encode(), text=text)


def test_a_valid_request_refused_as_invalid_fails_the_check() -> None:
    with pytest.raises(AssertionError, match="refused as invalid"):
        hooks.valid_data_is_not_called_invalid(None, _response(400, "invalid_request_parameters"), _case("positive"))


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("positive", 400, "order_already_exists"),  # a business rule: allowed
        ("positive", 200, "none"),
        ("negative", 400, "invalid_request_parameters"),  # invalid data, refused as invalid
    ],
)
def test_business_refusals_and_negative_cases_pass_the_check(mode: str, status: int, code: str) -> None:
    assert hooks.valid_data_is_not_called_invalid(None, _response(status, code), _case(mode)) is None


def test_a_valid_idempotency_key_is_made_unique_and_a_broken_one_is_left_alone() -> None:
    seen = set()
    for _ in range(3):
        case = _case("positive", headers={"hakuna-idempotency-key": "0"})
        hooks.before_call(None, case, {})
        seen.add(case.headers["hakuna-idempotency-key"])
    assert len(seen) == 3 and "0" not in seen
    broken = _case("negative", headers={"Hakuna-Idempotency-Key": ""})
    hooks.before_call(None, broken, {})
    assert broken.headers["Hakuna-Idempotency-Key"] == ""
    too_long = _case("negative", headers={"Hakuna-Idempotency-Key": "k" * 256})
    hooks.before_call(None, too_long, {})
    assert too_long.headers["Hakuna-Idempotency-Key"] == "k" * 256


def test_repeated_line_ids_are_renamed_in_valid_bodies_only() -> None:
    cart = {"line_items": [{"id": "a"}, {"id": "a"}, {"id": "b"}]}
    hooks.before_call(None, _case("positive", body=cart), {})
    assert [line["id"] for line in cart["line_items"]] == ["a", "a~1", "b"]
    event: dict[str, Any] = {"type": "order_placed", "payload": {"line_items": [{"id": "0"}, {"id": "0"}]}}
    hooks.before_call(None, _case("positive", body=event), {})
    assert [line["id"] for line in event["payload"]["line_items"]] == ["0", "0~1"]
    negative = {"line_items": [{"id": "a"}, {"id": "a"}]}
    hooks.before_call(None, _case("negative", body=negative), {})
    assert [line["id"] for line in negative["line_items"]] == ["a", "a"]
