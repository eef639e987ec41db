"""`serve --state PATH`: every tenant in one SQLite file (the standard library's sqlite3).

One row per product, cart, order, event and idempotency key, holding the same document a
snapshot writes for it (simulator/snapshot.py); one row per journal entry; one row per
tenant for its settings, faults and counters. A request's changes are written in one
transaction, so a crash leaves each request applied whole or not at all.

Durability: the file is in WAL mode with `synchronous=NORMAL`. A committed transaction
has been handed to the operating system before the answer is sent, so killing the
server (`kill -9`) at any moment loses nothing that was answered; a power cut may lose
the last moments (the operating system's cache), never half a request.

Speed: one writer thread takes the transactions of every request waiting and commits
them together (group commit), while the event loop goes on answering; an answer waits
for its own commit. The file is opened in exclusive locking mode, which is also what
refuses a second server on the same file.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from simulator import snapshot
from simulator.catalog import catalog_document
from simulator.tenants import CART, EVENT, IDEMPOTENCY_KEY, ORDER, PRODUCT, Changes, TenantState

FORMAT = "hakuna-sim-state-file/1"  # the file's layout (a snapshot's is snapshot.FORMAT)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hakuna_sim (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (
    key TEXT PRIMARY KEY, settings BLOB NOT NULL, catalog BLOB, generated_ids INTEGER NOT NULL,
    journal_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, n INTEGER NOT NULL, doc BLOB NOT NULL,
    PRIMARY KEY (key, kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    key TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, entries BLOB NOT NULL,
    PRIMARY KEY (key, first_seq)) WITHOUT ROWID;
"""
# Journal entries are written in chunks: the entries of one key that one batch wrote, as
# one row. A row per entry cost three times as much as the entry itself.

_ENCODE: dict[str, Callable[[Any], dict[str, Any]]] = {
    PRODUCT: snapshot.product_doc,
    CART: snapshot.cart_doc,
    ORDER: snapshot.order_doc,
}


class StateFileError(Exception):
    """The state file cannot be used; the message names it and says why."""


@dataclass(eq=False)
class _Write:
    """One request's changes to one key, as references to immutable objects: carts,
    orders, products, events and journal entries are replaced, never changed, so the
    writer thread can encode them while the event loop goes on."""

    key: str
    wipe: bool = False  # the key's rows go first (reset, import, forget)
    forget: bool = False  # and no row of it comes back
    tenant_row: tuple[Any, ...] | None = None  # settings, generated ids, journal seq
    catalog: tuple[Any, ...] | None = None  # (document or None,) when the catalog changed
    items: list[tuple[str, str, Any]] = field(default_factory=list)  # kind, id, object or None (deleted)
    journal: list[tuple[Any, ...]] = field(default_factory=list)
    journal_from: int = 0  # entries older than this seq are dropped
    # Completion: an event loop's future (set by `durable`), or a thread's Event (`_wait`).
    finished: bool = False
    error: BaseException | None = None
    waiter: asyncio.Future[None] | None = None
    event: threading.Event | None = None


