"""State per API key (docs/contract.md §1): each key is its own merchant sandbox.

Everything a tenant owns lives in one `TenantState`; nothing is shared between keys
except the server's start-up configuration, so parallel CI jobs can share one simulator
by using different keys. A tenant's lock serializes its updates (updates of one cart
never interleave); tenants never wait for each other.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from simulator import footprint
from simulator.carts import Cart
from simulator.config import SimConfig
from simulator.errors import SimError
from simulator.faults import FaultPlan, FaultRule, TokenBucket
from simulator.idempotency import IdempotencyStore
from simulator.ids import IdFactory
from simulator.journal import Journal, Record
from simulator.matching import Catalog, Product
from simulator.orders import Order, RefundWindows
from simulator.parity import KEPT, Answer, differences, fidelity_rule


@dataclass
class TenantState:
    key: str
    catalog: Catalog
    refund_windows: RefundWindows
    ids: IdFactory
    products: dict[str, Product] = field(default_factory=dict)  # seen in plan look-ups
    carts: dict[str, Cart] = field(default_factory=dict)
    cart_of_order: dict[str, str] = field(default_factory=dict)  # order id -> the cart checked out as it
    orders: dict[str, Order] = field(default_factory=dict)
    # event id -> (type, the payload as zlib-compressed JSON, received_at)
    events: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    faults: FaultPlan = field(default_factory=FaultPlan)
    startup_faults: tuple[dict[str, Any], ...] = ()  # `serve --faults`: what a reset restores
    journal: Journal = field(default_factory=Journal)
    rate_limit: TokenBucket | None = None
    magic_values: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)
    state_bytes: int = 0  # what carts, orders, events and products cost, roughly (footprint.py)
    catalog_bytes: int = 0  # what a catalog of this key's own costs (the server's is shared)
    state_limit: int = 64 * 1024 * 1024
    last_used: float = 0.0  # time.monotonic() of its last request
    # Shadow mode: the newest requests the simulator answered otherwise than the upstream.
    parity: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT))
    event_aliases: dict[str, str] = field(default_factory=dict)  # the upstream's event id -> this shadow's
    shadow: bool = False  # shadow mode: the journal holds the upstream's answers

    def size(self) -> int:
        """What this tenant keeps in memory, roughly."""
        return footprint.TENANT + self.state_bytes + self.catalog_bytes + self.journal.bytes + self.idempotency.bytes

    def charge(self, before: int, after: int) -> None:
        """Account a change of state from `before` to `after` bytes; refused (and
        nothing changes) when it would take the tenant past its limit."""
        grown = self.state_bytes + after - before
        if after > before and grown > self.state_limit:
            raise SimError(
                "sandbox_full",
                f"this key's sandbox holds about {self.state_bytes // (1024 * 1024)} MiB of carts, orders "
                f"and events, and this request would take it past the simulator's limit of "
                f"{self.state_limit // (1024 * 1024)} MiB per key: POST /__sim/reset, or use a new key",
            )
        self.state_bytes = grown

    def known_product(self, product_id: str) -> Product | None:
        """The list price and category Hakuna knows: the last look-up, else the catalog's product list."""
        found = self.products.get(product_id)
        if found is not None:
            return found
        return self.catalog.product(product_id)

    def record_parity(
        self, request_id: str, method: str, path: str, simulator: Answer, upstream: Answer, failure: str | None = None
    ) -> None:
        """Shadow mode: keep where the simulator's answer differs from the upstream's."""
        found = [failure] if failure else differences(simulator, upstream)
        if found:
            self.parity.append(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "differences": found,
                    "fidelity": fidelity_rule(method, path, simulator, upstream),
                    "simulator": simulator.shown(),
                    "upstream": upstream.shown(),
                }
            )

    def alias_event(self, upstream_answer: bytes, our_answer: bytes) -> None:
        """Shadow mode: both sides accepted an event, each under an id of its own."""
        if b'"event_id"' not in upstream_answer or b'"event_id"' not in our_answer:
            return
        try:
            theirs, ours = orjson.loads(upstream_answer).get("event_id"), orjson.loads(our_answer).get("event_id")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if isinstance(theirs, str) and isinstance(ours, str) and len(self.event_aliases) < len(self.events) + 1:
            self.event_aliases[theirs] = ours

    def checkpoint(self) -> Checkpoint:
        """What a request may change, copied (shallowly: carts and orders are replaced,
        never changed), so that shadow mode can undo a request the real API refused."""
        return Checkpoint(
            dict(self.products),
            dict(self.carts),
            dict(self.cart_of_order),
            dict(self.orders),
            dict(self.events),
            self.state_bytes,
        )

    def restore(self, saved: Checkpoint) -> None:
        self.products, self.carts, self.cart_of_order = saved.products, saved.carts, saved.cart_of_order
        self.orders, self.events, self.state_bytes = saved.orders, saved.events, saved.state_bytes

    def view(self) -> TenantView:
        """What the report and the journal read, copied in a moment (call it under the
        lock): carts and orders are replaced, never changed, when they change, so the
        copy can be read on another thread while requests go on."""
        return TenantView(
            self.catalog,
            self.refund_windows,
            dict(self.products),
            dict(self.carts),
            dict(self.orders),
            self.journal.entries(),
            self.journal.dropped,
            tuple(self.parity),
            self.shadow,
        )

    def clear(self) -> None:
        """Forget all traffic (products seen, carts, orders, events, idempotency
        keys, the journal) and the faults set for this key, back to those of `serve
        --faults`. The catalog and settings (refund windows, magic values) survive:
        they are set-up, not traffic."""
        self.products.clear()
        self.carts.clear()
        self.cart_of_order.clear()
        self.orders.clear()
        self.events.clear()
        self.idempotency = IdempotencyStore()
        self.faults = FaultPlan([FaultRule.from_body(r) for r in self.startup_faults])
        self.journal.clear()
        self.state_bytes = 0
        self.parity.clear()
        self.event_aliases.clear()


