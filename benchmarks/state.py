"""What `serve --state PATH` costs: the same requests against a simulator keeping state in
memory and one keeping it in an SQLite file, in interleaved rounds.

    python benchmarks/state.py [--seconds 4] [--rounds 3] [--connections 16]

Targets (docs/fidelity.md, "State file"): cart updates with --state at 50% or more of
the in-memory rate, plan look-ups unchanged. Then what each kind of request writes to
disk (the log and its copy into the file, from /proc/PID/io), one kind at a time over
100 keys, beside the bytes the request and its answer hold: what is written follows
what the request changed. Every request of either server also writes
its journal entry; with --state each request waits for a commit it shares with the
requests of a few turns of the event loop (group commit, on the loop's thread).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PLANS_PATH, ROOT, SERVER_CPU, cart, free_port, httpx_load, wait_first_200, wrk  # noqa: E402
from soak import written_bytes  # noqa: E402


def start(port: int, state: str | None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "simulator", "serve", "--port", str(port)]
    if state:
        cmd += ["--state", state]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(SERVER_CPU + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def written_by_kind(cases: list[tuple[str, str, dict[str, Any] | None]], requests: int = 1500, keys: int = 100) -> None:
    folder = tempfile.mkdtemp()
    port = free_port()
    server = start(port, os.path.join(folder, "state.db"))
    try:
        wait_first_200(port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def send(n: int, path: str, content: bytes | None) -> int:
                headers = {"Authorization": f"Bearer sk_test_written{n % keys:04d}", "Hakuna-Version": "v2.0"}
                if content is None:
                    answer = client.get(path, headers=headers)
                else:
                    answer = client.post(path, content=content, headers={**headers, "Content-Type": "application/json"})
                answer.raise_for_status()
                return len(content or b"") + len(answer.content)

            for n in range(keys):  # each key's first request writes its own row too
                send(n, PLANS_PATH, None)
            print(f"\nwritten to disk per request, {requests} requests over {keys} keys, one kind at a time")
            print(f"{'':24}{'written':>10}{'request + answer':>18}")
            for name, path, body in cases:
                content = None if body is None else json.dumps(body).encode()
                time.sleep(1.5)  # the checkpoint thread's copy of the requests before
                before = written_bytes(server.pid)
                held = sum(send(n, path, content) for n in range(requests))
                time.sleep(1.5)  # and of these
                per = (written_bytes(server.pid) - before) / requests
                print(f"{name:24}{per / 1024:8.1f} KB{held / requests / 1024:16.1f} KB")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder)


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
    cases: list[tuple[str, str, dict[str, Any] | None]] = [
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
    written_by_kind([*cases, ("cart update, 300 lines", "/sandbox/carts", cart(300))])


if __name__ == "__main__":
    main()
