"""A simulator started as a user starts it: `hakuna-sim serve` in its own process."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", *args], cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the simulator did not start")


@contextlib.contextmanager
def serving(cwd: Path, *args: str) -> Iterator[str]:
    """`hakuna-sim serve` on a free loopback port for the block; its base URL."""
    port = free_port()
    process = start("--host", "127.0.0.1", "--port", str(port), *args, cwd=cwd)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=10)


class Served:
    """Any ASGI app on a free loopback port, in a background thread of this process."""

    def __init__(self, app: Any):
        import threading

        import uvicorn

        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
