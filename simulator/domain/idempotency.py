"""`Hakuna-Idempotency-Key` (docs): a POST repeated with the same key and body gets the
first response again instead of applying twice; the same key with another body is
refused. Keys are per tenant and kept 24 hours, or until the tenant's newest 10,000 keys
(8 MiB of answers) push them out. Only accepted requests are remembered: a refused one
changed nothing, so repeating it is harmless.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.domain.errors import SimError

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
MAX_KEYS = 10_000  # per tenant
MAX_BYTES = 8 * 1024 * 1024  # of remembered answers, per tenant


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise SimError(
            "invalid_request_parameters",
            f"Hakuna-Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters long, not {len(key)}: use a UUID",
        )


@dataclass(frozen=True)
class Remembered:
    fingerprint: str
    status: int
    answer: bytes  # the answer as it crossed the wire
    stored_at: datetime


# A key whose answer a durable store holds, as what stays of it in memory: (the moment
# it was stored, what the whole entry counts towards the answers' bound). A plain tuple of
# atoms, which the cyclic collector stops tracking: a server keeps hundreds of thousands
# of them, and as NamedTuples they made every full collection traverse them all (73 ms
# for 600,000, against 4 ms as tuples).
Stored = tuple[datetime, int]


def stored_at(entry: Remembered | Stored) -> datetime:
    return entry[0] if isinstance(entry, tuple) else entry.stored_at


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    """The keys of one tenant, oldest first. Bounded: keys older than 24 hours go, and
    past `max_keys` keys or `max_bytes` of answers the oldest go first.

    A key whose answer a durable store holds may be kept as the moment it was stored
    alone (`stored`, or `load` given a `Stored`): `elsewhere` reads the rest back when it is
    used again."""

    def __init__(self, max_keys: int = MAX_KEYS, max_bytes: int = MAX_BYTES) -> None:
        self._entries: OrderedDict[str, Remembered | Stored] = OrderedDict()
        self.max_keys = max_keys
        self.max_bytes = max_bytes
        self.answers = 0  # what the kept keys weigh as remembered whole (the bound)
        self.bytes = 0  # what they weigh in memory
        self.elsewhere: Callable[[str], Remembered | None] | None = None
        # Keys remembered or forgotten since a store last saved them (simulator/store.py).
        self.touched: set[str] = set()

    def replay(self, key: str, print_: str, now: datetime) -> Remembered | None:
        """The remembered answer for `key`, None if new; refuses a key reused for another body."""
        self._expire(now)
        entry = self.get(key)
        if entry is None:
            return None
        if entry.fingerprint != print_:
            raise SimError(
                "idempotency_key_reused",
                f"Hakuna-Idempotency-Key {key!r} was first used with another request body; use a new key for a new request",
            )
        return entry

    def remember(self, key: str, print_: str, status: int, answer: bytes, now: datetime) -> None:
        self.load(key, Remembered(print_, status, answer, now))
        self.touched.add(key)

    def load(self, key: str, entry: Remembered | Stored) -> None:
        """Keep `entry` as the newest key (a snapshot or the state file is loaded oldest
        first): remembered whole, or the moment it was stored (a durable store holds it)."""
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._account(key, previous, -1)
        self._entries[key] = entry
        self._account(key, entry, 1)
        while self._entries and (len(self._entries) > self.max_keys or self.answers > self.max_bytes):
            self._forget_oldest()

    def _account(self, key: str, entry: Remembered | Stored, sign: int) -> None:
        if isinstance(entry, tuple):
            self.answers += sign * entry[1]
            self.bytes += sign * (len(key) + 200)
        else:
            weight = _weight(key, entry)
            self.answers += sign * weight
            self.bytes += sign * weight

    def stored(self, key: str, entry: Remembered) -> None:
        """A durable store holds `entry`: unless the key changed since, only the moment
        it was stored stays in memory."""
        if self.elsewhere is not None and self._entries.get(key) is entry:
            stub = self._entries[key] = (entry.stored_at, _weight(key, entry))
            self.bytes += len(key) + 200 - stub[1]

    def __len__(self) -> int:
        return len(self._entries)

    def version(self, key: str) -> object:
        """What the key holds now (its entry, whole or stored): changed when it is."""
        return self._entries.get(key)

    def get(self, key: str) -> Remembered | None:
        entry = self._entries.get(key)
        if isinstance(entry, tuple):
            return self.elsewhere(key) if self.elsewhere is not None else None
        return entry

    def items(self) -> list[tuple[str, Remembered | Stored]]:
        """Every kept key, oldest first: remembered whole, or the moment it was stored."""
        return list(self._entries.items())

    def forget(self, key: str) -> None:
        """Undo `remember` (shadow mode: the real API refused what the simulator took)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._account(key, entry, -1)
            self.touched.add(key)

    def _expire(self, now: datetime) -> None:
        while self._entries:
            entry = next(iter(self._entries.values()))
            if now - stored_at(entry) <= KEEP_FOR:
                break
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        key, entry = self._entries.popitem(last=False)
        self._account(key, entry, -1)
        self.touched.add(key)


def _weight(key: str, entry: Remembered) -> int:
    return len(key) + len(entry.answer) + 300  # the entry's own objects, roughly
