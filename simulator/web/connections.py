"""Connections a shared server survives: slow, silent and oversized clients.

uvicorn reads a request for as long as the client takes, keeps every silent connection
open, and buffers request headers of any size. A server a whole team shares must not:

- a request (headers and body) must arrive within `read_timeout` seconds of its first
  byte, or of the connection's opening; a slower client is disconnected, and a request
  whose head had arrived is journaled under its key as 408 `request_timeout`;
- a request head (request line and headers) over `MAX_HEAD_BYTES` is not read further:
  it gets a 431 with the vendor's error body, journaled under its key when the head
  named one, and the connection closes. Only the head counts: the body bytes that
  arrive in the same read (a client that writes head and body at once) are the body's.
  (The API itself answers 431 past 16 KiB of header names and values.)
- when open connections come near the process's file-descriptor limit, the oldest
  connection that has not finished sending its request is closed, so a new client can
  always be accepted.

The protocol is uvicorn's own httptools protocol with these guards added;
`guarded_protocol(read_timeout)` is the class uvicorn is given.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

READ_TIMEOUT = 15.0  # the default of `serve --read-timeout`
MAX_HEAD_BYTES = 64 * 1024  # raw bytes of a request's head; the API answers 431 past 16 KiB of names and values
TIMED_OUT = "hakuna_sim.read_timeout"  # set in a request's scope when its body did not arrive in time
SPARE_DESCRIPTORS = 64  # kept free for the listening socket, files and the next clients


def raise_descriptor_limit() -> int:
    """Raise the soft limit of open files to the hard one; answers the limit in force."""
    global _LIMIT
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    _LIMIT = soft
    return soft


_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
_waiting: dict[GuardedHttpToolsProtocol, float] = {}  # still sending a request -> its deadline; oldest first
SWEEP_EVERY = 0.25


def head_too_large_answer(request_id: str | None = None) -> bytes:
    """The 431 a head past MAX_HEAD_BYTES gets, as a whole HTTP/1.1 response."""
    body = orjson.dumps(
        {
            "error": {
                "error_code": "request_header_fields_too_large",
                "validation_errors": [
                    f"the request's head (request line and headers) is over {MAX_HEAD_BYTES} bytes, and the API "
                    "reads at most 16384 bytes of header names and values: send fewer or shorter headers"
                ],
            }
        }
    )
    extra = b"x-request-id: " + request_id.encode() + b"\r\n" if request_id else b""
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
        + extra
        + b"connection: close\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Deadlines without a timer per request: a connection still sending a request
    sits in `_waiting` with the time it started, and one sweep a second closes those
    past `read_timeout` (a timer per request would cost more than the rest of a look-up's
    transport work)."""

    read_timeout = READ_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > _LIMIT - SPARE_DESCRIPTORS:
            _shed_oldest_waiting(self)
        self._start_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        _waiting.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self not in _waiting:  # the first bytes of a new request on a kept-alive connection
            self._start_waiting()
        if self._in_head:
            room = MAX_HEAD_BYTES - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
            else:
                # The head may end within what it may still take, and the body's bytes
                # follow it in the same read: feed that much, then see where the parser is.
                self._head_bytes = MAX_HEAD_BYTES
                super().data_received(data[:room])
                if self._in_head:
                    self._refuse_head()
                    return
                data = data[room:]
                if self.transport.is_closing():
                    return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        _waiting.pop(self, None)  # the whole request is in: what remains is the server's work
        self._in_head, self._head_bytes = True, 0  # what arrives next is the next request's head
        super().on_message_complete()

    def _start_waiting(self) -> None:
        _waiting[self] = self.loop.time() + self.read_timeout
        _ensure_sweeping(self.loop)

    def _refuse_head(self) -> None:
        """A head past MAX_HEAD_BYTES: nothing more is read; the app answers it (and
        journals it under the key the head named, if it named one), then the connection
        closes."""
        _waiting.pop(self, None)
        self.transport.pause_reading()
        refuse = getattr(self.app, "refuse_head", None)
        if refuse is None:
            self._close_with(head_too_large_answer())
            return
        try:
            method = self.parser.get_method().decode("latin-1")
        except Exception:  # noqa: BLE001 - the request line itself is what was too long
            method = "GET"
        path, _, query = self.url.partition(b"?")
        task = self.loop.create_task(refuse(method, path.decode("latin-1"), query, list(self.headers or [])))
        task.add_done_callback(lambda done: self._close_with(done.result() if not done.exception() else head_too_large_answer()))

    def _close_with(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def drop(self) -> None:
        """Close the connection: it has been sending one request for too long. A request
        whose head had arrived is told so, and its endpoint journals it."""
        _waiting.pop(self, None)
        cycle = self.cycle
        if cycle is not None and not self._in_head and not cycle.response_complete:
            cycle.scope[TIMED_OUT] = self.read_timeout  # type: ignore[literal-required]
        if not self.transport.is_closing():
            self.transport.close()


def guarded_protocol(read_timeout: float = READ_TIMEOUT) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=`, with its read timeout."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"read_timeout": read_timeout})


def _shed_oldest_waiting(newcomer: GuardedHttpToolsProtocol) -> None:
    for oldest in _waiting:
        if oldest is not newcomer:
            oldest.drop()
            return


_sweeping: set[asyncio.AbstractEventLoop] = set()


def _ensure_sweeping(loop: asyncio.AbstractEventLoop) -> None:
    if loop not in _sweeping:
        _sweeping.add(loop)
        loop.call_later(SWEEP_EVERY, _sweep, loop)


def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    """Close the connections that have been sending one request for too long; the
    oldest come first, so the sweep stops at the first one still in time."""
    now = loop.time()
    for connection, deadline in list(_waiting.items()):
        if deadline > now:  # one server's connections share one timeout: the rest are later
            break
        connection.drop()
    if _waiting:
        loop.call_later(SWEEP_EVERY, _sweep, loop)
    else:
        _sweeping.discard(loop)
