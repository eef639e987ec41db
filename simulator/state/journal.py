"""The request journal: every vendor request of a tenant and its answer, newest kept.

Recording must cost next to nothing on the request path and must not slow the rest of
the server. An entry keeps the request body and the answer as the bytes that crossed
the wire and the headers as one JSON text; parsing, masking the key and rendering happen
when the journal is read. The newest entries are kept as `Entry` objects; older ones are
packed together, a chunk of `CHUNK` entries in one bytes object, which the garbage
collector never walks and which costs a fraction of the objects. A state file keeps its
own chunks (`pack`: msgpack, whose format is fixed across Python versions); with one, an
entry leaves memory once it is on disk, and readers load the journal from the file (what
they read is kept a while, so that the next reader loads only what is new: `read_back`).

Bounded twice: the newest `limit` entries, and at most `max_bytes` in all (counted as the
bytes an entry holds, plus a fixed overhead); a body or answer over `MAX_KEPT_BODY` bytes
is kept cut to that size and marked truncated (the report cannot judge such a request),
and headers are kept up to `MAX_KEPT_HEADER` bytes each. The journal counts what it
dropped.
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import marshal
import time
import zlib
from array import array
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

import msgpack
import orjson

from simulator.contract.schemas import MAX_DEPTH, nesting_depth
from simulator.domain.timefmt import format_epoch
from simulator.pacing import pace
from simulator.state.footprint import exact

LIMIT = 10_000  # entries per tenant
MAX_BYTES = 8 * 1024 * 1024  # per tenant
MAX_KEPT_BODY = 256 * 1024  # a body or answer kept whole up to this size
MAX_KEPT_HEADER = 1024  # each header value kept up to this size
CHUNK = 64  # entries packed together in memory
_SECRET_HEADERS = ("authorization", "bearer")
_OVERHEAD = 400  # bytes an entry costs besides its bodies and headers
READ_KEPT = 60.0  # seconds the entries read back from a store are kept for the next reader
_generations = itertools.count(1)  # (a key's journal built again, after an eviction, is a new one)


class Entry(NamedTuple):
    """One request and its answer, as the journal keeps it."""

    seq: int
    request_id: str
    at: float  # epoch seconds
    method: str
    path: str
    query: str
    headers: bytes  # JSON, values cut to MAX_KEPT_HEADER
    body: bytes
    status: int
    answer: bytes
    duration_ms: float
    deviations: str  # comma-separated names (simulator/domain/deviations.py)
    replayed: bool
    truncated: int  # 1: the body was cut, 2: the answer was


def _size(entry: Entry) -> int:
    return len(entry.headers) + len(entry.body) + len(entry.answer) + len(entry.query) + _OVERHEAD


# -- chunks: the one format of packed entries, in memory and in the state file ---------------

_SMALL_CHUNK = 4096  # bytes of msgpack below which a chunk is not compressed


def pack(entries: Sequence[Entry]) -> bytes:
    """Entries as one chunk: msgpack, whose format is fixed across Python versions, after
    a CRC-32 ("M"), or zlib-compressed when large ("Z"; zlib checks its own). A key's
    requests repeat their headers, bodies and answers, so large chunks compress well;
    zlib's set-up costs a small chunk more than it saves."""
    raw: bytes = msgpack.packb([tuple(e) for e in entries], use_bin_type=True)
    if len(raw) < _SMALL_CHUNK:
        return b"M" + zlib.crc32(raw).to_bytes(4, "big") + raw
    return b"Z" + zlib.compress(raw, 1)


_HELD_RAW = 16 * 1024  # bytes of marshal past which a chunk held in memory is compressed


def pack_held(entries: Sequence[Entry]) -> bytes:
    """Entries as a chunk that stays in this process (a journal without a durable
    store): marshal, which writes a value several entries share once (a key's repeated
    answers and headers: the journal shares them) at C speed, compressed only when that
    leaves it large (entries that repeat little). Never written anywhere: marshal's format may change
    between Python versions, and the state file keeps `pack`'s."""
    raw = marshal.dumps([tuple(e) for e in entries])
    if len(raw) < _HELD_RAW:
        return b"m" + zlib.crc32(raw).to_bytes(4, "big") + raw
    return zlib.compress(raw, 1)


