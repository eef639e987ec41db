"""`hakuna-sim parity`: the contract flows against two servers (say the simulator and
the real sandbox), every answer compared, normalized as shadow mode normalizes them
(generated ids, the servers' own times, and here every timestamp). Exit 1 on any
difference. Tests that ran on one side only (those needing the simulator's /__sim
controls skip against the real sandbox) are named but not compared."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from contract_tests.recording import RECORD, UNIQUE_SEED
from contract_tests.run import pytest_command
from simulator.report.parity import Answer, differences, fidelity_rule


def _run(base_url: str, api_key: str, record: Path, seed: str) -> int:
    env = {**os.environ, RECORD: str(record), UNIQUE_SEED: seed}
    return subprocess.call(
        pytest_command(base_url, api_key, None, ["-q", "-p", "no:randomly"]),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _load(record: Path) -> dict[str, list[dict[str, Any]]]:
    by_test: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if record.exists():
        for line in record.read_text(encoding="utf-8").splitlines():
            exchange = json.loads(line)
            by_test[exchange["test"]].append(exchange)
    return by_test


_GENERATED_IN_PATH = re.compile(r"(evt|prt|req)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _generic(path: str) -> str:
    """A path with the ids each server generated (an event's, asked back) set aside."""
    return _GENERATED_IN_PATH.sub(lambda m: f"<{m.group(1)} id>", path)


def compare(a: dict[str, list[dict[str, Any]]], b: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Differences by test (only tests both sides ran)."""
    found: dict[str, list[str]] = {}
    for test in sorted(set(a) & set(b)):
        out = []
        for x, y in zip(a[test], b[test], strict=False):
            if (x["method"], _generic(x["path"])) != (y["method"], _generic(y["path"])):
                out.append(
                    f"request {x['seq']}: base sent {x['method']} {x['path']}, compare sent "
                    f"{y['method']} {y['path']} (the flows took another turn)"
                )
                break
            mine, theirs = Answer(x["status"], x["body"].encode()), Answer(y["status"], y["body"].encode())
            found_here = differences(mine, theirs, ("base", "compare"), timestamps=True)
            if found_here:
                rule = fidelity_rule(x["method"], "/sandbox" + x["path"], mine, theirs)
                out.append(f"{x['method']} {x['path']}: {'; '.join(found_here)} ({rule})")
        if len(a[test]) != len(b[test]):
            out.append(f"base made {len(a[test])} request(s), compare {len(b[test])}")
        if out:
            found[test] = out
    return found


def junit(tests: list[str], found: dict[str, list[str]]) -> str:
    cases = []
    for test in tests:
        inner = ""
        if test in found:
            text = "\n".join(found[test])
            inner = f"<failure message={quoteattr(found[test][0][:200])}>{escape(text)}</failure>"
        cases.append(f'<testcase classname="hakuna-sim.parity" name={quoteattr(test)}>{inner}</testcase>')
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name="hakuna-sim parity" tests="{len(tests)}" failures="{len(found)}" errors="0">'
        + "".join(cases)
        + "</testsuite>\n"
    )


def run_parity(base_url: str, compare_url: str, api_key: str, compare_api_key: str | None, junit_xml: str | None) -> int:
    seed = uuid.uuid4().hex  # the same ids on both sides, fresh ones for every parity run
    with tempfile.TemporaryDirectory() as folder:
        first, second = Path(folder) / "base.jsonl", Path(folder) / "compare.jsonl"
        _run(base_url, api_key, first, seed)
        _run(compare_url, compare_api_key or api_key, second, seed)
        a, b = _load(first), _load(second)
    for url, recorded in ((base_url, a), (compare_url, b)):
        if not recorded:
            print(
                f"hakuna-sim parity: the contract flows made no request to {url} (is it up, and the key right?); "
                "nothing was compared",
                file=sys.stderr,
            )
            return 2
    found = compare(a, b)
    both = sorted(set(a) & set(b))
    only = sorted(set(a) ^ set(b))
    print(
        f"hakuna-sim parity: {len(both)} flow(s) compared, {sum(len(a[t]) for t in both)} request(s); {len(found)} flow(s) differ"
    )
    for test, lines in found.items():
        print(f"\n{test}")
        for line in lines:
            print(f"  {line}")
    if only:
        print(f"\nran against one server only (not compared): {', '.join(only)}")
    if junit_xml:
        Path(junit_xml).write_text(junit(both, found), encoding="utf-8")
    return 1 if found else 0
