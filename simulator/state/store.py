"""The store seam: where a key's state goes once a request changed it, and where an
evicted key comes back from.

The facade hands a store `ChangeSet` values (simulator/state/tenant.py: documents,
bytes and journal entries), in the order the requests were applied, and answers a
request once what `save` returned is durable. A store never sees a tenant.

Two stores implement it. `MemoryStore` (the default) keeps nothing beyond the tenants
themselves: a restart or an eviction loses a key. `SqliteStore` (`serve --state PATH`,
simulator/state/sqlite.py) keeps every key in one file: an evicted key is loaded back
from it, off the event loop, and its journal stays on disk (`durable`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from simulator.state.changes import ChangeSet, Loaded
from simulator.state.journal import Entry


class Pending:
    """What one `save` wrote, on its way to being durable: awaited by a request on the
    event loop, or waited for by a script. Finished by the store's writer thread."""

    __slots__ = ("_done", "_lock", "error", "_callbacks")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[], None]] = []

    def finish(self, error: BaseException | None = None) -> None:
        with self._lock:
            self.error = error
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def on_finish(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this is finished, on whichever thread finishes it (at
        once if it is finished already)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def wait(self) -> None:
        self._done.wait()
        if self.error is not None:
            raise self.error


class Store(Protocol):
    durable: bool  # what it saved outlives the process (and a key's journal stays with it)

    def save(self, changes: ChangeSet) -> Pending | None:
        """Take what a request changed (in the order requests are applied)."""

    def forget(self, key: str) -> Pending | None:
        """Remove the key's state, as of now."""

    def flush(self) -> Pending | None:
        """A write of nothing, durable once everything saved before it is."""

    def load(self, key: str) -> Loaded | None:
        """The key as the store keeps it, or None (blocking: call it off the event loop)."""

    def read_journal(self, key: str, first: int, last: int) -> list[Entry]:
        """The key's journal entries from seq `first` to `last` (blocking)."""

    def read_items(self, key: str, kind: str, ids: list[str] | None) -> dict[str, bytes]:
        """Documents of the key's items of `kind` by id: those of `ids`, or all (blocking)."""

    def has(self, key: str) -> bool:
        """Whether the store holds state for `key` (blocking)."""

    def figures(self) -> dict[str, int]:
        """Bytes and keys held, for metrics."""

    def close(self) -> None: ...


class MemoryStore:
    """State lives in the tenants alone: a restart or an eviction loses it."""

    durable = False

    def save(self, changes: ChangeSet) -> Pending | None:
        return None

    def forget(self, key: str) -> Pending | None:
        return None

    def flush(self) -> Pending | None:
        return None

    def load(self, key: str) -> Loaded | None:
        return None

    def read_journal(self, key: str, first: int, last: int) -> list[Entry]:
        return []

    def read_items(self, key: str, kind: str, ids: list[str] | None) -> dict[str, bytes]:
        return {}

    def has(self, key: str) -> bool:
        return False

    def figures(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        return None
