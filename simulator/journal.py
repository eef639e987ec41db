"""The request journal: every request of a tenant and its answer, newest kept.

Recording must cost next to nothing on the request path and must not slow the rest of
the server: an entry is a tuple of bytes, strings and numbers (the request body and
the answer as the bytes that crossed the wire), which Python's cycle collector does
not track, so ten thousand of them cost no garbage-collection pauses. Parsing, masking
the key and rendering happen when the journal is read, as `Record`s. The journal keeps
the newest `LIMIT` entries per tenant and counts the ones it dropped.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from simulator.schemas import MAX_DEPTH, nesting_depth
from simulator.timefmt import format_timestamp

LIMIT = 10_000
_SECRET_HEADERS = ("authorization", "bearer")


class Entry(NamedTuple):
    seq: int
    request_id: str
    at: float  # epoch seconds
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    raw_body: bytes  # b"" for GET
    status: int
    raw_answer: bytes
    duration_ms: float
    deviations: tuple[str, ...]
    replayed: bool

    def record(self) -> Record:
        return Record(self, _parse(self.raw_body), _parse(self.raw_answer), dict(self.headers))


def _parse(raw: bytes) -> Any:
    """A body as JSON, or as text where it is not JSON the journal can render again."""
    if not raw:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
    if nesting_depth(parsed) > MAX_DEPTH:  # refused as such; kept as the text it was
        return raw.decode("utf-8", "replace")
    return parsed


@dataclass(frozen=True)
class Record:
    """A journal entry as readers see it: bodies parsed."""
    entry: Entry
    body: Any
    answer: Any
    headers: Mapping[str, str]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entry, name)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("hakuna-idempotency-key")

    @property
    def error_code(self) -> str | None:
        if self.status != 200 and isinstance(self.answer, dict):
            return self.answer.get("error", {}).get("error_code")
        return None

    def cart_id(self) -> str | None:
        return self._about("cart_id", "/sandbox/carts/")

    def order_id(self) -> str | None:
        return self._about("order_id", "/sandbox/orders/")

    def _about(self, field: str, path_prefix: str) -> str | None:
        """The cart or order a request is about: in its body, its payload or its path."""
        body: dict[str, Any] = self.body if isinstance(self.body, dict) else {}
        payload = body.get("payload")
        found = body.get(field) or (payload.get(field) if isinstance(payload, dict) else None)
        if found is None and self.path.startswith(path_prefix):
            found = self.path.split("/")[3]
        return found if isinstance(found, str) else None


    def as_body(self) -> dict[str, Any]:
        e = self.entry
        return {
            "seq": e.seq, "request_id": e.request_id,
            "at": format_timestamp(datetime.fromtimestamp(e.at, UTC)),
            "method": e.method, "path": e.path, "query": e.query,
            "headers": {k: (_mask(v) if k in _SECRET_HEADERS else v) for k, v in self.headers.items()},
            "body": self.body, "status": e.status, "response": self.answer,
            "duration_ms": round(e.duration_ms, 3), "deviations": list(e.deviations),
            "replayed": e.replayed,
        }


def _mask(value: str) -> str:
    # Keep the scheme and the key's last four characters: enough to tell keys apart.
    prefix, _, key = value.rpartition(" ")
    shown = key[:8] + "…" + key[-4:] if len(key) > 12 else "…"
    return f"{prefix} {shown}".strip()


class Journal:
    def __init__(self, limit: int = LIMIT):
        self.limit = limit
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._seq = 0

    def record(self, request_id: str, at: float, method: str, path: str, query: str,
               headers: Mapping[str, str], raw_body: bytes, status: int, raw_answer: bytes, duration_ms: float,
               deviations: Iterable[str], replayed: bool) -> None:
        self._seq += 1
        self._entries.append(Entry(self._seq, request_id, at, method, path, query, tuple(headers.items()),
                                   raw_body, status, raw_answer, duration_ms, tuple(deviations), replayed))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def dropped(self) -> int:
        return self._seq - len(self._entries)

    def records(self) -> list[Record]:
        return [e.record() for e in tuple(self._entries)]

    def by_request_id(self, request_id: str) -> Record | None:
        return next((e.record() for e in self._entries if e.request_id == request_id), None)

    def select(self, path: str | None = None, status: int | None = None, cart_id: str | None = None,
               order_id: str | None = None, method: str | None = None) -> list[Record]:
        """Records in order; `path` may be a pattern (`/sandbox/carts*`)."""
        out = []
        for e in self.records():
            if path is not None and not fnmatch.fnmatchcase(e.path, path):
                continue
            if status is not None and e.status != status:
                continue
            if method is not None and e.method != method:
                continue
            if cart_id is not None and e.cart_id() != cart_id:
                continue
            if order_id is not None and e.order_id() != order_id:
                continue
            out.append(e)
        return out

    def clear(self) -> None:
        self._entries.clear()
        self._seq = 0
