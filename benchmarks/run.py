"""Throughput, latency and start-up of the simulator beside a bare Starlette endpoint.

    python benchmarks/run.py [--seconds 5] [--connections 16]

Both servers run one uvicorn process with the same settings (uvloop, httptools, no
access log) on loopback. Load comes from wrk (Debian package `wrk`) when installed,
else from an async httpx client, which is much slower than either server, so its
figures bound the client, not the server. Prints requests/s, p50/p99 latency and the
ratio to the bare endpoint, cold start (process start to first 200), and the time to
reconcile a 1,000-line cart in process. Targets: look-ups >= 60% of the bare rate, a
50-line cart update >= 40% of a bare POST of the same body (printed against two bare
POSTs: one that never reads the body, one that parses it as JSON), p99 at 64 connections within
2x the bare endpoint's, another key's look-up p99 under 20 ms while reports are read in a
loop, cold start < 300 ms, 1,000-line cart < 20 ms. `benchmarks/growth.py` has the
growth curves and memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contract_tests import guide  # noqa: E402

KEY = "sk_test_benchmark01"
HEADERS = {"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v2.0", "Content-Type": "application/json"}
PLANS_PATH = "/sandbox/plans?" + urlencode(guide.PLAN_QUERY)


def cart(lines: int) -> dict[str, Any]:
    items = []
    for i in range(lines):
        if i % 2 == 1:
            items.append(
                {
                    "id": f"l{i}",
                    "quantity": 1,
                    "price_amount": 1200,
                    "product_id": "pl-prd-hakuna",
                    "custom_properties": {"product_reference": "prd-iphone14"},
                }
            )
        else:
            items.append(
                {
                    "id": f"l{i}",
                    "quantity": 1,
                    "price_amount": 112900,
                    "product_id": "prd-iphone14",
                    "product_title": "iPhone 14",
                    "product_brand": "Apple",
                }
            )
    return {"cart_id": f"cart-{lines}", "user_session_id": "bench", "cart_currency": "eur", "line_items": items}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# With taskset, the server gets core 0 and the load generator core 1, so neither
# steals the other's time (both servers are measured the same way).
SERVER_CPU = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
LOAD_CPU = ["taskset", "-c", "1"] if SERVER_CPU else []


def start(kind: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # As installed by pip, which compiles the modules: without bytecode files every start
    # would compile the simulator's sources again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if kind == "simulator":
        cmd = [sys.executable, "-m", "simulator", "serve", "--port", str(port)]
    else:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "bare_app.py"), str(port)]
    return subprocess.Popen(SERVER_CPU + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_first_200(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"nothing answered on port {port}")


def cold_start(kind: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        process = start(kind, port)
        wait_first_200(port)
        times.append(time.perf_counter() - t0)
        process.terminate()
        process.wait()
    return statistics.median(times) * 1000


def wrk(port: int, path: str, seconds: int, connections: int, body: dict[str, Any] | None) -> dict[str, float]:
    script_lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in HEADERS.items()]
    if body is not None:
        script_lines += ['wrk.method = "POST"', f"wrk.body = [[{json.dumps(body)}]]"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(script_lines) + "\n")
    out = subprocess.run(
        [
            *LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            script.name,
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses on {path}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%")}


def httpx_load(port: int, path: str, seconds: int, connections: int, body: dict[str, Any] | None) -> dict[str, float]:
    async def worker(client: httpx.AsyncClient, stop: float, latencies: list[float]) -> None:
        content = json.dumps(body).encode() if body is not None else None
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            if content is None:
                r = await client.get(path, headers=HEADERS)
            else:
                r = await client.post(path, content=content, headers=HEADERS)
            r.raise_for_status()
            latencies.append(time.perf_counter() - t0)

    async def run() -> dict[str, float]:
        latencies: list[float] = []
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*[worker(client, t0 + seconds, latencies) for _ in range(connections)])
            elapsed = time.perf_counter() - t0
        latencies.sort()
        return {
            "rps": len(latencies) / elapsed,
            "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        }

    return asyncio.run(run())


def look_ups_while_reports_are_read(port: int, seconds: int, connections: int, load) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Fills one key's journal to 10,000 entries, then measures another key's look-ups
    while a thread reads the first key's report again and again."""
    other = {"Authorization": "Bearer sk_test_reportreader1", "Hakuna-Version": "v2.0", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=other) as client:
        for i in range(5_000):
            client.post("/sandbox/carts", content=json.dumps(cart(3) | {"cart_id": f"r-{i % 50}"}))
            client.get(PLANS_PATH)
        stop = threading.Event()
        reads = [0]

        def read_reports() -> None:
            while not stop.is_set():
                client.get("/__sim/report", timeout=30).raise_for_status()
                reads[0] += 1

        reader = threading.Thread(target=read_reports)
        reader.start()
        try:
            result = load(port, PLANS_PATH, seconds, connections, None)
        finally:
            stop.set()
            reader.join()
    return {**result, "reports": reads[0]}


