"""Connections a shared server survives: slow, silent and oversized clients.

uvicorn reads a request for as long as the client takes, keeps every silent connection
open, and buffers request headers of any size. A server a whole team shares must not:

- a request (headers and body) must arrive within `READ_TIMEOUT` seconds of its first
  byte, or of the connection's opening; a slower client is disconnected;
- request headers over `MAX_HEADER_BYTES` get a 431 with the vendor's error body;
- when open connections come near the process's file-descriptor limit, the oldest
  connection that has not finished sending its request is closed, so a new client can
  always be accepted.

The protocol is uvicorn's own httptools protocol with these guards added.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

READ_TIMEOUT = 15.0
MAX_HEADER_BYTES = 64 * 1024
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
_waiting: dict[GuardedHttpToolsProtocol, None] = {}  # connections still sending a request, oldest first


def _header_too_large() -> bytes:
    body = orjson.dumps({"error": {"error_code": "request_header_fields_too_large", "validation_errors": [
        f"the request headers are over {MAX_HEADER_BYTES} bytes: send fewer or shorter headers"]}})
    return (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > _LIMIT - SPARE_DESCRIPTORS:
            self._shed_oldest_waiting()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:  # the first bytes of a new request on a kept-alive connection
            self._arm()
        if self._in_headers:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._disarm()
                if not self.transport.is_closing():
                    self.transport.write(_header_too_large())
                    self.transport.close()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._in_headers = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # the whole request is in: what remains is the server's work
        super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._deadline = self.loop.call_later(READ_TIMEOUT, self._too_slow)
        _waiting[self] = None

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        _waiting.pop(self, None)

    def _too_slow(self) -> None:
        self._deadline = None
        _waiting.pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()

    def _shed_oldest_waiting(self) -> None:
        for oldest in _waiting:
            if oldest is not self:
                oldest._too_slow()
                return
