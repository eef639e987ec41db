"""Every key's tenant, least recently used first, within the server's bounds.

Memory stays bounded: a key idle for `tenant_idle_seconds` is evicted, and so are the
least recently used ones past `max_tenants` or past `memory_budget` bytes in all (the
tenants' `size`: their carts, orders and events, journals held in memory, idempotency
keys). An evicted key that comes back is loaded from the store: from a state file
(`serve --state`), on a worker thread, so the event loop goes on serving every other
key meanwhile; from the in-memory store, as an empty sandbox.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from simulator.config import SimConfig
from simulator.domain.ids import IdFactory
from simulator.state.changes import Loaded
from simulator.state.store import MemoryStore, Pending, Store
from simulator.state.tenant import TenantState

# What a journal keeps when the server sheds journals to stay within its memory budget.
JOURNAL_KEPT = 512 * 1024


class Tenants:
    def __init__(self, config: SimConfig, store: Store | None = None, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self.store: Store = store if store is not None else MemoryStore()
        self._clock = clock
        self._by_key: OrderedDict[str, TenantState] = OrderedDict()
        self._loading: dict[str, asyncio.Future[TenantState]] = {}
        self._lock = threading.Lock()  # held while the dict changes (worker threads read `all`)
        self.total = 0  # the tenants' sizes, added up
        self.evicted = 0
        self.loads = 0  # keys read back from the store

    def __len__(self) -> int:
        return len(self._by_key)

    def held(self, key: str) -> TenantState | None:
        """The key's tenant if it is in memory (now the most recently used)."""
        tenant = self._by_key.get(key)
        if tenant is not None:
            self._by_key.move_to_end(key)
            tenant.last_used = self._clock()
        return tenant

    async def open(self, key: str) -> TenantState:
        """The key's tenant; one the store keeps is loaded on a worker thread, once,
        however many of the key's requests wait for it."""
        tenant = self.held(key)
        if tenant is None:
            if not self.store.durable:
                tenant = self._install(key, self._empty(key))
            else:
                loading = self._loading.get(key)
                if loading is None:
                    loading = self._loading[key] = asyncio.get_running_loop().create_future()
                    try:
                        loaded = await asyncio.get_running_loop().run_in_executor(None, self.store.load, key)
                        tenant = self._built(key, loaded)
                        if self._loading.get(key) is loading:  # not forgotten meanwhile
                            tenant = self._install(key, tenant)
                        loading.set_result(tenant)
                    except BaseException as exc:
                        loading.set_exception(exc)
                        loading.exception()  # (retrieved: the waiters get it)
                        raise
                    finally:
                        if self._loading.get(key) is loading:
                            del self._loading[key]
                tenant = await asyncio.shield(loading)
        self._evict_if_over(keep=tenant)
        return tenant

    def get(self, key: str) -> TenantState:
        """`open` for code without an event loop (a script, a test): the store is read
        on this thread."""
        tenant = self.held(key)
        if tenant is None:
            tenant = self._install(key, self._built(key, self.store.load(key) if self.store.durable else None))
        self._evict_if_over(keep=tenant)
        return tenant

    def all(self) -> list[TenantState]:
        """Every tenant held, least recently used first (a copy: the server goes on)."""
        with self._lock:
            return list(self._by_key.values())

    def holds(self, tenant: TenantState) -> bool:
        """Whether `tenant` is still the one its key has (not forgotten or evicted meanwhile)."""
        return self._by_key.get(tenant.key) is tenant

    def forget(self, key: str) -> tuple[bool, Pending | None]:
        """Drop a key's sandbox now, from memory and from the store (its next request
        starts with an empty sandbox): whether it was held, and the store's write."""
        with self._lock:
            tenant = self._by_key.pop(key, None)
            if tenant is not None:
                self.total -= tenant.accounted
        self._loading.pop(key, None)
        return tenant is not None, self.store.forget(key)

    def settle(self, tenant: TenantState) -> None:
        """Account what a request changed in `tenant`'s size, and evict others if the
        server is now over its budget."""
        if self.account(tenant) > 0 and self.total > self._config.memory_budget:
            self._evict(keep=tenant, now=self._clock())

    def account(self, tenant: TenantState) -> int:
        """Bring the total in line with what `tenant` holds now, from any thread (the
        store's writer lets go of what it wrote): what it grew by since last counted."""
        with self._lock:
            return self._recount(tenant) if self._by_key.get(tenant.key) is tenant else 0

    def _recount(self, tenant: TenantState) -> int:
        """(Under the lock.) The total follows what `tenant` holds now; what it grew by."""
        grown = tenant.size() - tenant.accounted
        tenant.accounted += grown
        self.total += grown
        return grown

    def _evict_if_over(self, keep: TenantState) -> None:
        config, now = self._config, self._clock()
        oldest = next(iter(self._by_key.values()), None)
        if (
            len(self._by_key) > config.max_tenants
            or self.total > config.memory_budget
            or (oldest is not None and now - oldest.last_used > config.tenant_idle_seconds)
        ):
            self._evict(keep=keep, now=now)

    def _evict(self, keep: TenantState, now: float) -> None:
        config = self._config
        with self._lock:
            if self.total > config.memory_budget and not self.store.durable:
                self._shed_journals()
            while len(self._by_key) > 1:
                key, oldest = next(iter(self._by_key.items()))
                if oldest is keep:
                    break
                if (
                    now - oldest.last_used <= config.tenant_idle_seconds
                    and len(self._by_key) <= config.max_tenants
                    and self.total <= config.memory_budget
                ):
                    break
                del self._by_key[key]
                self.total -= oldest.accounted
                self.evicted += 1

    def _shed_journals(self) -> None:
        """Over the budget without a state file, where an evicted key's sandbox is gone:
        the least recently used keys' journals give up their oldest entries first (down
        to JOURNAL_KEPT each), so a key's carts and orders go only when that is not enough."""
        budget = self._config.memory_budget
        for tenant in list(self._by_key.values()):
            if self.total <= budget:
                return
            if tenant.journal.bytes > JOURNAL_KEPT:
                tenant.journal.shed(JOURNAL_KEPT)
                self._recount(tenant)

    def _install(self, key: str, tenant: TenantState) -> TenantState:
        with self._lock:
            held = self._by_key.get(key)
            if held is not None:
                return held
            self._by_key[key] = tenant
            tenant.accounted = tenant.size()
            self.total += tenant.accounted
        tenant.last_used = self._clock()
        return tenant

    def _built(self, key: str, loaded: Loaded | None) -> TenantState:
        tenant = self._empty(key)
        if loaded is not None:  # evicted, or kept from before a restart
            tenant.resume(loaded, self._config.catalog)
            self.loads += 1
        return tenant

    def _empty(self, key: str) -> TenantState:
        config = self._config
        tenant = TenantState(
            key,
            config.catalog,
            config.refund_windows,
            IdFactory(config.seed, key),
            faults=config.faults,
            rate_limit=config.rate_limit,
            magic_values=config.magic_values,
            state_limit=config.tenant_state_limit,
            shadow=config.upstream is not None,
        )
        tenant.journal.durable = self.store.durable
        if self.store.durable:
            store = self.store
            tenant.keep_on_disk(lambda kind, ids: store.read_items(key, kind, ids))
        return tenant
