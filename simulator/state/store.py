"""The store seam: where tenant state goes after a request changed it.

Every change of tenant state is made through a `TenantState` method, which notes it in
`tenant.changes` (the idempotency keys note their own, the journal is saved by seq).
After each request, still under the tenant's lock, the pipeline asks the store to
`save` the tenant; the answer is sent once what `save` returned is `durable`. So a
store sees every change, in the order the requests were answered, and an answered
request is one the store holds.

Two stores implement it: `MemoryStore` (the default: nothing outlives the process, and
saving costs nothing) and `SqliteStore` (`serve --state PATH`, simulator/sqlite_store.py).
Reset, eviction and forgetting go through it too: `Tenants` loads an evicted key back
with `load`, and `forget` removes a key everywhere.
"""

from __future__ import annotations

from typing import Any, Protocol

from simulator.state.tenants import Changes, TenantState


class Pending(Protocol):
    """What one `save` wrote, on its way to being durable."""


class Store(Protocol):
    def load(self, key: str) -> dict[str, Any] | None:
        """The key's state as a snapshot document (schemas/sim-state.json), or None."""

    def save(self, tenant: TenantState) -> Pending | None:
        """Take what changed in `tenant` since its last save (call under its lock)."""

    async def durable(self, pending: Pending) -> None:
        """Return once `pending` would survive the process being killed."""

    def forget(self, key: str) -> Pending | None:
        """Remove the key's state, as of now."""

    def has(self, key: str) -> bool:
        """Whether the store holds state for `key` (held in memory or not)."""

    def flush(self) -> Pending | None:
        """A write of nothing, durable once everything saved before it is."""

    def figures(self) -> dict[str, int]:
        """Bytes and keys held, for metrics."""

    def close(self) -> None: ...


class MemoryStore:
    """State lives in the tenants alone: a restart or an eviction loses it."""

    def load(self, key: str) -> dict[str, Any] | None:
        return None

    def save(self, tenant: TenantState) -> Pending | None:
        if tenant.changes:
            tenant.changes = Changes()
        if tenant.idempotency.touched:
            tenant.idempotency.touched.clear()
        return None

    async def durable(self, pending: Pending) -> None:
        return None  # pragma: no cover - save answers None

    def forget(self, key: str) -> Pending | None:
        return None

    def has(self, key: str) -> bool:
        return False

    def flush(self) -> Pending | None:
        return None

    def figures(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        return None