def reconcile_1000_lines() -> tuple[float, float]:
    """Median ms to reconcile a 1,000-line cart: the domain alone, and the whole facade
    call with schema validation."""
    from simulator.config import SimConfig
    from simulator.contract import schemas
    from simulator.contract.catalog import load_catalog
    from simulator.contract.resources import default_catalog_path
    from simulator.domain.carts import LineItem, reconcile
    from simulator.facade import Sandbox

    catalog = load_catalog(default_catalog_path())
    body = cart(1000)
    lines = [LineItem.from_body(l) for l in body["line_items"]]
    sandbox = Sandbox(SimConfig(catalog=catalog))
    tenant = sandbox.tenants.get(KEY)

    def timed(f) -> float:  # type: ignore[no-untyped-def]
        samples = []
        for _ in range(30):
            t0 = time.perf_counter()
            f()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1000

    domain = timed(lambda: reconcile(lines, catalog, lambda product_id: catalog.product(product_id, "eur")))
    full = timed(lambda: (schemas.validate("cart-update-request.json", body), sandbox.update_cart(tenant, body)))
    return domain, full


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    args = parser.parse_args()
    load = wrk if shutil.which("wrk") else httpx_load
    print(
        f"load generator: {'wrk' if load is wrk else 'httpx (async; bounds the client, not the server)'}; "
        f"{args.connections} connections, {args.rounds} interleaved rounds of {args.seconds} s, "
        f"{os.cpu_count()} cores{', server and load pinned to separate cores' if SERVER_CPU else ''}"
    )
    ports = {"bare": free_port(), "simulator": free_port()}
    processes = [start(kind, port) for kind, port in ports.items()]
    cases = [  # (name, server, path, body, baseline name, connections)
        ("bare GET", "bare", PLANS_PATH, None, "bare GET", args.connections),
        ("plan look-up", "simulator", PLANS_PATH, None, "bare GET", args.connections),
        ("bare GET, 64 connections", "bare", PLANS_PATH, None, "bare GET, 64 connections", 64),
        ("plan look-up, 64 connections", "simulator", PLANS_PATH, None, "bare GET, 64 connections", 64),
        ("bare POST 3-line body", "bare", "/sandbox/carts", cart(3), "bare POST 3-line body", args.connections),
        ("cart update, 3 lines", "simulator", "/sandbox/carts", cart(3), "bare POST 3-line body", args.connections),
        ("bare POST 50-line body", "bare", "/sandbox/carts", cart(50), "bare POST 50-line body", args.connections),
        ("cart update, 50 lines", "simulator", "/sandbox/carts", cart(50), "bare POST 50-line body", args.connections),
        ("bare POST 50 lines, parsed", "bare", "/bare/parsed", cart(50), "bare POST 50-line body", args.connections),
    ]
    samples: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in cases}
    try:
        for port in ports.values():
            wait_first_200(port)
        # Interleaved, so that a slow spell of the machine hits both servers alike.
        for _ in range(args.rounds):
            for name, kind, path, body, _base, connections in cases:
                samples[name].append(load(ports[kind], path, args.seconds, connections, body))
        during_reports = look_ups_while_reports_are_read(ports["simulator"], args.seconds, args.connections, load)
    finally:
        for process in processes:
            process.terminate()
            process.wait()
    median = {name: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")} for name, runs in samples.items()}
    print(f"{'endpoint':28} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, _kind, _path, _body, base, _connections in cases:
        r = median[name]
        print(f"{name:28} {r['rps']:9.0f} {r['rps'] / median[base]['rps']:8.0%} {r['p50']:8.2f} {r['p99']:8.2f}")
    print(
        f"cart update, 50 lines, against a bare POST that parses its body (request.json()): "
        f"{median['cart update, 50 lines']['rps'] / median['bare POST 50 lines, parsed']['rps']:.0%}"
    )
    print(
        f"plan look-ups of one key while another key's report (10,000 journal entries) is read in a loop: "
        f"{during_reports['rps']:.0f} req/s, p50 {during_reports['p50']:.2f} ms, p99 {during_reports['p99']:.2f} ms "
        f"({during_reports['reports']} reports read meanwhile)"
    )
    print(
        f"cold start (median of 5, process start to first 200): "
        f"simulator {cold_start('simulator'):.0f} ms, bare {cold_start('bare'):.0f} ms"
    )
    domain, full = reconcile_1000_lines()
    print(f"1,000-line cart: reconcile {domain:.2f} ms; validate + reconcile + store {full:.2f} ms")


if __name__ == "__main__":
    main()
