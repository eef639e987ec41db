"""A served simulator under clients a shared server meets: slow ones, silent ones by
the thousand, and a shutdown while a request is half sent. A real process, real sockets."""

from __future__ import annotations

import json
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

pytestmark = pytest.mark.integration  # a served process under slow and silent clients


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
    return httpx.get(
        base + "/sandbox/plans", params=guide.PLAN_QUERY, headers={"Authorization": f"Bearer {guide.API_KEY}"}, timeout=5
    ).status_code


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
        client.sendall(b"GET /sandbox/plans HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        client.settimeout(5)
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431") and b"request_header_fields_too_large" in answer


def test_sigterm_stops_within_seconds_whatever_clients_do(tmp_path: Path) -> None:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path)  # the default read timeout, longer than the wait
    wait_ready(f"http://127.0.0.1:{port}")
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(
        b'POST /sandbox/carts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"cart_id":'
    )
    idle = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert time.monotonic() - started < 5
    assert process.returncode == 0, err
    assert "hakuna-sim stopped" in out
    half.close()
    idle.close()


def _answer(sock: socket.socket, first: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One response read from `sock` (after `first`, already read): its head, its body,
    and what arrived after it."""
    data = first
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body[:length], body[length:]


LOOK_UP = (
    "GET /sandbox/plans?"
    + "&".join(f"{k}={v}" for k, v in guide.PLAN_QUERY.items()).replace(" ", "%20")
    + f" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {guide.API_KEY}\r\nHakuna-Version: v2.0\r\n\r\n"
).encode()


def test_every_kind_of_exchange_is_answered_on_one_kept_alive_connection(served: tuple[str, int, object]) -> None:
    """A look-up, a HEAD, an `Expect: 100-continue` and pipelined requests are answered
    as HTTP/1.1 says, one after another on one kept-alive connection."""
    _, port, _ = served
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(5)
        client.sendall(LOOK_UP)
        head, body, _ = _answer(client)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body) == guide.PLAN_RESPONSE
        client.sendall(LOOK_UP.replace(b"GET ", b"HEAD ", 1))
        data = b""
        while b"\r\n\r\n" not in data:
            data += client.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and rest == b""
        body_text = guide.CART_UPDATE_TEXT.encode()
        client.sendall(
            b"POST /sandbox/carts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + guide.API_KEY.encode()
            + b"\r\nHakuna-Version: v2.0\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + b"Content-Length: "
            + str(len(body_text)).encode()
            + b"\r\n\r\n"
        )
        assert client.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        client.sendall(body_text)
        head, body, _ = _answer(client)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["cart_id"] == json.loads(body_text)["cart_id"]
        client.sendall(LOOK_UP * 3)
        rest = b""
        for _ in range(3):
            head, body, rest = _answer(client, rest)
            assert head.startswith(b"HTTP/1.1 200") and json.loads(body) == guide.PLAN_RESPONSE
        assert rest == b""
