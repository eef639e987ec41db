"""A key's carts, orders or events: the few used last as objects, the rest as bytes.

A merchant's flow touches its cart and its order for seconds, then never again; a team
server keeps thousands of such items per key. A `Shelf` holds each item as the document
a snapshot (and a state file's row) writes for it, `frozen`: orjson, compressed when
large, a fraction of what the objects weigh and nothing the garbage collector walks. The
`HOT` items used last are kept as objects as well, so a flow pays for thawing an item
once. With a state file, an item whose last version is on disk leaves memory but for its
id (and its object, while it is among the HOT): a key loaded back is its ids alone, and a
request reads the few items it touches (simulator/facade.py reads them off the event
loop). Memory then follows the keys' activity, not everything they ever stored.

Items are replaced, never changed in place (carts are replaced whole, an order event
works on a copy), so a reader may hold an item while requests go on.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import orjson

from simulator.pacing import pace
from simulator.state.footprint import exact

T = TypeVar("T")

HOT = 8  # items per shelf kept as objects
SMALL = 2048  # bytes of JSON below which a frozen item is not compressed
OVERHEAD = 120  # what an item costs besides its bytes: its id and the dicts' slots
THAWED_KEPT = 4 * 1024 * 1024  # frozen bytes of items a copy keeps thawed (Held)


def freeze_document(document: object) -> bytes:
    """A document as a shelf keeps it: its JSON, compressed when large (a zlib stream
    starts with "x", a JSON object with "{")."""
    encoded = orjson.dumps(document)
    return zlib.compress(encoded, 1) if len(encoded) > SMALL else exact(encoded)


def thaw_document(frozen: bytes) -> object:
    return orjson.loads(frozen if frozen[:1] == b"{" else zlib.decompress(frozen))


class _Items(Generic[T]):
    """What a shelf and its copies answer alike: their ids, and their parts."""

    _ids: dict[str, int]
    _frozen: dict[str, bytes]
    _hot: dict[str, T]

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def parts(self) -> tuple[dict[str, int], dict[str, bytes], dict[str, T]]:
        return self._ids, self._frozen, self._hot


class Shelf(_Items[T]):
    def __init__(self, freeze: Callable[[T], object], thaw: Callable[[object], T], weigh: Callable[[T], int]):
        """`freeze` makes an item's document, `thaw` the item again, `weigh` says what the
        item weighs as objects (simulator/state/footprint.py)."""
        self._freeze, self._thaw, self._weigh = freeze, thaw, weigh
        self._ids: dict[str, int] = {}  # every id, in the order first put -> its version (the count of its last put)
        self._puts = 0
        self._frozen: dict[str, bytes] = {}
        self._hot: OrderedDict[str, T] = OrderedDict()  # used last, as objects (frozen or not yet)
        # With a durable store: the ids whose last version is on disk, whose bytes the
        # shelf lets go (`stored`), and what reads one of them back (`cold`).
        self._stored: set[str] = set()
        self.cold: Callable[[str], bytes | None] | None = None
        self.bytes = 0  # what the shelf holds, roughly

    def __getitem__(self, item_id: str) -> T:
        item = self.get(item_id)
        if item is None:
            raise KeyError(item_id)
        return item

    def get(self, item_id: str) -> T | None:
        item = self._hot.get(item_id)
        if item is not None:
            self._hot.move_to_end(item_id)
            return item
        frozen = self.frozen(item_id)
        if frozen is None:
            return None
        item = self._thaw(thaw_document(frozen))
        self._keep_hot(item_id, item)
        return item

    def put(self, item_id: str, item: T) -> None:
        self._puts += 1
        if item_id not in self._ids:
            self.bytes += OVERHEAD
        self._ids[item_id] = self._puts
        self._stored.discard(item_id)
        stale = self._frozen.pop(item_id, None)
        if stale is not None:
            self.bytes -= len(stale)
        previous = self._hot.pop(item_id, None)
        if previous is not None:
            self.bytes -= self._weigh(previous)
        self._keep_hot(item_id, item)

    def put_frozen(self, item_id: str, frozen: bytes) -> None:
        """An item as its stored bytes (an import)."""
        self.pop(item_id)
        self._puts += 1
        self._ids[item_id] = self._puts
        self._frozen[item_id] = frozen
        self.bytes += OVERHEAD + len(frozen)

    def put_stored(self, item_id: str) -> None:
        """An item a durable store holds (a key loaded back): its id alone, until asked for."""
        self.pop(item_id)
        self._puts += 1
        self._ids[item_id] = self._puts
        self._stored.add(item_id)
        self.bytes += OVERHEAD

    def pop(self, item_id: str) -> None:
        if self._ids.pop(item_id, None) is not None:
            self.bytes -= OVERHEAD
        self._stored.discard(item_id)
        frozen = self._frozen.pop(item_id, None)
        if frozen is not None:
            self.bytes -= len(frozen)
        item = self._hot.pop(item_id, None)
        if item is not None:
            self.bytes -= self._weigh(item)

    def version(self, item_id: str) -> int:
        return self._ids.get(item_id, 0)

    def stored(self, item_id: str, version: int) -> None:
        """A durable store holds `version` of the item: unless it changed since, its
        bytes leave memory (it stays an object while it is among the HOT)."""
        if self.cold is None or self._ids.get(item_id) != version:
            return
        self._stored.add(item_id)
        frozen = self._frozen.pop(item_id, None)
        if frozen is not None:
            self.bytes -= len(frozen)

    def frozen(self, item_id: str) -> bytes | None:
        """The item's stored bytes (frozen now if it was not yet, read back from the
        store if it left memory), or None."""
        found = self._frozen.get(item_id)
        if found is not None:
            return found
        if item_id in self._hot:
            if item_id in self._stored:
                return freeze_document(self._freeze(self._hot[item_id]))
            found = self._frozen[item_id] = freeze_document(self._freeze(self._hot[item_id]))
            self.bytes += len(found)
            return found
        if item_id in self._stored and self.cold is not None:
            return self.cold(item_id)
        return None

    def _keep_hot(self, item_id: str, item: T) -> None:
        self._hot[item_id] = item
        self.bytes += self._weigh(item)
        while len(self._hot) > HOT:
            oldest, held = next(iter(self._hot.items()))
            if oldest not in self._stored:
                self.frozen(oldest)
            del self._hot[oldest]
            self.bytes -= self._weigh(held)

    def held(self) -> Held[T]:
        """What the shelf holds, copied in a moment (call it under the tenant's lock): a
        reader may thaw it elsewhere while requests go on. Items whose bytes are only in
        the store are missing from it until `Held.with_stored` adds them."""
        return Held(self._freeze, self._thaw, dict(self._ids), dict(self._frozen), dict(self._hot))

    def restore(self, held: Held[T]) -> set[str]:
        """Back to what `held` copied; answers the ids whose item changed since. (Shadow
        mode, which keeps every item in memory.)"""
        ids, frozen, hot = held.parts()
        changed = {i for i in self._ids.keys() | ids.keys() if self._ids.get(i) != ids.get(i)}
        self._ids, self._frozen, self._hot = dict(ids), dict(frozen), OrderedDict(hot)
        self.bytes = OVERHEAD * len(ids) + sum(map(len, frozen.values())) + sum(self._weigh(i) for i in hot.values())
        return changed

    def clear(self) -> None:
        self._ids.clear()
        self._frozen.clear()
        self._hot.clear()
        self._stored.clear()
        self.bytes = 0


class Held(_Items[T]):
    """A shelf's items as they were when copied, each thawed when asked for."""

    def __init__(
        self,
        freeze: Callable[[T], object],
        thaw: Callable[[object], T],
        ids: dict[str, int],
        frozen: dict[str, bytes],
        hot: dict[str, T],
    ):
        self._freeze, self._thaw, self._ids, self._frozen, self._hot = freeze, thaw, ids, frozen, hot
        # A report reads each order many times over (one rule after another): items are
        # thawed once and kept for the copy's life, up to THAWED_KEPT bytes of their
        # frozen form, so a huge key's report does not hold all of it as objects at once.
        self._thawed: dict[str, T] = {}
        self._thawed_bytes = 0

    def missing(self) -> bool:
        """Whether some item's bytes are only in the store."""
        return len(self._frozen.keys() | self._hot.keys()) < len(self._ids)

    def with_stored(self, stored: dict[str, bytes]) -> Held[T]:
        """The copy with the items read from the store for it (an item changed since the
        copy was taken is read as it is now)."""
        frozen = {i: stored[i] for i in self._ids if i not in self._frozen and i not in self._hot and i in stored}
        return Held(self._freeze, self._thaw, self._ids, {**self._frozen, **frozen}, self._hot)

    def get(self, item_id: str) -> T | None:
        item = self._hot.get(item_id)
        if item is None:
            item = self._thawed.get(item_id)
        if item is not None:
            return item
        frozen = self._frozen.get(item_id)
        if frozen is None:
            return None
        pace()
        item = self._thaw(thaw_document(frozen))
        if self._thawed_bytes < THAWED_KEPT:
            self._thawed[item_id] = item
            self._thawed_bytes += len(frozen)
        return item

    def values(self) -> Iterator[T]:
        for item_id in self._ids:
            pace()
            item = self.get(item_id)
            if item is not None:
                yield item

    def items(self) -> Iterator[tuple[str, T]]:
        for item_id in self._ids:
            pace()
            item = self.get(item_id)
            if item is not None:
                yield item_id, item

    def documents(self) -> Iterator[object]:
        """Each item's document (what a snapshot writes), without building the item."""
        for item_id in self._ids:
            pace()
            frozen = self._frozen.get(item_id)
            if frozen is not None:
                yield thaw_document(frozen)
            elif item_id in self._hot:
                yield self._freeze(self._hot[item_id])
