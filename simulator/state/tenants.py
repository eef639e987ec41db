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
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from simulator.config import SimConfig
from simulator.domain.carts import Cart
from simulator.domain.errors import SimError
from simulator.domain.faults import FaultPlan, FaultRule, TokenBucket
from simulator.domain.idempotency import IdempotencyStore
from simulator.domain.ids import IdFactory
from simulator.domain.matching import Catalog, Product
from simulator.domain.orders import Order, RefundWindows
from simulator.report.parity import KEPT, Answer, differences, fidelity_rule
from simulator.state import footprint, snapshot
from simulator.state.journal import Journal, Record

if TYPE_CHECKING:
    from simulator.state.store import Store


# Kinds of item a store keeps one row each of (simulator/store.py).
PRODUCT, CART, ORDER, EVENT, IDEMPOTENCY_KEY = "product", "cart", "order", "event", "idempotency_key"


@dataclass
class Changes:
    """What changed in a tenant since its store last saved it. Every write of tenant
    state goes through a `TenantState` method that notes it here (the idempotency
    keys note themselves, the journal is saved by seq), so a store writes what a
    request changed, not the whole tenant."""

    items: set[tuple[str, Any]] = field(default_factory=set)  # (kind, the key it has in its dict)
    settings: bool = False  # refund windows, magic values, faults
    catalog: bool = False
    everything: bool = False  # reset or import: the store rewrites the tenant whole
    journal_saved: int = 0  # the newest journal seq the store holds

    def __bool__(self) -> bool:
        return bool(self.items or self.settings or self.catalog or self.everything)


@dataclass
class TenantState:
    key: str
    catalog: Catalog
    refund_windows: RefundWindows
    ids: IdFactory
    products: dict[tuple[str, str], Product] = field(default_factory=dict)  # (id, currency) -> seen in a plan look-up
    carts: dict[str, Cart] = field(default_factory=dict)
    cart_of_order: dict[str, str] = field(default_factory=dict)  # order id -> the cart checked out as it
    orders: dict[str, Order] = field(default_factory=dict)
    # event id -> (type, the payload as snapshot.packed_payload keeps it, received_at)
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
    changes: Changes = field(default_factory=Changes)
    own_catalog: bool = False  # set by PUT /__sim/catalog (else the server's)

    # -- every write of state, noted for the store ---------------------------------------

    def put_product(self, product: Product) -> None:
        known = self.products.get(product.key)
        if known == product:
            return  # product pages ask about the same product again and again
        if known is None:
            self.charge(0, footprint.PRODUCT)
        self.products[product.key] = product
        self.changes.items.add((PRODUCT, product.key))

    def put_cart(self, cart: Cart) -> None:
        existing = self.carts.get(cart.cart_id)
        self.charge(footprint.cart(existing) if existing else 0, footprint.cart(cart))
        self.carts[cart.cart_id] = cart
        if cart.order_id is not None:
            self.cart_of_order[cart.order_id] = cart.cart_id
        self.changes.items.add((CART, cart.cart_id))

    def put_order(self, order: Order, event_id: str, event: tuple[str, bytes, str]) -> None:
        """An order as an event left it, and the event."""
        previous = self.orders.get(order.order_id)
        self.charge((footprint.order(previous) if previous else 0), footprint.order(order) + footprint.event(event[1]))
        self.orders[order.order_id] = order
        self.events[event_id] = event
        self.changes.items.add((ORDER, order.order_id))
        self.changes.items.add((EVENT, event_id))

    def set_settings(self, refund_windows: RefundWindows, magic_values: bool) -> None:
        self.refund_windows, self.magic_values = refund_windows, magic_values
        self.changes.settings = True

    def set_faults(self, faults: FaultPlan) -> None:
        self.faults = faults
        self.changes.settings = True

    def set_catalog(self, catalog: Catalog) -> None:
        self.catalog, self.own_catalog = catalog, True
        self.catalog_bytes = footprint.catalog(catalog)
        self.changes.catalog = True

    def replace(self, parts: snapshot.Parts, server_catalog: Catalog) -> None:
        """Everything but the key becomes what a snapshot holds (PUT /__sim/state, or
        the state file at a reload)."""
        self.clear()
        self.own_catalog = parts.catalog is not None
        self.catalog = parts.catalog if parts.catalog is not None else server_catalog
        self.catalog_bytes = footprint.catalog(self.catalog) if self.own_catalog else 0
        self.refund_windows, self.magic_values, self.faults = parts.refund_windows, parts.magic_values, parts.faults
        self.products, self.carts, self.orders, self.events = parts.products, parts.carts, parts.orders, parts.events
        self.cart_of_order = {c.order_id: c.cart_id for c in self.carts.values() if c.order_id is not None}
        self.idempotency, self.journal = parts.idempotency, parts.journal
        self.idempotency.touched.clear()
        self.ids.go_on_from(parts.generated_ids)
        self.state_bytes = tracked_bytes(self.products, self.carts, self.orders, self.events)
        self.changes = Changes(everything=True)

    def snapshot(self, taken_at: datetime) -> Callable[[], dict[str, Any]]:
        """The whole state as schemas/sim-state.json writes it. Call under the lock: it
        copies what it refers to in a moment (carts, orders and entries are replaced,
        never changed), and the returned function builds the document anywhere."""
        journal = Journal()
        journal.load(self.journal.entries(), self.journal.next_seq)
        catalog = self.catalog if self.own_catalog else None
        windows, magic_values, generated = self.refund_windows, self.magic_values, self.ids.generated
        faults = snapshot.faults_from(snapshot.fault_docs(self.faults))
        products, carts, orders = list(self.products.values()), list(self.carts.values()), list(self.orders.values())
        events, idempotency = list(self.events.items()), self.idempotency.items()
        return lambda: snapshot.document(
            catalog=catalog,
            refund_windows=windows,
            magic_values=magic_values,
            faults=faults,
            products=products,
            carts=carts,
            orders=orders,
            events=events,
            idempotency=idempotency,
            journal=journal,
            generated_ids=generated,
            taken_at=taken_at,
        )

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

    def known_product(self, product_id: str, currency: str) -> Product | None:
        """The list price in `currency` and the category Hakuna knows: the last look-up
        in that currency, else the catalog's product list."""
        found = self.products.get((product_id, currency))
        if found is not None:
            return found
        return self.catalog.product(product_id, currency)

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
        items = self.changes.items
        pairs: tuple[tuple[str, Mapping[Any, Any], Mapping[Any, Any]], ...] = (
            (PRODUCT, self.products, saved.products),
            (CART, self.carts, saved.carts),
            (ORDER, self.orders, saved.orders),
            (EVENT, self.events, saved.events),
        )
        for kind, now, then in pairs:
            items.update((kind, k) for k in now.keys() | then.keys() if now.get(k) is not then.get(k))
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
        self.changes = Changes(everything=True)


