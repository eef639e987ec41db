"""The request journal: every vendor request of a tenant and its answer, newest kept.

Recording must cost next to nothing on the request path and must not slow the rest of
the server. An entry is a plain tuple of strings, bytes and numbers (the request body
and the answer as the bytes that crossed the wire, the headers as one JSON text):
Python's cycle collector stops tracking an exact tuple of such atoms at its first
look, so ten thousand entries cost no garbage-collection pauses. (A NamedTuple would be
tracked forever: only exact tuples are untracked.) Parsing, masking the key and
rendering happen when the journal is read.

Memory is bounded twice: the newest `limit` entries, and at most `max_bytes` in all; a
body or answer over `MAX_KEPT_BODY` bytes is kept cut to that size and marked
truncated (the report cannot judge such a request), and headers are kept up to
`MAX_KEPT_HEADER` bytes each. The journal counts what it dropped.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson

from simulator.contract.schemas import MAX_DEPTH, nesting_depth
from simulator.domain.timefmt import format_epoch
from simulator.state.footprint import exact

LIMIT = 10_000  # entries per tenant
MAX_BYTES = 8 * 1024 * 1024  # per tenant
MAX_KEPT_BODY = 256 * 1024  # a body or answer kept whole up to this size
MAX_KEPT_HEADER = 1024  # each header value kept up to this size
_SECRET_HEADERS = ("authorization", "bearer")

# Positions in an entry tuple.
(SEQ, REQUEST_ID, AT, METHOD, PATH, QUERY, HEADERS, BODY, STATUS, ANSWER, DURATION, DEVIATIONS, REPLAYED, TRUNCATED) = range(14)
_OVERHEAD = 400  # bytes an entry costs besides its bodies and headers


def _size(entry: tuple[Any, ...]) -> int:
    return len(entry[HEADERS]) + len(entry[BODY]) + len(entry[ANSWER]) + len(entry[QUERY]) + _OVERHEAD


def _parse(raw: bytes, truncated: bool, deep: bool) -> Any:
    """A body as JSON, or as text where it is not JSON the journal can render again.
    `deep`: it may nest deeper than the journal renders (only a refused body can)."""
    if not raw:
        return None
    if truncated:
        return raw.decode("utf-8", "replace") + " [truncated]"
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")
    if deep and nesting_depth(parsed) > MAX_DEPTH:  # refused as such; kept as the text it was
        return raw.decode("utf-8", "replace")
    return parsed


_UNREAD: Any = object()


class Record:
    """A journal entry as readers see it: the stored tuple, its headers and bodies
    parsed when first read, each once (most rules never look at most of them)."""

    __slots__ = ("_e", "_headers", "_body", "_answer", "_deviations")

    def __init__(self, entry: tuple[Any, ...]):
        self._e = entry
        self._headers: Any = _UNREAD
        self._body: Any = _UNREAD
        self._answer: Any = _UNREAD
        self._deviations: tuple[str, ...] | None = None

    seq = property(lambda self: self._e[SEQ])
    request_id = property(lambda self: self._e[REQUEST_ID])
    at = property(lambda self: self._e[AT])  # epoch seconds
    method = property(lambda self: self._e[METHOD])
    path = property(lambda self: self._e[PATH])
    query = property(lambda self: self._e[QUERY])
    status = property(lambda self: self._e[STATUS])
    duration_ms = property(lambda self: self._e[DURATION])
    replayed = property(lambda self: self._e[REPLAYED])
    raw_body = property(lambda self: self._e[BODY])
    raw_answer = property(lambda self: self._e[ANSWER])

    @property
    def deviations(self) -> tuple[str, ...]:
        if self._deviations is None:  # most rules ask
            self._deviations = tuple(filter(None, self._e[DEVIATIONS].split(",")))
        return self._deviations

    @property
    def truncated(self) -> bool:
        """The body or the answer was cut: the report cannot judge this request."""
        return bool(self._e[TRUNCATED])

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is _UNREAD:
            self._headers = orjson.loads(self._e[HEADERS])
        parsed: Mapping[str, str] = self._headers
        return parsed

    @property
    def body(self) -> Any:
        if self._body is _UNREAD:
            self._body = _parse(self._e[BODY], bool(self._e[TRUNCATED] & 1), deep=self._e[STATUS] != 200)
        return self._body

    @property
    def answer(self) -> Any:
        if self._answer is _UNREAD:
            self._answer = _parse(self._e[ANSWER], bool(self._e[TRUNCATED] & 2), deep=False)
        return self._answer

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("hakuna-idempotency-key")

    @property
    def error_code(self) -> str | None:
        if self.status != 200 and isinstance(self.answer, dict):
            code = self.answer.get("error", {}).get("error_code")
            return code if isinstance(code, str) else None
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

    def as_json(self) -> bytes:
        """`as_body()` encoded, with a body or answer that is stored as JSON appended
        as it is, not parsed and encoded again, and headers masked once for all the
        entries that share them: ten thousand requests render in milliseconds."""
        e = self._e
        raw_body = e[STATUS] == 200 and e[BODY] and not e[TRUNCATED] & 1  # accepted: valid JSON
        raw_answer = e[ANSWER] and not e[TRUNCATED] & 2  # the server's own JSON
        view = self._fields(orjson.Fragment(_shown_headers_json(e[HEADERS])))
        if not raw_body:
            view["body"] = self.body
        if not raw_answer:
            view["response"] = self.answer
        encoded = orjson.dumps(view)[:-1]
        if raw_body:
            encoded += b',"body":' + e[BODY]
        if raw_answer:
            encoded += b',"response":' + e[ANSWER]
        return encoded + b"}"

    def as_body(self) -> dict[str, Any]:
        return {**self._fields(), "body": self.body, "response": self.answer}

    def _fields(self, headers: Any = None) -> dict[str, Any]:
        e = self._e
        return {
            "seq": e[SEQ],
            "request_id": e[REQUEST_ID],
            "at": format_epoch(e[AT]),
            "method": e[METHOD],
            "path": e[PATH],
            "query": e[QUERY],
            "headers": _shown_headers(self.headers) if headers is None else headers,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "deviations": list(self.deviations),
            "replayed": self.replayed,
            "truncated": self.truncated,
        }


def _shown_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (_mask(v) if k in _SECRET_HEADERS else v) for k, v in headers.items()}


@lru_cache(maxsize=256)
def _shown_headers_json(raw: bytes) -> bytes:
    """Stored headers as the journal shows them (keys masked), encoded; a key's requests
    share their headers' bytes, so most entries find them here."""
    return orjson.dumps(_shown_headers(orjson.loads(raw)))