class SqliteStore:
    persistent = True

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._db = _open(self.path)
        self._db_lock = threading.Lock()  # one connection, used by the writer and by loads
        self._n = self._db.execute("SELECT coalesce(max(n), 0) FROM items").fetchone()[0]
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._queued: Counter[str] = Counter()  # keys with writes not committed yet
        self._queued_lock = threading.Lock()
        self._done_lock = threading.Lock()
        self._writer = threading.Thread(target=self._write_loop, name="hakuna-sim state writer", daemon=True)
        self._writer.start()

    # -- the seam ------------------------------------------------------------------------

    def load(self, key: str) -> dict[str, Any] | None:
        if key in self._queued:  # evicted right after a request: read what it wrote
            self._wait(self.flush())
        with self._db_lock:
            row = self._db.execute(
                "SELECT settings, catalog, generated_ids, journal_seq FROM tenants WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
            items = self._db.execute("SELECT kind, doc FROM items WHERE key = ? ORDER BY n", (key,)).fetchall()
            chunks = self._db.execute("SELECT entries FROM journal WHERE key = ? ORDER BY first_seq", (key,)).fetchall()
        entries = [entry for (chunk,) in chunks for entry in _unpack(chunk)]
        settings = orjson.loads(row[0])
        by_kind: dict[str, list[Any]] = {PRODUCT: [], CART: [], ORDER: [], EVENT: [], IDEMPOTENCY_KEY: []}
        for kind, doc in items:
            by_kind[kind].append(orjson.loads(doc))
        return {
            "format": snapshot.FORMAT,
            "taken_at": None,
            "catalog": None if row[1] is None else orjson.loads(row[1]),
            "settings": settings["settings"],
            "faults": settings["faults"],
            "products": by_kind[PRODUCT],
            "carts": by_kind[CART],
            "orders": by_kind[ORDER],
            "events": by_kind[EVENT],
            "idempotency_keys": by_kind[IDEMPOTENCY_KEY],
            "journal": {
                "next_seq": max(row[3], entries[-1][0] if entries else 0),
                "entries": [snapshot.journal_doc(tuple(e)) for e in entries],
            },
            "generated_ids": row[2],
        }

    def save(self, tenant: TenantState) -> _Write | None:
        changes = tenant.changes
        touched = tenant.idempotency.touched
        entries = tenant.journal.since(changes.journal_saved)
        if not (changes or touched or entries):
            return None
        write = _Write(tenant.key, wipe=changes.everything)
        # The tenant's own row: when it changed, or may have (a fault's count, seeded
        # ids), or was never written. A request that only adds to the journal (most
        # look-ups) writes its entry alone; a load takes the seq from the entries.
        if changes or not changes.journal_saved or tenant.faults.rules or tenant.ids.generated:
            settings = snapshot.settings_doc(tenant.refund_windows, tenant.magic_values)
            write.tenant_row = (
                tenant.key,
                orjson.dumps({"settings": settings, "faults": snapshot.fault_docs(tenant.faults)}),
                tenant.ids.generated,
                tenant.journal.next_seq,
            )
        if changes.everything:
            write.catalog = (catalog_document(tenant.catalog) if tenant.own_catalog else None,)
            write.items = [
                *((PRODUCT, k, v) for k, v in tenant.products.items()),
                *((CART, k, v) for k, v in tenant.carts.items()),
                *((ORDER, k, v) for k, v in tenant.orders.items()),
                *((EVENT, k, v) for k, v in tenant.events.items()),
                *((IDEMPOTENCY_KEY, k, v) for k, v in tenant.idempotency.items()),
            ]
            write.journal = list(tenant.journal.entries())
        else:
            if changes.catalog:
                write.catalog = (catalog_document(tenant.catalog) if tenant.own_catalog else None,)
            sources: dict[str, Any] = {PRODUCT: tenant.products, CART: tenant.carts, ORDER: tenant.orders, EVENT: tenant.events}
            write.items = [(kind, k, sources[kind].get(k)) for kind, k in changes.items]
            write.items += [(IDEMPOTENCY_KEY, k, tenant.idempotency.get(k)) for k in touched]
            write.journal = entries
        write.journal_from = tenant.journal.first_seq
        tenant.changes = Changes(journal_saved=tenant.journal.next_seq)
        touched.clear()
        self._put(write)
        return write

    async def durable(self, pending: object) -> None:
        assert isinstance(pending, _Write)
        with self._done_lock:
            if not pending.finished:
                pending.waiter = asyncio.get_running_loop().create_future()
        if pending.waiter is not None:
            await pending.waiter
        elif pending.error is not None:
            raise pending.error

    def _wait(self, pending: _Write) -> None:
        """Block this thread until `pending` is durable (start-up and loads only)."""
        with self._done_lock:
            if not pending.finished:
                pending.event = threading.Event()
        if pending.event is not None:
            pending.event.wait()

    def forget(self, key: str) -> _Write:
        write = _Write(key, wipe=True, forget=True)
        self._put(write)
        return write

    def flush(self) -> _Write:
        """A write of nothing: durable once everything queued before it is."""
        write = _Write("")
        self._put(write)
        return write

    def _put(self, write: _Write) -> None:
        if write.key:
            with self._queued_lock:
                self._queued[write.key] += 1
        self._queue.put(write)

    def has(self, key: str) -> bool:
        if key in self._queued:
            self._wait(self.flush())
        with self._db_lock:
            return self._db.execute("SELECT 1 FROM tenants WHERE key = ?", (key,)).fetchone() is not None

    def keys(self) -> list[str]:
        with self._db_lock:
            return [k for (k,) in self._db.execute("SELECT key FROM tenants ORDER BY key")]

    def figures(self) -> dict[str, int]:
        with self._db_lock:
            (keys,) = self._db.execute("SELECT count(*) FROM tenants").fetchone()
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {"bytes": size, "keys": keys}

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        with self._db_lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- the writer thread ---------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < 512:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Write]) -> None:
        with self._db_lock:
            try:
                self._apply(batch)
                failed: dict[_Write, BaseException] = {}
            except Exception:  # noqa: BLE001 - one bad write must not lose the others
                self._db.rollback()
                failed = {}
                for write in batch:  # alone, each in its own transaction
                    try:
                        self._apply([write])
                    except Exception as exc:  # noqa: BLE001
                        self._db.rollback()
                        failed[write] = exc
        with self._queued_lock:
            for write in batch:
                if write.key:
                    self._queued[write.key] -= 1
                    if self._queued[write.key] <= 0:
                        del self._queued[write.key]
        # One wake-up of each event loop per batch, not one per request.
        woken: dict[asyncio.AbstractEventLoop, list[_Write]] = {}
        with self._done_lock:
            for write in batch:
                write.finished, write.error = True, failed.get(write)
                if write.waiter is not None:
                    woken.setdefault(write.waiter.get_loop(), []).append(write)
                if write.event is not None:
                    write.event.set()
        for loop, writes in woken.items():
            try:
                loop.call_soon_threadsafe(_resolve, writes)
            except RuntimeError:  # the loop was closed meanwhile: nobody waits
                pass

    def _apply(self, batch: Iterable[_Write]) -> None:
        """Write a batch in one transaction: rows of the same kind together, and of an
        item changed by several requests only its last state."""
        db = self._db
        tenant_rows: dict[str, tuple[Any, ...]] = {}
        catalogs: dict[str, bytes | None] = {}
        items: dict[tuple[str, str, str], Any] = {}
        journal: dict[str, list[tuple[Any, ...]]] = {}
        trims: dict[str, int] = {}

        def write_out() -> None:
            if tenant_rows:
                db.executemany(_UPSERT_TENANT, tenant_rows.values())
            if catalogs:
                db.executemany("UPDATE tenants SET catalog = ? WHERE key = ?", [(doc, key) for key, doc in catalogs.items()])
            upserts, deletes = [], []
            for (key, kind, item_id), value in items.items():
                if value is None:
                    deletes.append((key, kind, item_id))
                    continue
                self._n += 1
                upserts.append((key, kind, item_id, self._n, orjson.dumps(_encode(kind, item_id, value))))
            if upserts:
                db.executemany(_UPSERT_ITEM, upserts)
            if deletes:
                db.executemany("DELETE FROM items WHERE key = ? AND kind = ? AND id = ?", deletes)
            if journal:
                db.executemany(
                    "INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?)",
                    [(key, entries[0][0], entries[-1][0], _pack(entries)) for key, entries in journal.items()],
                )
                # A chunk goes when its newest entry is older than the oldest kept; a load
                # drops the older entries of a chunk it keeps, by the journal's own bounds.
                db.executemany(
                    "DELETE FROM journal WHERE key = ?1 AND first_seq < ?2 AND last_seq < ?2",  # an index range
                    trims.items(),
                )
            for pending in (tenant_rows, catalogs, items, trims, journal):
                pending.clear()

        db.execute("BEGIN")
        for w in batch:
            if not w.key:
                continue
            if w.wipe:
                write_out()  # what came before the wipe, then the wipe
                for table in ("items", "journal", "tenants"):
                    db.execute(f"DELETE FROM {table} WHERE key = ?", (w.key,))  # noqa: S608 - fixed names
            if w.forget:
                continue
            if w.tenant_row is not None:
                tenant_rows[w.key] = w.tenant_row
            if w.catalog is not None:
                catalogs[w.key] = None if w.catalog[0] is None else orjson.dumps(w.catalog[0])
            for kind, item_id, value in w.items:
                items[(w.key, kind, item_id)] = value
            if w.journal:
                journal.setdefault(w.key, []).extend(w.journal)
                trims[w.key] = w.journal_from
        write_out()
        db.execute("COMMIT")


