"""State per API key (docs/contract.md §1): each key is its own merchant sandbox.

Everything a tenant owns lives in one `TenantState`; nothing is shared between keys
except the server's start-up configuration, so parallel CI jobs can share one simulator
by using different keys. A tenant's lock serializes its updates (updates of one cart
never interleave); tenants never wait for each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.carts import Cart
from simulator.config import SimConfig
from simulator.faults import FaultPlan, FaultRule, TokenBucket
from simulator.idempotency import IdempotencyStore
from simulator.ids import IdFactory
from simulator.journal import Journal, Record
from simulator.matching import Catalog, Product
from simulator.orders import Order, RefundWindows


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
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    faults: FaultPlan = field(default_factory=FaultPlan)
    startup_faults: tuple[dict[str, Any], ...] = ()  # `serve --faults`: what a reset restores
    journal: Journal = field(default_factory=Journal)
    rate_limit: TokenBucket | None = None
    magic_values: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)

    def known_product(self, product_id: str) -> Product | None:
        """The list price and category Hakuna knows: the last look-up, else the catalog's product list."""
        found = self.products.get(product_id)
        if found is not None:
            return found
        return self.catalog.product(product_id)

    def view(self) -> TenantView:
        """What the report and the journal read, copied in a moment (call it under the
        lock): carts and orders are replaced, never changed, when they change, so the
        copy can be read on another thread while requests go on."""
        return TenantView(self.catalog, self.refund_windows, dict(self.products), dict(self.carts),
                          dict(self.orders), self.journal.entries(), self.journal.dropped)

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


@dataclass(frozen=True)
class TenantView:
    catalog: Catalog
    refund_windows: RefundWindows
    products: Mapping[str, Product]
    carts: Mapping[str, Cart]
    orders: Mapping[str, Order]
    entries: tuple[tuple[Any, ...], ...]  # the journal's, as stored
    dropped: int  # journal entries no longer kept

    def known_product(self, product_id: str) -> Product | None:
        return self.products.get(product_id) or self.catalog.product(product_id)

    def records(self) -> list[Record]:
        return [Record.of(e) for e in self.entries]


class Tenants:
    def __init__(self, config: SimConfig):
        self._config = config
        self._by_key: dict[str, TenantState] = {}
        self._create_lock = threading.Lock()

    def get(self, key: str) -> TenantState:
        tenant = self._by_key.get(key)
        if tenant is None:
            with self._create_lock:
                tenant = self._by_key.get(key)
                if tenant is None:
                    config = self._config
                    tenant = TenantState(key=key, catalog=config.catalog,
                                         refund_windows=config.refund_windows,
                                         ids=IdFactory(config.seed, key),
                                         faults=FaultPlan([FaultRule.from_body(r) for r in config.faults]),
                                         startup_faults=config.faults,
                                         rate_limit=(TokenBucket(config.rate_limit, time.monotonic())
                                                     if config.rate_limit else None),
                                         magic_values=config.magic_values)
                    self._by_key[key] = tenant
        return tenant