def _mask(value: str) -> str:
    # Keep the scheme and the key's last four characters: enough to tell keys apart.
    prefix, _, key = value.rpartition(" ")
    shown = key[:8] + "…" + key[-4:] if len(key) > 12 else "…"
    return f"{prefix} {shown}".strip()


def _kept_headers(headers: Mapping[str, str]) -> bytes:
    if max(map(len, headers.values()), default=0) <= MAX_KEPT_HEADER:
        return exact(orjson.dumps(headers))
    return exact(
        orjson.dumps({k: (v if len(v) <= MAX_KEPT_HEADER else v[:MAX_KEPT_HEADER] + "… [truncated]") for k, v in headers.items()})
    )


class Journal:
    def __init__(self, limit: int = LIMIT, max_bytes: int = MAX_BYTES):
        self.limit = limit
        self.max_bytes = max_bytes
        self._entries: deque[tuple[Any, ...]] = deque()
        self._seq = 0
        self.bytes = 0  # what the kept entries weigh, roughly
        self._last: tuple[Any, ...] | None = None  # the entry recorded last
        # and the headers it was given (kept, not copied: each request builds its own)
        self._last_headers: Mapping[str, str] | None = None

    def record(
        self,
        request_id: str,
        at: float,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        status: int,
        raw_answer: bytes,
        duration_ms: float,
        deviations: Iterable[str],
        replayed: bool,
    ) -> None:
        self._seq += 1
        truncated = 0
        if len(raw_body) > MAX_KEPT_BODY:
            raw_body, truncated = raw_body[:MAX_KEPT_BODY], truncated | 1
        if len(raw_answer) > MAX_KEPT_BODY:
            raw_answer, truncated = raw_answer[:MAX_KEPT_BODY], truncated | 2
        # A key's requests repeat their query, headers, body and answer (a product page
        # asks the same look-up again and again): an equal value is kept once, shared with
        # the entry before. Memory is still counted per entry (an upper bound), and a
        # state file's chunk of entries, marshalled with references, compresses faster.
        query = query[:MAX_KEPT_HEADER]
        last = self._last
        if last is not None and headers == self._last_headers:
            kept_headers = last[HEADERS]  # not even encoded again
        else:
            kept_headers = _kept_headers(headers)
            self._last_headers = headers
        if last is not None:
            query = last[QUERY] if last[QUERY] == query else query
            kept_headers = last[HEADERS] if last[HEADERS] == kept_headers else kept_headers
            raw_body = last[BODY] if last[BODY] == raw_body else raw_body
            raw_answer = last[ANSWER] if last[ANSWER] == raw_answer else exact(raw_answer)
        else:
            raw_answer = exact(raw_answer)
        entry = self._last = (
            self._seq,
            request_id,
            at,
            method,
            path,
            query,
            kept_headers,
            raw_body,
            status,
            raw_answer,
            duration_ms,
            ",".join(deviations),
            replayed,
            truncated,
        )
        self._entries.append(entry)
        self.bytes += _size(entry)
        while self._entries and (len(self._entries) > self.limit or self.bytes > self.max_bytes):
            self.bytes -= _size(self._entries.popleft())

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def next_seq(self) -> int:
        """The seq the next entry gets, less one: entries ever recorded since the last clear."""
        return self._seq

    def load(self, entries: Iterable[tuple[Any, ...]], seq: int) -> None:
        """Entries as stored (a snapshot or the state file), oldest first."""
        self.clear()
        for entry in entries:
            self._entries.append(entry)
            self.bytes += _size(entry)
        self._seq = seq
        while self._entries and (len(self._entries) > self.limit or self.bytes > self.max_bytes):
            self.bytes -= _size(self._entries.popleft())

    def since(self, seq: int) -> list[tuple[Any, ...]]:
        """The kept entries newer than `seq` (what a store has not written yet)."""
        out = []
        for entry in reversed(self._entries):
            if entry[SEQ] <= seq:
                break
            out.append(entry)
        out.reverse()
        return out

    @property
    def first_seq(self) -> int:
        """The oldest kept entry's seq (next_seq + 1 when none is kept)."""
        return self._entries[0][SEQ] if self._entries else self._seq + 1

    @property
    def dropped(self) -> int:
        return self._seq - len(self._entries)

    def entries(self) -> tuple[tuple[Any, ...], ...]:
        """The kept entries as they are stored: a cheap snapshot to read elsewhere."""
        return tuple(self._entries)

    def records(self) -> list[Record]:
        return [Record(e) for e in tuple(self._entries)]

    def by_request_id(self, request_id: str) -> Record | None:
        return next((Record(e) for e in reversed(self._entries) if e[REQUEST_ID] == request_id), None)

    def clear(self) -> None:
        self._entries.clear()
        self._seq = 0
        self.bytes = 0
        self._last = None
        self._last_headers = None


def select(
    entries: Iterable[tuple[Any, ...]],
    path: str | None = None,
    status: int | None = None,
    cart_id: str | None = None,
    order_id: str | None = None,
    method: str | None = None,
) -> list[Record]:
    """Records in order; `path` may be a pattern (`/sandbox/carts*`). Cheap filters run
    on the stored entries, and only what passes them is parsed."""
    out = []
    for e in entries:
        if path is not None and not fnmatch.fnmatchcase(e[PATH], path):
            continue
        if status is not None and e[STATUS] != status:
            continue
        if method is not None and e[METHOD] != method:
            continue
        record = Record(e)
        if cart_id is not None and record.cart_id() != cart_id:
            continue
        if order_id is not None and record.order_id() != order_id:
            continue
        out.append(record)
    return out
