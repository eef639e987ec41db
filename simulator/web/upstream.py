"""Shadow mode's upstream: the real sandbox (or any server) every vendor request is
forwarded to unchanged, whose answer the merchant gets as it came.

Keys and customer data pass through and are never logged: this module logs nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # httpx is imported when shadow mode first forwards: it costs a start-up 80 ms
    import httpx

# Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and the
# ones the client library sets itself.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)


@dataclass(frozen=True)
class UpstreamAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class UpstreamUnavailable(Exception):
    """No answer: refused, unreachable, or slower than the timeout."""


class Upstream:
    def __init__(self, base_url: str, timeout: float):
        self.base_url = base_url.rstrip("/")  # the API's base, e.g. https://…/sandbox
        self.timeout = timeout
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import httpx

            client = self._clients[loop] = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return client

    async def aclose(self) -> None:
        """Close this event loop's connections (at shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def send(self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> UpstreamAnswer:
        """`path` is the simulator's (`/sandbox/carts`); the upstream gets the same path
        below its own base URL."""
        url = self.base_url + path.removeprefix("/sandbox") + ("?" + query.decode("latin-1") if query else "")
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        import httpx

        try:
            response = await self._client().request(method, url, headers=sent, content=body or None)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{type(exc).__name__}") from None
        kept = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        return UpstreamAnswer(response.status_code, kept, response.content)
