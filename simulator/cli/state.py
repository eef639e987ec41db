"""`hakuna-sim state export|import`: a key's whole state to a file and back, through a
running simulator's GET and PUT /__sim/state (schemas/sim-state.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from simulator.cli.report import ask_simulator, sim_headers, simulator_and_key


def export_state(base_url: str | None, api_key: str | None, file: str) -> int:
    found = simulator_and_key("state export", base_url, api_key)
    if found is None:
        return 2
    root, key = found
    response = ask_simulator("state export", "GET", f"{root}/__sim/state", headers=sim_headers(key))
    if response is None:
        return 2
    if file == "-":
        sys.stdout.buffer.write(response.content + b"\n")
    else:
        try:
            Path(file).write_bytes(response.content)
        except OSError as exc:
            print(f"hakuna-sim state export: cannot write {file} ({exc})", file=sys.stderr)
            return 2
        print(f"exported the state of {key[:12]}… to {file} ({len(response.content)} bytes)")
    return 0


def import_state(base_url: str | None, api_key: str | None, file: str, rebase: bool) -> int:
    found = simulator_and_key("state import", base_url, api_key)
    if found is None:
        return 2
    root, key = found
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        print(f"hakuna-sim state import: cannot read {file} ({exc})", file=sys.stderr)
        return 2
    response = ask_simulator(
        "state import",
        "PUT",
        f"{root}/__sim/state?rebase={'true' if rebase else 'false'}",
        refusals=True,  # explained below, problem by problem
        content=body,
        headers={**sim_headers(key), "Content-Type": "application/json"},
    )
    if response is None:
        return 2
    if response.status_code != 200:
        try:
            problems = response.json()["error"]["validation_errors"]
        except (ValueError, KeyError, TypeError):
            problems = [response.text]
        print(f"hakuna-sim state import: {file} was refused ({response.status_code}); nothing changed:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in response.json()["imported"].items())
    print(f"imported {file} into {key[:12]}…: {counts}")
    return 0
