"""A short team-server soak (benchmarks/soak.py), 15 s: a few dozen keys running whole flows
against `hakuna-sim serve --state`, checked for what does not depend on the machine's
speed: no 5xx, no correct request refused, no bad one accepted, every acknowledged write
found, memory within the factor of what the server says it tracks, and no eviction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # a served simulator under load

ROOT = Path(__file__).resolve().parents[2]
# RSS against the state the metrics say is tracked (docs/fidelity.md, "Limits"): a
# server's own code and libraries, plus at most this many times what it tracks.
BASELINE_MB = 80
FACTOR = 3


def test_a_short_soak_keeps_every_write_and_its_memory_in_bounds(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--keys", "24", "--minutes", "0.25", "--rate", "150"]
    command += ["--every", "5", "--state", str(tmp_path / "state.db"), "--json", str(out)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["server_errors"] == 0 and result["refused_correct_count"] == 0 and result["accepted_bad"] == []
    assert result["missing"] == []
    acknowledged = result["acknowledged"]
    assert acknowledged["orders"] > 24 and acknowledged["events"] > acknowledged["orders"]  # whole flows ran
    rows = result["rows"]
    assert len(rows) >= 3
    pooled = result["minutes"]["1"]  # the run's one minute, its windows pooled
    assert pooled["req_s"] > 0 and pooled["p99"] >= pooled["p99_flows"] > 0 and pooled["rss_mb"] > 0
    for row in rows:
        assert row["rss_mb"] <= BASELINE_MB + FACTOR * row["tracked_mb"], row
        assert row["evictions"] == 0, row
    assert result["sigterm_seconds"] < 3