_UPSERT_TENANT = (
    "INSERT INTO tenants (key, settings, generated_ids, journal_seq) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET settings = excluded.settings, "
    "generated_ids = excluded.generated_ids, journal_seq = excluded.journal_seq"
)
_UPSERT_ITEM = (
    "INSERT INTO items (key, kind, id, n, doc) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key, kind, id) DO UPDATE SET doc = excluded.doc"
)


# Positions of an entry's bytes (journal.py): kept in a chunk as latin-1 text, which
# maps each byte to one character and back.
_BYTES = (6, 7, 9)


def _pack(entries: list[tuple[Any, ...]]) -> bytes:
    return orjson.dumps([[v.decode("latin-1") if i in _BYTES else v for i, v in enumerate(e)] for e in entries])


def _unpack(chunk: bytes) -> list[tuple[Any, ...]]:
    return [tuple(v.encode("latin-1") if i in _BYTES else v for i, v in enumerate(e)) for e in orjson.loads(chunk)]


def _resolve(writes: list[_Write]) -> None:
    for write in writes:
        waiter = write.waiter
        if waiter is None or waiter.done():
            continue
        if write.error is not None:
            waiter.set_exception(write.error)
        else:
            waiter.set_result(None)


def _encode(kind: str, item_id: str, value: Any) -> Any:
    if kind == EVENT:
        return snapshot.event_doc(item_id, value)
    if kind == IDEMPOTENCY_KEY:
        return snapshot.idempotency_doc(item_id, value)
    return _ENCODE[kind](value)