def tracked_bytes(
    products: Mapping[tuple[str, str], Product],
    carts: Mapping[str, Cart],
    orders: Mapping[str, Order],
    events: Mapping[str, tuple[str, bytes, str]],
) -> int:
    """What `TenantState.charge` would have counted for this state, added up."""
    return (
        footprint.PRODUCT * len(products)
        + sum(footprint.cart(c) for c in carts.values())
        + sum(footprint.order(o) for o in orders.values())
        + sum(footprint.event(e[1]) for e in events.values())
    )


@dataclass(frozen=True)
class Checkpoint:
    products: dict[tuple[str, str], Product]
    carts: dict[str, Cart]
    cart_of_order: dict[str, str]
    orders: dict[str, Order]
    events: dict[str, tuple[str, bytes, str]]
    state_bytes: int


@dataclass(frozen=True)
class TenantView:
    catalog: Catalog
    refund_windows: RefundWindows
    products: Mapping[tuple[str, str], Product]
    carts: Mapping[str, Cart]
    orders: Mapping[str, Order]
    entries: tuple[tuple[Any, ...], ...]  # the journal's, as stored
    dropped: int  # journal entries no longer kept
    parity: tuple[dict[str, Any], ...] = ()  # shadow mode's differences
    shadow: bool = False

    def known_product(self, product_id: str, currency: str) -> Product | None:
        return self.products.get((product_id, currency)) or self.catalog.product(product_id, currency)

    def records(self) -> list[Record]:
        return [Record(e) for e in self.entries]


class Tenants:
    """Every tenant by key, least recently used first. Memory stays bounded: a tenant
    idle for `tenant_idle_seconds` is evicted, and so are the least recently used ones
    past `max_tenants` or past `memory_budget` bytes in all. An evicted key that comes
    back is loaded from the store: whole from a state file (`serve --state`), empty
    from the in-memory store."""

    def __init__(self, config: SimConfig, store: Store | None = None, clock: Callable[[], float] = time.monotonic):
        from simulator.state.store import MemoryStore

        self._config = config
        self.store: Store = store if store is not None else MemoryStore()
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

    def holds(self, tenant: TenantState) -> bool:
        """Whether `tenant` is still the one its key has (not forgotten meanwhile)."""
        return self._by_key.get(tenant.key) is tenant

    def forget(self, key: str) -> bool:
        """Drop a key's sandbox now, from memory and from the store (its next request
        starts with an empty sandbox); whether there was one."""
        with self._create_lock:
            tenant = self._by_key.pop(key, None)
            if tenant is not None:
                self.total -= tenant.size()
            stored = self.store.has(key)
            self.store.forget(key)
            return tenant is not None or stored

    def settle(self, tenant: TenantState, size_before: int) -> None:
        """Account what a request changed in `tenant`'s size, and evict others if the
        server is now over its budget."""
        if not self.holds(tenant):
            return
        grown = tenant.size() - size_before
        self.total += grown
        # Only the budget can have been passed since `get` evicted what was to go.
        if grown > 0 and self.total > self._config.memory_budget:
            with self._create_lock:
                self._evict(keep=tenant, now=self._clock())

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
        tenant = self._empty(key)
        stored = self.store.load(key)
        if stored is not None:  # evicted, or kept from before a restart
            tenant.replace(snapshot.parts(stored), self._config.catalog)
            tenant.changes = Changes(journal_saved=tenant.journal.next_seq)
        return tenant

    def _empty(self, key: str) -> TenantState:
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