def unpack(chunk: bytes) -> list[Entry]:
    """The entries of a chunk, in any format this project writes or ever wrote (marshal
    chunks, "m" with a CRC-32 or bare zlib, are `pack_held`'s, and those of state files
    written before msgpack)."""
    marker = chunk[:1]
    if marker == b"M":
        raw = chunk[5:]
        if zlib.crc32(raw).to_bytes(4, "big") != chunk[1:5]:
            raise zlib.error("damaged chunk")
        rows = msgpack.unpackb(raw, raw=False, use_list=False)
    elif marker == b"Z":
        rows = msgpack.unpackb(zlib.decompress(chunk[1:]), raw=False, use_list=False)
    elif marker == b"m":
        raw = chunk[5:]
        if zlib.crc32(raw).to_bytes(4, "big") != chunk[1:5]:
            raise zlib.error("damaged chunk")
        rows = marshal.loads(raw)
    else:
        rows = marshal.loads(zlib.decompress(chunk))
    return [Entry._make(row) for row in rows]


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

    def __init__(self, entry: Entry):
        self._e = entry
        self._headers: Any = _UNREAD
        self._body: Any = _UNREAD
        self._answer: Any = _UNREAD
        self._deviations: tuple[str, ...] | None = None

    seq = property(lambda self: self._e.seq)
    request_id = property(lambda self: self._e.request_id)
    at = property(lambda self: self._e.at)  # epoch seconds
    method = property(lambda self: self._e.method)
    path = property(lambda self: self._e.path)
    query = property(lambda self: self._e.query)
    status = property(lambda self: self._e.status)
    duration_ms = property(lambda self: self._e.duration_ms)
    replayed = property(lambda self: self._e.replayed)
    raw_body = property(lambda self: self._e.body)
    raw_answer = property(lambda self: self._e.answer)
    entry = property(lambda self: self._e)

    @property
    def deviations(self) -> tuple[str, ...]:
        if self._deviations is None:  # most rules ask
            self._deviations = tuple(filter(None, self._e.deviations.split(",")))
        return self._deviations

    @property
    def truncated(self) -> bool:
        """The body or the answer was cut: the report cannot judge this request."""
        return bool(self._e.truncated)

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is _UNREAD:
            self._headers = orjson.loads(self._e.headers)
        parsed: Mapping[str, str] = self._headers
        return parsed

    @property
    def body(self) -> Any:
        if self._body is _UNREAD:
            self._body = _parse(self._e.body, bool(self._e.truncated & 1), deep=self._e.status != 200)
        return self._body

    @property
    def answer(self) -> Any:
        if self._answer is _UNREAD:
            self._answer = _parse(self._e.answer, bool(self._e.truncated & 2), deep=False)
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
        raw_body = e.status == 200 and e.body and not e.truncated & 1  # accepted: valid JSON
        raw_answer = e.answer and not e.truncated & 2  # the server's own JSON
        view = self._fields(orjson.Fragment(_shown_headers_json(e.headers)))
        if not raw_body:
            view["body"] = self.body
        if not raw_answer:
            view["response"] = self.answer
        encoded = orjson.dumps(view)[:-1]
        if raw_body:
            encoded += b',"body":' + e.body
        if raw_answer:
            encoded += b',"response":' + e.answer
        return encoded + b"}"

    def as_body(self) -> dict[str, Any]:
        return {**self._fields(), "body": self.body, "response": self.answer}

    def _fields(self, headers: Any = None) -> dict[str, Any]:
        e = self._e
        return {
            "seq": e.seq,
            "request_id": e.request_id,
            "at": format_epoch(e.at),
            "method": e.method,
            "path": e.path,
            "query": e.query,
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
    """One key's journal. Kept entries are counted by seq: the oldest kept is
    `first_seq`, the newest `next_seq` (the seq of the last entry recorded). `durable`:
    a store keeps every entry once `saved` reaches its seq, and the journal then lets go
    of it (readers ask the store for the rest).

    What readers read back from the store is kept a while (`read_back`), charged like
    the rest: a CI job reads its report and journal every few seconds, and each read
    then asks the store only for what was saved since the last one, not for thousands of
    entries again (benchmarks/soak.py). Kept until READ_KEPT passes without a read, and
    never across a clear (a reset, a restore), which starts a new `generation`."""

    def __init__(self, limit: int = LIMIT, max_bytes: int = MAX_BYTES):
        self.limit = limit
        self.max_bytes = max_bytes
        self.durable = False
        self.saved = 0  # the newest seq a durable store holds
        self._handed = 0  # the newest seq handed to it
        self._seq = 0
        self._first = 1  # the oldest kept seq
        self._sizes = array("q")  # the size of each kept entry, from seq _first - _head
        self._head = 0  # sizes before this index are dropped
        self.bytes = 0  # what the kept entries weigh (in memory or not)
        self._chunks: deque[tuple[int, int, bytes]] = deque()  # (first seq, last seq, packed), in memory
        self._tail: list[Entry] = []  # the newest entries, not packed
        self._held = 0  # what the chunks and the tail weigh: counted as they change, not summed per request
        self._last: Entry | None = None  # the entry recorded last
        # and the headers it was given (kept, not copied: each request builds its own)
        self._last_headers: Mapping[str, str] | None = None
        self.generation = next(_generations)  # a new one at every clear: what was read back before is not this journal's
        self._read: tuple[Entry, ...] = ()  # entries a reader read back from the store
        self._read_upto = 0  # the newest seq they were read up to
        self._read_bytes = 0
        self._read_at = 0.0  # monotonic

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
    ) -> Entry:
        self._seq += 1
        truncated = 0
        if len(raw_body) > MAX_KEPT_BODY:
            raw_body, truncated = raw_body[:MAX_KEPT_BODY], truncated | 1
        if len(raw_answer) > MAX_KEPT_BODY:
            raw_answer, truncated = raw_answer[:MAX_KEPT_BODY], truncated | 2
        # A key's requests repeat their query, headers, body and answer (a product page
        # asks the same look-up again and again): an equal value is kept once, shared with
        # the entry before, until it is packed.
        query = query[:MAX_KEPT_HEADER]
        last = self._last
        if last is not None and headers == self._last_headers:
            kept_headers = last.headers  # not even encoded again
        else:
            kept_headers = _kept_headers(headers)
            self._last_headers = headers
        if last is not None:
            query = last.query if last.query == query else query
            kept_headers = last.headers if last.headers == kept_headers else kept_headers
            raw_body = last.body if last.body == raw_body else raw_body
            raw_answer = last.answer if last.answer == raw_answer else exact(raw_answer)
        else:
            raw_answer = exact(raw_answer)
        entry = self._last = Entry(
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
        self._tail.append(entry)
        size = _size(entry)
        self._sizes.append(size)
        self.bytes += size
        self._held += size
        if self._seq - self._first >= self.limit or self.bytes > self.max_bytes:
            self._bound()
        if not self.durable and len(self._tail) >= 2 * CHUNK:
            self._pack_oldest()
        elif self._read and time.monotonic() - self._read_at > READ_KEPT:
            self._drop_read()
        return entry

    def _bound(self) -> None:
        """Drop the oldest entries past the journal's bounds."""
        sizes = self._sizes
        while self._seq - self._first + 1 > self.limit or (self.bytes > self.max_bytes and self._first <= self._seq):
            self.bytes -= sizes[self._head]
            self._head += 1
            self._first += 1
        if self._head > 4096 and self._head * 2 > len(sizes):
            del sizes[: self._head]
            self._head = 0
        chunks = self._chunks
        while chunks and chunks[0][1] < self._first:
            self._held -= len(chunks.popleft()[2])
        if self._tail and self._tail[0].seq < self._first:
            self._keep_tail(self._first)

    def shed(self, max_bytes: int) -> None:
        """Keep at most `max_bytes` of the newest entries (the server is over its memory
        budget): the oldest go as they would past the journal's own bounds, and the
        report says how many it dropped."""
        self.max_bytes = min(self.max_bytes, max(max_bytes, 0))
        self._bound()

    def _pack_oldest(self) -> None:
        packed, self._tail = self._tail[:CHUNK], self._tail[CHUNK:]
        chunk = pack_held(packed)
        self._chunks.append((packed[0].seq, packed[-1].seq, chunk))
        self._held += len(chunk) - sum(map(_size, packed))

    def _keep_tail(self, first: int) -> None:
        """Let go of the tail's entries older than `first`."""
        gone = [e for e in self._tail if e.seq < first]
        self._tail = self._tail[len(gone) :]
        self._held -= sum(map(_size, gone))

    # -- a durable store's side ----------------------------------------------------------

    def take_unsaved(self) -> list[Entry]:
        """The kept entries not handed to a store yet, oldest first (now handed)."""
        handed = self._handed
        out = [e for e in self._tail if e.seq > handed] if self._tail and self._tail[-1].seq > handed else []
        if out:
            self._handed = out[-1].seq
        return out

    def mark_saved(self, seq: int) -> None:
        """A durable store holds every entry up to `seq`: they leave memory."""
        self.saved = max(self.saved, seq)
        if self.durable:
            self._keep_tail(self.saved + 1)
            self._last = None  # nothing is shared with an entry that left

    def read_back(self) -> tuple[int, tuple[Entry, ...], int]:
        """What readers last read back from the store: this journal's generation, the
        entries, and the seq they reach (call it under the tenant's lock)."""
        return self.generation, self._read, self._read_upto

    def keep_read(self, generation: int, entries: Sequence[Entry], upto: int) -> bool:
        """Keep what a reader read back from the store, up to seq `upto`, for the next
        reader; whether it was kept (not if the journal was cleared since the reader's
        view, or a later read is kept already). Call it under the tenant's lock."""
        if generation != self.generation or upto < self._read_upto:
            return False
        # (on the event loop: found by bisection, weighed from the sizes kept, no loop over entries)
        kept = tuple(entries[bisect.bisect_left(entries, self._first, key=attrgetter("seq")) :])
        self._drop_read()
        self._read, self._read_upto, self._read_at = kept, upto, time.monotonic()
        if kept:  # weighed as the journal weighed them when they were recorded
            start = self._head + kept[0].seq - self._first
            self._read_bytes = sum(self._sizes[start : start + kept[-1].seq - kept[0].seq + 1])
        self._held += self._read_bytes
        return True

    def _drop_read(self) -> None:
        self._held -= self._read_bytes
        self._read, self._read_upto, self._read_bytes = (), 0, 0

    def mark_unsaved(self) -> None:
        """What was handed since the store last saved is to be handed again (a write failed)."""
        self._handed = self.saved

    # -- counters ------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._seq - self._first + 1

    @property
    def next_seq(self) -> int:
        """The seq of the entry recorded last: entries ever recorded since the last clear."""
        return self._seq

    @property
    def first_seq(self) -> int:
        """The oldest kept entry's seq (next_seq + 1 when none is kept)."""
        return self._first

    @property
    def dropped(self) -> int:
        return self._first - 1

    @property
    def memory_bytes(self) -> int:
        """What the journal holds in memory: its chunks, its newest entries, and what
        readers read back from the store."""
        return self._held + 8 * (len(self._sizes) - self._head)

    # -- readers -------------------------------------------------------------------------

    def held(self) -> tuple[tuple[tuple[int, int, bytes], ...], tuple[Entry, ...], int]:
        """What a reader needs of the journal in memory, copied in a moment (call it under
        the tenant's lock): the chunks, the newest entries, and the oldest seq kept."""
        return tuple(self._chunks), tuple(self._tail), self._first

    def entries(self) -> list[Entry]:
        """Every kept entry held in memory, oldest first (all of them without a durable store)."""
        return entries_of(*self.held())

    def records(self) -> list[Record]:
        return [Record(e) for e in self.entries()]

    def load(self, entries: Iterable[Entry], seq: int) -> None:
        """Entries as stored (a snapshot), oldest first; `seq` is the newest ever given."""
        self.clear()
        kept = list(entries)
        self._seq = seq
        self._first = kept[0].seq if kept else seq + 1
        for e in kept:
            size = _size(e)
            self._sizes.append(size)
            self.bytes += size
        self._tail = kept
        self._held = self.bytes
        self._bound()
        while not self.durable and len(self._tail) >= 2 * CHUNK:
            self._pack_oldest()

    def resume(self, seq: int, first: int, sizes: Iterable[int]) -> None:
        """Counters of a journal a durable store holds (its entries stay on disk)."""
        self.clear()
        self._seq, self._first, self.saved, self._handed = seq, first, seq, seq
        count = seq - first + 1
        kept = list(sizes)[-count:] if count > 0 else []
        self._sizes.extend([0] * (count - len(kept)) + kept)
        self.bytes = sum(self._sizes)
        self._bound()

    def clear(self) -> None:
        self._chunks.clear()
        self._tail = []
        self._held = 0
        self.generation = next(_generations)
        self._read, self._read_upto, self._read_bytes = (), 0, 0
        self._seq = 0
        self._first = 1
        self.saved = 0
        self._handed = 0
        self._sizes = array("q")
        self._head = 0
        self.bytes = 0
        self._last = None
        self._last_headers = None


def entries_of(chunks: Iterable[tuple[int, int, bytes]], tail: Iterable[Entry], first: int) -> list[Entry]:
    """The entries of chunks and a tail, from seq `first` on, oldest first."""
    out = []
    for _, last, packed in chunks:
        if last >= first:
            pace()
            out += [e for e in unpack(packed) if e.seq >= first]
    out += [e for e in tail if e.seq >= first]
    return out


def select(
    entries: Iterable[Entry],
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
        pace()
        if path is not None and not fnmatch.fnmatchcase(e.path, path):
            continue
        if status is not None and e.status != status:
            continue
        if method is not None and e.method != method:
            continue
        record = Record(e)
        if cart_id is not None and record.cart_id() != cart_id:
            continue
        if order_id is not None and record.order_id() != order_id:
            continue
        out.append(record)
    return out
