"""State per API key (docs/contract.md §1): each key is its own merchant sandbox.

Everything a key owns lives in one `TenantState`; nothing is shared between keys except
the server's start-up configuration, so parallel CI jobs can share one simulator by
using different keys. A tenant's lock serializes its changes (updates of one cart never
interleave); tenants never wait for each other.

Every change of a tenant's state goes through one of its methods (`put_product`,
`put_cart`, `put_order`, `set_settings`, `set_faults`, `set_catalog`, `replace`,
`clear`), which notes it; `take_changes` hands what changed since, as a `ChangeSet` value,
to the store (simulator/state/store.py). The store never sees the tenant itself.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson

from simulator.contract.catalog import build_catalog, catalog_document
from simulator.domain.carts import Cart
from simulator.domain.errors import SimError
from simulator.domain.faults import FaultPlan, FaultRule, TokenBucket
from simulator.domain.idempotency import IdempotencyStore, Remembered, Stored, stored_at
from simulator.domain.ids import IdFactory
from simulator.domain.matching import Catalog, Product
from simulator.domain.orders import Order, RefundWindows
from simulator.state import footprint, snapshot
from simulator.state.changes import Changes, ChangeSet, Loaded
from simulator.state.journal import Entry, Journal, Record, entries_of
from simulator.state.shelf import Held, Shelf

T = TypeVar("T")

TRACKED_STEP = 64 * 1024  # a key's weight, as its row keeps it: to the next 64 KiB (the 64 MiB limit's 1/1024)

# Kinds of item a store keeps one row each of.
PRODUCT, CART, ORDER, EVENT, IDEMPOTENCY_KEY = "product", "cart", "order", "event", "idempotency_key"


def product_row(key: tuple[str, str]) -> str:
    """A product's row id: its list price is per currency (a currency is three letters)."""
    product_id, currency = key
    return f"{currency}:{product_id}"


def _product_key(row: str) -> tuple[str, str]:
    currency, _, product_id = row.partition(":")
    return product_id, currency


@dataclass
class ShadowState:
    """Shadow mode (web/shadow.py): where the simulator answered otherwise than the
    upstream, newest kept, and the upstream's event ids mapped to this key's own."""

    KEPT = 1000

    parity: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ShadowState.KEPT))
    event_aliases: dict[str, str] = field(default_factory=dict)

    def clear(self) -> None:
        self.parity.clear()
        self.event_aliases.clear()


class Cold(Exception):
    """An operation asked for an item whose bytes are only in the store, where it may not
    read it (on the event loop): read it elsewhere, and run the operation again
    (simulator/facade.py, `Transaction.run`). Raised before the operation changed
    anything, since every operation reads before it writes."""

    def __init__(self, kind: str, item_id: str, version: object):
        super().__init__(kind, item_id)
        self.kind, self.item_id, self.version = kind, item_id, version


ReadStored = Callable[[str, list[str] | None], dict[str, bytes]]  # kind, ids (None: all) -> documents


def _event_weight(document: dict[str, Any]) -> int:
    return 600 + 2 * len(str(document.get("payload", "")))


def _shelves() -> tuple[Shelf[Cart], Shelf[Order], Shelf[dict[str, Any]]]:
    carts: Shelf[Cart] = Shelf(snapshot.cart_doc, snapshot.cart_from, footprint.cart)  # type: ignore[arg-type]
    orders: Shelf[Order] = Shelf(snapshot.order_doc, snapshot.order_from, footprint.order)  # type: ignore[arg-type]
    events: Shelf[dict[str, Any]] = Shelf(lambda d: d, lambda d: d, _event_weight)  # type: ignore[arg-type,return-value]
    return carts, orders, events


