"""What a tenant's state costs in memory, roughly, so that memory can be bounded
(docs/fidelity.md, "Limits"). Each figure is bytes per object as Python keeps it, an
estimate fitted to what tracemalloc measured for 3- to 100-line carts and orders, not an
exact count: it only has to keep a server of many tenants within its budget."""

from __future__ import annotations

from simulator.domain.carts import Cart
from simulator.domain.matching import Catalog
from simulator.domain.orders import Order


def exact(data: bytes) -> bytes:
    """`data` in a bytes object of its own size. orjson's output keeps the buffer it was
    written into: a 60-byte answer holds 4 KiB, and larger ones two to six times their
    length (measured with tracemalloc). Bytes a tenant keeps (journal entries, replayable
    answers, event payloads) go through here: kept as orjson gave them, the server held
    three to four times what it counted."""
    return memoryview(data).tobytes()


TENANT = 3_000  # an empty tenant: its objects, lock, journal and key stores
PRODUCT = 300  # a product remembered from a look-up


def cart(c: Cart) -> int:
    return 500 + 230 * len(c.lines) + 100 * len(c.reconciliation.steps)


def order(o: Order) -> int:
    return 3_500 + 450 * len(o.lines) + 250 * len(o.protections) + 16 * o.units


def event(payload: bytes) -> int:
    return 250 + len(payload)


def catalog(c: Catalog) -> int:
    return 2_000 + sum(600 + 150 * len(p.price_bands) for p in c.plans) + 300 * len(c.products)
