"""A served simulator under clients a shared server meets: slow ones, silent ones by
the thousand, and a shutdown while a request is half sent. A real process, real sockets."""

from __future__ import annotations

import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contract_tests import guide
from tests.serving import free_port, start, wait_ready


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, object]]:
    port = free_port()
    process = start("--port", str(port), "--read-timeout", "1", cwd=tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}", port, process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def look_up(base: str) -> int:
    return httpx.get(base + "/sandbox/plans", params=guide.PLAN_QUERY,
                     headers={"Authorization": f"Bearer {guide.API_KEY}"}, timeout=5).status_code


def test_a_client_too_slow_to_send_its_request_is_dropped(served: tuple[str, int, object]) -> None:
    base, port, _ = served
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"POST /sandbox/carts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        slow.settimeout(5)
        started = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server
        assert 0.5 < time.monotonic() - started < 4
    assert look_up(base) == 200


def test_a_thousand_silent_connections_do_not_lock_out_a_new_client(served: tuple[str, int, object]) -> None:
    base, port, _ = served
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    silent = []
    try:
        for _ in range(1000):
            silent.append(socket.create_connection(("127.0.0.1", port)))
        assert look_up(base) == 200
    finally:
        for s in silent:
            s.close()


def test_oversized_headers_close_the_connection_with_431(served: tuple[str, int, object]) -> None:
    _, port, _ = served
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"GET /sandbox/plans HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 30_000 + b"\r\n\r\n")
        client.settimeout(5)
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431") and b"request_header_fields_too_large" in answer


def test_sigterm_stops_within_seconds_whatever_clients_do(tmp_path: Path) -> None:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path)  # the default read timeout, longer than the wait
    wait_ready(f"http://127.0.0.1:{port}")
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"POST /sandbox/carts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"cart_id\":")
    idle = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert time.monotonic() - started < 5
    assert process.returncode == 0, err
    assert "hakuna-sim stopped" in out
    half.close()
    idle.close()