class TenantState:
    def __init__(
        self,
        key: str,
        catalog: Catalog,
        refund_windows: RefundWindows,
        ids: IdFactory,
        *,
        faults: tuple[dict[str, Any], ...] = (),
        rate_limit: float | None = None,
        magic_values: bool = False,
        state_limit: int = 64 * 1024 * 1024,
        shadow: bool = False,
    ):
        self.key = key
        self.catalog, self.own_catalog, self.catalog_bytes = catalog, False, 0
        self.refund_windows, self.magic_values = refund_windows, magic_values
        self.ids = ids
        self.startup_faults = faults  # `serve --faults`: what a reset restores
        self.faults = FaultPlan([FaultRule.from_body(r) for r in faults])
        self.rate_limit = TokenBucket(rate_limit, 0.0) if rate_limit else None
        self.state_limit = state_limit
        self.products: dict[tuple[str, str], Product] = {}  # (id, currency) -> seen in a plan look-up
        self.carts, self.orders, self.events = _shelves()
        self.cart_of_order: dict[str, str] = {}  # order id -> the cart checked out as it
        self.idempotency = IdempotencyStore()
        self.journal = Journal()
        self.lock = threading.RLock()
        self.state_bytes = 0  # what carts, orders, events and products weigh as objects (the per-key limit)
        self.last_used = 0.0  # time.monotonic() of its last request
        self.accounted = 0  # its size as the server's total last counted it
        self.shadow = ShadowState() if shadow else None
        self.changes = Changes()
        self.row_written: tuple[bytes, int] | None = None  # the key's own row as last handed to the store
        # With a durable store: what reads an item's document back, and the items a
        # request's unit of work read for it (None: read them here, on this thread).
        self.read_stored: ReadStored | None = None
        self.cold_reads: dict[tuple[str, str], tuple[object, bytes | None]] | None = None

    def keep_on_disk(self, read: ReadStored) -> None:
        """Let items a durable store holds leave memory; `read` brings one back. (In
        shadow mode, whose undo needs every item at hand, only a key loaded back reads
        them, and keeps them.)"""
        self.read_stored = read
        for kind in (CART, ORDER, EVENT):
            self._by_kind()[kind].cold = self._weakly(functools.partial(TenantState._cold_item, kind=kind))
        self._keys_elsewhere()

    def _keys_elsewhere(self) -> None:
        """The idempotency store (a new one after a wipe or a restore) reads keys whose
        answers left memory back from the durable store, if there is one."""
        self.idempotency.elsewhere = self._weakly(TenantState._read_key) if self.read_stored is not None else None

    def _weakly(self, call: Callable[[TenantState, str], T]) -> Callable[[str], T | None]:
        """`call(self, id)` for the tenant's parts to call back with, holding the tenant
        weakly: with no reference cycle, a tenant evicted or forgotten is freed at once,
        without the cyclic collector, which under `serve` never looks at objects that have
        lived long (simulator/web/workers.py)."""
        tenant = weakref.ref(self)

        def back(item_id: str) -> T | None:
            me = tenant()
            return None if me is None else call(me, item_id)

        return back

    def _cold_item(self, item_id: str, *, kind: str) -> bytes | None:
        return self._cold(kind, item_id, self._by_kind()[kind].version(item_id))

    def _read_key(self, key: str) -> Remembered | None:
        found = self._cold(IDEMPOTENCY_KEY, key, self.idempotency.version(key))
        return None if found is None else snapshot.idempotency_from(orjson.loads(found))[1]

    def _cold(self, kind: str, item_id: str, version: object) -> bytes | None:
        reads = self.cold_reads
        if reads is None:
            assert self.read_stored is not None
            return self.read_stored(kind, [item_id]).get(item_id)
        read = reads.get((kind, item_id))
        if read is None or read[0] != version:
            raise Cold(kind, item_id, version)
        return read[1]

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
        self.carts.put(cart.cart_id, cart)
        if cart.order_id is not None:
            self.cart_of_order[cart.order_id] = cart.cart_id
        self.changes.items.add((CART, cart.cart_id))

    def put_order(self, order: Order, event: dict[str, Any]) -> None:
        """An order as an event left it, and the event (its document)."""
        previous = self.orders.get(order.order_id)
        weight = footprint.order(order) + _event_weight(event)
        self.charge(footprint.order(previous) if previous else 0, weight)
        self.orders.put(order.order_id, order)
        self.events.put(event["event_id"], event)
        self.changes.items.add((ORDER, order.order_id))
        self.changes.items.add((EVENT, event["event_id"]))

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
        """Everything but the key becomes what a snapshot holds (PUT /__sim/state)."""
        self.clear()
        self.own_catalog = parts.catalog is not None
        self.catalog = parts.catalog if parts.catalog is not None else server_catalog
        self.catalog_bytes = footprint.catalog(self.catalog) if self.own_catalog else 0
        self.refund_windows, self.magic_values, self.faults = parts.refund_windows, parts.magic_values, parts.faults
        self.products = parts.products
        for shelf, frozen in ((self.carts, parts.carts), (self.orders, parts.orders), (self.events, parts.events)):
            for item_id, document in frozen.items():
                shelf.put_frozen(item_id, document)
        self.cart_of_order = dict(parts.cart_of_order)
        self.idempotency = parts.idempotency
        self.idempotency.touched.clear()
        self._keys_elsewhere()
        durable = self.journal.durable
        self.journal = parts.journal
        self.journal.durable = durable
        self.ids.go_on_from(parts.generated_ids)
        self.state_bytes = parts.tracked
        self.changes = Changes(everything=True)

    def resume(self, loaded: Loaded, server_catalog: Catalog) -> None:
        """The key as a durable store kept it (a restart, or the key evicted and asked
        for again): its carts, orders and events stay the bytes the store read, and its
        journal on disk."""
        self.own_catalog = loaded.catalog is not None
        self.catalog = build_catalog(loaded.catalog) if loaded.catalog is not None else server_catalog
        self.catalog_bytes = footprint.catalog(self.catalog) if self.own_catalog else 0
        self.refund_windows = RefundWindows(**loaded.settings["refund_windows"])
        self.magic_values = loaded.settings["magic_values"]
        self.faults = snapshot.faults_from(loaded.faults)
        self.products = {(p["id"], p["price_currency"]): snapshot.product_from(p) for p in loaded.products}
        for shelf, ids in ((self.carts, loaded.carts), (self.orders, loaded.orders), (self.events, loaded.events)):
            for item_id in ids:
                shelf.put_stored(item_id)
        self.cart_of_order = dict(loaded.cart_refs)
        keys: list[tuple[str, Remembered | Stored]] = [snapshot.idempotency_from(d) for d in loaded.idempotency]
        keys += [(key, (at, weight)) for key, at, weight in loaded.stored_keys]
        for key, entry in sorted(keys, key=lambda kr: stored_at(kr[1])):
            self.idempotency.load(key, entry)
        self.idempotency.touched.clear()
        self.journal.resume(loaded.journal_next, loaded.journal_first, loaded.journal_sizes)
        self.ids.go_on_from(loaded.generated_ids)
        # A file written before the weight was kept: three times the bytes, as objects weigh.
        self.state_bytes = (
            loaded.tracked if loaded.tracked is not None else 3 * loaded.stored_bytes + footprint.PRODUCT * len(self.products)
        )
        self.changes = Changes()

    def clear(self) -> None:
        """Forget all traffic (products seen, carts, orders, events, idempotency keys,
        the journal) and the faults set for this key, back to those of `serve --faults`.
        The catalog and settings (refund windows, magic values) survive: they are set-up,
        not traffic."""
        self.products = {}
        for shelf in (self.carts, self.orders, self.events):
            shelf.clear()
        self.cart_of_order = {}
        self.idempotency = IdempotencyStore()
        self._keys_elsewhere()
        self.faults = FaultPlan([FaultRule.from_body(r) for r in self.startup_faults])
        durable = self.journal.durable
        self.journal.clear()
        self.journal.durable = durable
        self.state_bytes = 0
        if self.shadow is not None:
            self.shadow.clear()
        self.changes = Changes(everything=True)

    # -- what the store is handed ---------------------------------------------------------

    def take_changes(self) -> ChangeSet | None:
        """What changed since the last call, as a value (call under the lock); None when
        nothing did. Carts, orders and events go as the bytes the shelves keep."""
        changes, touched = self.changes, self.idempotency.touched
        entries = self.journal.take_unsaved()
        if not (changes or touched or entries):
            return None
        out = ChangeSet(self.key, journal=entries, journal_first=self.journal.first_seq)
        if changes or touched or self.faults.rules or self.ids.generated or not self.journal.saved:
            # The key's own row (settings, fault counts, counters), written when it
            # changed: its journal seqs are read back from the journal's own rows, and its
            # weight is kept to the next TRACKED_STEP. Written with every request, the row
            # and its index were two of the six pages a small request wrote. A request
            # that only adds to the journal (most look-ups) writes its entry alone.
            settings = {
                "settings": snapshot.settings_doc(self.refund_windows, self.magic_values),
                "faults": snapshot.fault_docs(self.faults),
                "tracked": -(-self.state_bytes // TRACKED_STEP) * TRACKED_STEP,
            }
            row = (orjson.dumps(settings), self.ids.generated)
            if changes.everything or not self.journal.saved or row != self.row_written:  # (a wipe took the row)
                out.tenant_row = (*row, self.journal.next_seq, self.journal.first_seq)
                self.row_written = row
        if changes.everything:
            out.wipe = True
            out.catalog = (orjson.dumps(catalog_document(self.catalog)) if self.own_catalog else None,)
            out.items = self._every_item()
        else:
            if changes.catalog:
                out.catalog = (orjson.dumps(catalog_document(self.catalog)) if self.own_catalog else None,)
            for kind, item_key in changes.items:
                out.items.append(self._item(kind, item_key))
            for idempotency_key in touched:
                out.items.append(self._item(IDEMPOTENCY_KEY, idempotency_key))
        shelves = self._by_kind()
        for kind, item_id, _, _ in out.items:
            shelf = shelves.get(kind)
            if shelf is not None:
                out.versions.append((kind, item_id, shelf.version(item_id)))
            elif kind == IDEMPOTENCY_KEY:
                out.versions.append((kind, item_id, self.idempotency.version(item_id)))
        self.changes = Changes()
        touched.clear()
        return out

    def written(self, changes: ChangeSet, error: BaseException | None) -> None:
        """The store wrote `changes` (call under the lock): what it holds may leave
        memory. Or it could not: what they held is written with the next change set."""
        shelves = self._by_kind()
        if error is not None:
            if changes.wipe:
                self.changes.everything = True
            if changes.tenant_row is not None or changes.catalog is not None:
                self.row_written = None
                self.changes.settings = True
                self.changes.catalog = self.changes.catalog or changes.catalog is not None
            for kind, item_id, _, _ in changes.items:
                if kind == IDEMPOTENCY_KEY:
                    self.idempotency.touched.add(item_id)
                elif kind == PRODUCT:
                    self.changes.items.add((PRODUCT, _product_key(item_id)))
                else:
                    self.changes.items.add((kind, item_id))
            return
        if self.read_stored is None or self.shadow is not None:
            return
        for kind, item_id, version in changes.versions:
            shelf = shelves.get(kind)
            if shelf is not None and isinstance(version, int):
                shelf.stored(item_id, version)
            elif isinstance(version, Remembered):
                self.idempotency.stored(item_id, version)

    def _by_kind(self) -> dict[str, Shelf[Any]]:
        return {CART: self.carts, ORDER: self.orders, EVENT: self.events}

    def _item(self, kind: str, item_key: Any, refs: Mapping[str, str] | None = None) -> tuple[str, str, bytes | None, str | None]:
        if kind == PRODUCT:
            product = self.products.get(item_key)
            document = None if product is None else orjson.dumps(snapshot.product_doc(product))
            return kind, product_row(item_key), document, None
        if kind == IDEMPOTENCY_KEY:
            # The row's ref is when the key was stored: a key loaded back keeps that alone.
            remembered = self.idempotency.get(item_key)
            if remembered is None:
                return kind, item_key, None, None
            key_doc = snapshot.idempotency_doc(item_key, remembered)
            return kind, item_key, orjson.dumps(key_doc), key_doc["stored_at"]
        shelf = self._by_kind()[kind]
        ref = None
        if kind == CART and refs is not None:
            ref = refs.get(item_key)
        elif kind == CART:
            cart = shelf.get(item_key)  # just put: used last, not frozen only
            ref = cart.order_id if cart is not None else None
        return kind, item_key, shelf.frozen(item_key), ref

    def _every_item(self) -> list[tuple[str, str, bytes | None, str | None]]:
        refs = {cart_id: order_id for order_id, cart_id in self.cart_of_order.items()}
        items = [self._item(PRODUCT, k) for k in self.products]
        items += [self._item(CART, k, refs) for k in self.carts]
        items += [self._item(ORDER, k) for k in self.orders]
        items += [self._item(EVENT, k) for k in self.events]
        items += [self._item(IDEMPOTENCY_KEY, k) for k, _ in self.idempotency.items()]
        return items

    # -- accounting ------------------------------------------------------------------------

    def size(self) -> int:
        """What this tenant holds in memory, roughly (its journal on disk not counted)."""
        return (
            footprint.TENANT
            + footprint.PRODUCT * len(self.products)
            + self.carts.bytes
            + self.orders.bytes
            + self.events.bytes
            + 100 * len(self.cart_of_order)
            + self.catalog_bytes
            + self.journal.memory_bytes
            + self.idempotency.bytes
        )

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

    # -- shadow mode: undoing a request the real API refused --------------------------------

    def checkpoint(self) -> Checkpoint:
        """What a request may change, copied (carts and orders are replaced, never changed)."""
        return Checkpoint(
            dict(self.products),
            self.carts.held(),
            dict(self.cart_of_order),
            self.orders.held(),
            self.events.held(),
            self.state_bytes,
        )

    def restore(self, saved: Checkpoint) -> None:
        """Back to a checkpoint: what changed since is put back as it was."""
        for key in self.products.keys() | saved.products.keys():
            if self.products.get(key) is not saved.products.get(key):
                self.changes.items.add((PRODUCT, key))
        self.products, self.cart_of_order = saved.products, saved.cart_of_order
        shelves: tuple[tuple[str, Shelf[Any], Held[Any]], ...] = (
            (CART, self.carts, saved.carts),
            (ORDER, self.orders, saved.orders),
            (EVENT, self.events, saved.events),
        )
        for kind, shelf, held in shelves:
            self.changes.items.update((kind, item_id) for item_id in shelf.restore(held))
        self.state_bytes = saved.state_bytes

    # -- readers ---------------------------------------------------------------------------

    def view(self, with_keys: bool = False, with_items: bool = True) -> TenantView:
        """What the report and the journal read, copied in a moment (call it under the
        lock): carts and orders are replaced, never changed, so the copy can be read on
        another thread while requests go on. With a durable store, `entries` holds only
        what is not on disk yet (and what readers read back before), and items only those
        in memory: `TenantView.with_journal` and `with_stored` add the rest. `with_keys`:
        the idempotency keys too; not `with_items`: what is only in the store is not read
        (the journal's page shows no item)."""
        chunks, tail, first = self.journal.held()
        generation, read_back, read_upto = self.journal.read_back()
        return TenantView(
            catalog=self.catalog,
            refund_windows=self.refund_windows,
            products=dict(self.products),
            carts=self.carts.held(),
            orders=self.orders.held(),
            events=self.events.held(),
            memory_journal=(chunks, tail),
            first_seq=first,
            saved_seq=self.journal.saved if self.journal.durable else 0,
            next_seq=self.journal.next_seq,
            parity=tuple(self.shadow.parity) if self.shadow is not None else (),
            shadow=self.shadow is not None,
            idempotency=tuple(self.idempotency.items()) if with_keys else (),
            with_items=with_items,
            read_back=(generation, read_back, read_upto),
        )

    def snapshot(self, taken_at: datetime) -> tuple[TenantView, Callable[[TenantView], dict[str, Any]]]:
        """The whole state as schemas/sim-state.json writes it: a view copied now (call
        under the lock), and the function that builds the document from it anywhere."""
        view = self.view(with_keys=True)
        catalog = self.catalog if self.own_catalog else None
        windows, magic_values, generated = self.refund_windows, self.magic_values, self.ids.generated
        faults = snapshot.faults_from(snapshot.fault_docs(self.faults))

        def build(complete: TenantView) -> dict[str, Any]:
            return snapshot.document(
                catalog=catalog,
                refund_windows=windows,
                magic_values=magic_values,
                faults=faults,
                products=complete.products.values(),
                carts=complete.carts.documents(),
                orders=complete.orders.documents(),
                events=complete.events.documents(),
                idempotency=complete.remembered(),
                journal=(complete.next_seq, complete.entries),
                generated_ids=generated,
                taken_at=taken_at,
            )

        return view, build


@dataclass(frozen=True)
class Checkpoint:
    products: dict[tuple[str, str], Product]
    carts: Held[Cart]
    cart_of_order: dict[str, str]
    orders: Held[Order]
    events: Held[dict[str, Any]]
    state_bytes: int


@dataclass(frozen=True)
class TenantView:
    catalog: Catalog
    refund_windows: RefundWindows
    products: Mapping[tuple[str, str], Product]
    carts: Held[Cart]
    orders: Held[Order]
    events: Held[dict[str, Any]]
    memory_journal: tuple[tuple[tuple[int, int, bytes], ...], tuple[Entry, ...]]
    first_seq: int  # the oldest journal entry kept
    saved_seq: int  # with a durable store: entries up to here are on disk, not in memory
    next_seq: int
    parity: tuple[dict[str, Any], ...] = ()  # shadow mode's differences
    shadow: bool = False
    on_disk: tuple[Entry, ...] = ()  # the entries a durable store holds, once read (`with_journal`)
    idempotency: tuple[tuple[str, Remembered | Stored], ...] = ()  # (`view(with_keys=True)`)
    with_items: bool = True  # items only in the store are to be read
    # The journal's generation, the entries readers read back from the store before, and
    # the seq they reach: only what was saved since is read again.
    read_back: tuple[int, tuple[Entry, ...], int] = (0, (), 0)

    def unread_from(self) -> int:
        """The oldest seq of the store's journal that this view has to read."""
        return max(self.first_seq, self.read_back[2] + 1)

    def with_journal(self, read: list[Entry]) -> TenantView:
        """The view with the journal entries a durable store holds for it: those read
        back before, and `read` (from `unread_from()` to `saved_seq`)."""
        return dataclasses.replace(self, on_disk=self.read_back[1] + tuple(read), read_back=(self.read_back[0], (), 0))

    def stored_kinds(self) -> list[str]:
        """The kinds of item whose bytes are (some of them) only in the store, and that
        this view reads."""
        if not self.with_items:
            return []
        kinds = [kind for kind, held in ((CART, self.carts), (ORDER, self.orders), (EVENT, self.events)) if held.missing()]
        if any(isinstance(entry, tuple) for _, entry in self.idempotency):
            kinds.append(IDEMPOTENCY_KEY)
        return kinds

    def with_stored(self, documents: Mapping[str, dict[str, bytes]]) -> TenantView:
        """The view with the items a durable store read for it, by kind (an item changed
        since the view was taken is read as it is now)."""
        keys = documents.get(IDEMPOTENCY_KEY, {})
        return dataclasses.replace(
            self,
            carts=self.carts.with_stored(documents.get(CART, {})),
            orders=self.orders.with_stored(documents.get(ORDER, {})),
            events=self.events.with_stored(documents.get(EVENT, {})),
            idempotency=tuple(
                (key, snapshot.idempotency_from(orjson.loads(keys[key]))[1] if isinstance(entry, tuple) else entry)
                for key, entry in self.idempotency
                if not isinstance(entry, tuple) or key in keys
            ),
        )

    def remembered(self) -> list[tuple[str, Remembered]]:
        """The idempotency keys kept whole (all of them, after `with_stored`)."""
        return [(key, entry) for key, entry in self.idempotency if isinstance(entry, Remembered)]

    @property
    def entries(self) -> list[Entry]:
        """Every kept journal entry, oldest first."""
        chunks, tail = self.memory_journal
        held = entries_of(chunks, tail, self.first_seq)
        if not self.saved_seq:
            return held
        on_disk = [e for e in self.on_disk if self.first_seq <= e.seq <= self.saved_seq]
        return on_disk + [e for e in held if e.seq > self.saved_seq]

    @property
    def dropped(self) -> int:
        return self.first_seq - 1

    def known_product(self, product_id: str, currency: str) -> Product | None:
        return self.products.get((product_id, currency)) or self.catalog.product(product_id, currency)

    def records(self) -> list[Record]:
        return [Record(e) for e in self.entries]
