"""`Hakuna-Idempotency-Key` (docs): a POST repeated with the same key and body gets the
first response again instead of applying twice; the same key with another body is
refused. Keys are per tenant and kept at least 24 hours. Only accepted requests are
remembered: a refused one changed nothing, so repeating it is harmless.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.errors import SimError

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise SimError("invalid_request_parameters",
                       f"Hakuna-Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters long, "
                       f"not {len(key)}: use a UUID")


@dataclass(frozen=True)
class Remembered:
    fingerprint: str
    status: int
    body: Any
    stored_at: datetime


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, Remembered] = OrderedDict()

    def replay(self, key: str, print_: str, now: datetime) -> Remembered | None:
        """The remembered answer for `key`, None if new; refuses a key reused for another body."""
        self._expire(now)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.fingerprint != print_:
            raise SimError("idempotency_key_reused",
                           f"Hakuna-Idempotency-Key {key!r} was first used with another request "
                           "body; use a new key for a new request")
        return entry

    def remember(self, key: str, print_: str, status: int, body: Any, now: datetime) -> None:
        self._entries[key] = Remembered(print_, status, body, now)

    def _expire(self, now: datetime) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.stored_at <= KEEP_FOR:
                break
            del self._entries[key]