def _open(path: Path) -> sqlite3.Connection:
    """The state file, checked and locked for this server alone; StateFileError if it
    cannot be used (in use, not a state file, damaged)."""
    if path.is_dir():
        raise StateFileError(f"{path} is a directory: --state takes a file path (created if missing)")
    if not path.parent.is_dir():
        raise StateFileError(f"{path}: the folder {path.parent} does not exist")
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    except sqlite3.Error as exc:
        raise StateFileError(f"{path}: cannot open it ({exc})") from exc
    try:
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        # Checked before anything is written to it: a file refused is left as it was.
        check = db.execute("PRAGMA quick_check").fetchall()
        if check != [("ok",)]:
            raise StateFileError(
                f"{path} is damaged (SQLite's check found: {'; '.join(str(r[0]) for r in check[:3])}); "
                "restore it from a copy, or start with another --state file"
            )
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "hakuna_sim" not in tables:
            raise StateFileError(f"{path} is an SQLite file of something else, not a hakuna-sim state file")
        if "hakuna_sim" in tables:
            row = db.execute("SELECT value FROM hakuna_sim WHERE name = 'format'").fetchone()
            if row is None or row[0] != FORMAT:
                found = row[0] if row else "unknown"
                raise StateFileError(f"{path} holds state in format {found!r}; this server reads {FORMAT!r}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StateFileError(f"{path}: cannot keep it in WAL mode (the file system refused: {mode})")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")  # takes the lock this server keeps until it stops
        db.executescript(_SCHEMA)  # (commits)
        db.execute("INSERT OR IGNORE INTO hakuna_sim (name, value) VALUES ('format', ?)", (FORMAT,))
    except sqlite3.OperationalError as exc:
        db.close()
        if "locked" in str(exc):
            raise StateFileError(
                f"{path} is in use by another hakuna-sim server: stop it, or give this one another --state file"
            ) from exc
        raise StateFileError(f"{path} is not a hakuna-sim state file, or it is damaged ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StateFileError(f"{path} is not a hakuna-sim state file, or it is damaged ({exc})") from exc
    except StateFileError:
        db.close()
        raise
    return db
