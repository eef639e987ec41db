"""Any request up to the 1 MiB body limit and the 16 KiB header limit is answered on its
merits, however the client writes it: head and body in one write, byte by byte,
pipelined behind another request, through http.client, curl and httpx. A served
process, raw sockets."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests import guide
from tests.serving import free_port, start, wait_ready

pytestmark = pytest.mark.integration  # a served process, fed over raw sockets

KEY = "sk_test_bigrequests01"
SIZES = {"20 KB": 20_000, "40 KB": 40_000, "200 KB": 200_000, "1 MiB": 1024 * 1024}


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    process = start("--port", str(port), cwd=tmp_path_factory.mktemp("served"))
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=10)


def cart_of_size(size: int, cart_id: str) -> bytes:
    """A B2B cart (phones and their plan, then cases) whose JSON is exactly `size` bytes."""
    lines: list[dict[str, Any]] = [
        {"id": "l-phone", "quantity": 3, "price_amount": 112900, "product_id": "prd-iphone14"},
        {
            "id": "l-plan",
            "quantity": 3,
            "price_amount": 1200,
            "product_id": "pl-prd-hakuna",
            "custom_properties": {"product_reference": "prd-iphone14"},
        },
    ]
    body = {"cart_id": cart_id, "user_session_id": "s-b2b", "cart_currency": "eur", "line_items": lines}
    pad: dict[str, Any] = {"id": "l-pad", "quantity": 1, "price_amount": 1, "product_id": "prd-pad", "product_title": ""}
    length = len(json.dumps(body)) + len(json.dumps(pad)) + 2
    n = 0
    while length < size - 200:
        case = {
            "id": f"l-{n}",
            "quantity": 1,
            "price_amount": 1200,
            "product_id": f"prd-case-{n % 97}",
            "product_title": "Silikon Case iPhone 14, B2B pack",
        }
        lines.append(case)
        length += len(json.dumps(case)) + 2
        n += 1
    lines.append(pad)
    pad["product_title"] = "x" * (size - len(json.dumps(body)))
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


def request(body: bytes, path: str = "/sandbox/carts") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\nHakuna-Version: v2.0\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


LOOK_UP = (
    "GET /sandbox/plans?"
    + "&".join(f"{k}={v}" for k, v in guide.PLAN_QUERY.items()).replace(" ", "%20")
    + f" HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\nHakuna-Version: v2.0\r\n\r\n"
).encode()


def answers(sock: socket.socket, count: int) -> list[tuple[int, Any]]:
    """`count` responses read from `sock`: each status and parsed body."""
    data, out = b"", list[tuple[int, Any]]()
    sock.settimeout(30)
    while len(out) < count:
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            assert more, f"the connection closed after {len(out)} answer(s): {data[:300]!r}"
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
        while len(rest) < length:
            rest += sock.recv(65536)
        out.append((int(head.split(b" ")[1]), json.loads(rest[:length])))
        data = rest[length:]
    return out


def expect_cart_answer(status: int, body: Any, cart_id: str) -> None:
    assert status == 200, body
    assert body["cart_id"] == cart_id and body["actions"] == []


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_a_big_cart_in_one_write_is_answered(port: int, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request(cart_of_size(size, f"one-write-{size}")))
        [(status, body)] = answers(sock, 1)
    expect_cart_answer(status, body, f"one-write-{size}")


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_a_big_cart_sent_byte_by_byte_is_answered(port: int, size: int) -> None:
    raw = request(cart_of_size(size, f"bytes-{size}"))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        view = memoryview(raw)
        for i in range(len(raw)):
            sock.send(view[i : i + 1])
        [(status, body)] = answers(sock, 1)
    expect_cart_answer(status, body, f"bytes-{size}")


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_a_big_cart_pipelined_between_look_ups_is_answered(port: int, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(LOOK_UP + request(cart_of_size(size, f"pipelined-{size}")) + LOOK_UP)
        (first, plans), (status, body), (last, again) = answers(sock, 3)
    assert first == last == 200 and plans == again == guide.PLAN_RESPONSE
    expect_cart_answer(status, body, f"pipelined-{size}")


def test_a_body_one_byte_over_the_limit_is_413_and_journaled(port: int) -> None:
    raw = request(b" " * (1024 * 1024 + 1))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw)
        [(status, body)] = answers(sock, 1)
    assert status == 413 and body["error"]["error_code"] == "payload_too_large"
    journal = httpx.get(
        f"http://127.0.0.1:{port}/__sim/journal", params={"status": "413"}, headers={"Authorization": f"Bearer {KEY}"}
    ).json()
    assert journal["entries"] and journal["entries"][-1]["path"] == "/sandbox/carts"


def test_http_client_curl_and_httpx_get_the_same_answer(port: int, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "Hakuna-Version": "v2.0", "Content-Type": "application/json"}
    for attempt in range(10):  # http.client writes head and body together when it can
        body = cart_of_size(SIZES["40 KB"], f"http-client-{attempt}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/sandbox/carts", body=body, headers=headers)
        answer = connection.getresponse()
        expect_cart_answer(answer.status, json.loads(answer.read()), f"http-client-{attempt}")
        connection.close()
    body = cart_of_size(SIZES["200 KB"], "with-httpx")
    sent = httpx.post(f"http://127.0.0.1:{port}/sandbox/carts", content=body, headers=headers, timeout=10)
    expect_cart_answer(sent.status_code, sent.json(), "with-httpx")
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("no curl on this machine")
    path = tmp_path / "cart.json"
    path.write_bytes(cart_of_size(SIZES["200 KB"], "with-curl"))
    done = subprocess.run(
        [
            curl,
            "-s",
            "-X",
            "POST",
            *(a for k, v in headers.items() for a in ("-H", f"{k}: {v}")),
            "--data-binary",
            f"@{path}",
            f"http://127.0.0.1:{port}/sandbox/carts",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    expect_cart_answer(200, json.loads(done.stdout), "with-curl")


def test_a_head_past_the_connection_limit_gets_431_journaled_under_its_key(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"GET /sandbox/plans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n".encode()
            + b"X-Big: "
            + b"a" * 70_000
            + b"\r\n\r\n"
        )
        [(status, body)] = answers(sock, 1)
        assert sock.recv(10) == b""  # and the connection closes
    assert status == 431 and body["error"]["error_code"] == "request_header_fields_too_large"
    report = httpx.get(
        f"http://127.0.0.1:{port}/__sim/journal", params={"status": "431"}, headers={"Authorization": f"Bearer {KEY}"}
    ).json()
    assert report["entries"][-1]["path"] == "/sandbox/plans"


def test_a_body_that_stops_arriving_is_journaled_as_a_read_timeout(tmp_path: Path) -> None:
    port = free_port()
    process = start("--port", str(port), "--read-timeout", "1", cwd=tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request(b'{"cart_id": "c-slow"}' + b" " * 100)[:-60])
            sock.settimeout(5)
            started = time.monotonic()
            assert sock.recv(10) == b""
            assert time.monotonic() - started < 4
        journal = httpx.get(
            f"http://127.0.0.1:{port}/__sim/journal", params={"status": "408"}, headers={"Authorization": f"Bearer {KEY}"}
        ).json()
        [entry] = journal["entries"]
        assert entry["response"]["error"]["error_code"] == "request_timeout"
        report = httpx.get(f"http://127.0.0.1:{port}/__sim/report", headers={"Authorization": f"Bearer {KEY}"}).json()
        assert entry["request_id"] in [r for f in report["findings"] for r in f["request_ids"]]
    finally:
        process.terminate()
        process.communicate(timeout=10)