@dataclass(frozen=True)
class Checkpoint:
    products: dict[str, Product]
    carts: dict[str, Cart]
    cart_of_order: dict[str, str]
    orders: dict[str, Order]
    events: dict[str, tuple[str, bytes, str]]
    state_bytes: int


@dataclass(frozen=True)
class TenantView:
    catalog: Catalog
    refund_windows: RefundWindows
    products: Mapping[str, Product]
    carts: Mapping[str, Cart]
    orders: Mapping[str, Order]
    entries: tuple[tuple[Any, ...], ...]  # the journal's, as stored
    dropped: int  # journal entries no longer kept
    parity: tuple[dict[str, Any], ...] = ()  # shadow mode's differences
    shadow: bool = False

    def known_product(self, product_id: str) -> Product | None:
        return self.products.get(product_id) or self.catalog.product(product_id)

    def records(self) -> list[Record]:
        return [Record(e) for e in self.entries]


class Tenants:
    """Every tenant by key, least recently used first. Memory stays bounded: a tenant
    idle for `tenant_idle_seconds` is evicted, and so are the least recently used ones
    past `max_tenants` or past `memory_budget` bytes in all. An evicted key that comes
    back starts with an empty sandbox (nothing is kept on disk)."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        self._by_key: OrderedDict[str, TenantState] = OrderedDict()
        self._create_lock = threading.Lock()
        self.total = 0  # the tenants' sizes, added up
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> TenantState:
        now = self._clock()
        tenant = self._by_key.get(key)
        if tenant is None:
            with self._create_lock:
                tenant = self._by_key.get(key)
                if tenant is None:
                    tenant = self._by_key[key] = self._new(key)
                    self.total += tenant.size()
        else:
            self._by_key.move_to_end(key)
        tenant.last_used = now
        if self._over(now):
            with self._create_lock:
                self._evict(keep=tenant, now=now)
        return tenant

    def all(self) -> list[TenantState]:
        """Every tenant held, least recently used first (a copy: the server goes on)."""
        return list(self._by_key.values())

    def forget(self, key: str) -> bool:
        """Drop a key's tenant now (its next request starts with an empty sandbox);
        whether there was one."""
        with self._create_lock:
            tenant = self._by_key.pop(key, None)
            if tenant is not None:
                self.total -= tenant.size()
            return tenant is not None

    def settle(self, tenant: TenantState, size_before: int) -> None:
        """Account what a request changed in `tenant`'s size, and evict others if the
        server is now over its budget."""
        if self._by_key.get(tenant.key) is tenant:
            self.total += tenant.size() - size_before
        now = self._clock()
        if self._over(now):
            with self._create_lock:
                self._evict(keep=tenant, now=now)

    def _over(self, now: float) -> bool:
        """Whether anything is to be evicted (cheap: most requests find nothing)."""
        config = self._config
        if len(self._by_key) > config.max_tenants or self.total > config.memory_budget:
            return True
        oldest = next(iter(self._by_key.values()), None)
        return oldest is not None and now - oldest.last_used > config.tenant_idle_seconds

    def _evict(self, keep: TenantState, now: float) -> None:
        config = self._config
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
            self.total -= oldest.size()
            self.evicted += 1

    def _new(self, key: str) -> TenantState:
        config = self._config
        return TenantState(
            key=key,
            catalog=config.catalog,
            refund_windows=config.refund_windows,
            ids=IdFactory(config.seed, key),
            faults=FaultPlan([FaultRule.from_body(r) for r in config.faults]),
            startup_faults=config.faults,
            rate_limit=(TokenBucket(config.rate_limit, time.monotonic()) if config.rate_limit else None),
            magic_values=config.magic_values,
            state_limit=config.tenant_state_limit,
            shadow=config.upstream is not None,
        )
