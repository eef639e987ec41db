"""What `serve --state PATH` costs: the same requests against a simulator keeping state in
memory and one keeping it in an SQLite file, in interleaved rounds.

    python benchmarks/state.py [--seconds 4] [--rounds 3] [--connections 16]

Targets (docs/fidelity.md, "State file"): cart updates with --state at 50% or more of
the in-memory rate, plan look-ups unchanged. Every request of either server also writes
its journal entry; with --state each request waits for a commit it shares with the
requests of a few turns of the event loop (group commit, on the loop's thread).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PLANS_PATH, ROOT, SERVER_CPU, cart, free_port, httpx_load, wait_first_200, wrk  # noqa: E402


def start(port: int, state: str | None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "simulator", "serve", "--port", str(port)]
    if state:
        cmd += ["--state", state]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(SERVER_CPU + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    load = wrk if shutil.which("wrk") else httpx_load
    folder = tempfile.mkdtemp()
    state_file = os.path.join(folder, "state.db")
    ports = {"memory": free_port(), "--state": free_port()}
    servers = {"memory": start(ports["memory"], None), "--state": start(ports["--state"], state_file)}
    cases = [
        ("plan look-up", PLANS_PATH, None),
        ("cart update, 3 lines", "/sandbox/carts", cart(3)),
        ("cart update, 50 lines", "/sandbox/carts", cart(50)),
    ]
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        for port in ports.values():
            wait_first_200(port)
        for _ in range(args.rounds):
            for name, path, body in cases:
                for kind, port in ports.items():
                    samples.setdefault((name, kind), []).append(load(port, path, args.seconds, args.connections, body))
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
    size = sum(p.stat().st_size for p in Path(folder).iterdir())
    shutil.rmtree(folder)
    print(f"{args.connections} connections, {args.rounds} interleaved rounds of {args.seconds} s; medians")
    print(f"{'':24}{'memory req/s':>14}{'--state req/s':>15}{'ratio':>8}{'p99 memory':>12}{'p99 --state':>13}")
    for name, _, _ in cases:
        memory = samples[(name, "memory")]
        kept = samples[(name, "--state")]
        m_rps, s_rps = (statistics.median(r["rps"] for r in rows) for rows in (memory, kept))
        m_p99, s_p99 = (statistics.median(r["p99"] for r in rows) for rows in (memory, kept))
        print(f"{name:24}{m_rps:14.0f}{s_rps:15.0f}{s_rps / m_rps:8.0%}{m_p99:10.1f}ms{s_p99:11.1f}ms")
    print(f"state file after the run: {size / 1024 / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
