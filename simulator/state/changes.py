"""The values a tenant and its store exchange: what changed in a key (`ChangeSet`), and
a key read back from a durable store (`Loaded`). Documents, bytes and journal entries
only: a store never holds a tenant, and a tenant never calls its store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulator.state.journal import Entry


@dataclass
class ChangeSet:
    """What changed in one key since its store last saved it, as values a store writes
    (documents, bytes, entries): never the tenant itself."""

    key: str
    wipe: bool = False  # the key's rows go first: a reset, an import, or the key forgotten
    forget: bool = False  # and no row of it comes back
    tenant_row: tuple[bytes, int, int, int] | None = None  # settings JSON, generated ids, journal's next seq, first seq
    catalog: tuple[bytes | None] | None = None  # (the key's own catalog document, or None) when it changed
    items: list[tuple[str, str, bytes | None, str | None]] = field(default_factory=list)  # kind, row id, document, ref
    journal: list[Entry] = field(default_factory=list)
    journal_first: int = 1  # entries older than this seq are no longer kept
    # The tenant's own note of what it handed (each item's version), told back once
    # written: a store never reads it.
    versions: list[tuple[str, str, object]] = field(default_factory=list)

    def weight(self) -> int:
        return len(self.items) + len(self.journal)


@dataclass
class Changes:
    """What changed in a tenant since its store last took it."""

    items: set[tuple[str, Any]] = field(default_factory=set)  # (kind, the key it has in its mapping)
    settings: bool = False  # refund windows, magic values, faults
    catalog: bool = False
    everything: bool = False  # reset or import: the store rewrites the key whole

    def __bool__(self) -> bool:
        return bool(self.items or self.settings or self.catalog or self.everything)

    def clear(self) -> None:
        if self:
            self.items.clear()
            self.settings = self.catalog = self.everything = False


@dataclass
class Loaded:
    """A key as a durable store keeps it, read back: documents and frozen bytes, not
    objects (simulator/state/tenant.py builds the tenant from it)."""

    settings: dict[str, Any]
    faults: list[dict[str, Any]]
    catalog: dict[str, Any] | None
    generated_ids: int
    tracked: int | None  # what its state weighed (None: a file written before it was kept)
    journal_next: int
    journal_first: int
    journal_sizes: list[int]  # what each kept journal entry weighs, oldest first
    products: list[dict[str, Any]] = field(default_factory=list)
    # Carts, orders and events by id alone: their documents stay in the store until used.
    carts: list[str] = field(default_factory=list)
    cart_refs: dict[str, str] = field(default_factory=dict)  # order id -> cart id
    orders: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    idempotency: list[dict[str, Any]] = field(default_factory=list)  # whole (a file of format 1)
    stored_keys: list[tuple[str, datetime, int]] = field(default_factory=list)  # key, stored at, weight
    stored_bytes: int = 0  # what the items' documents weigh on disk
