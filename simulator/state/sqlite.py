"""`serve --state PATH`: every tenant in one SQLite file (the standard library's sqlite3).

One row per product, cart, order, event and idempotency key, holding the same document a
snapshot writes for it (simulator/snapshot.py); the journal in chunks of entries; one row
per tenant for its settings, faults and counters. Each commit is one transaction, so a
crash leaves each request applied whole or not at all.

Durability: the file is in WAL mode with `synchronous=NORMAL`. A request is answered
once its transaction has been handed to the operating system, so killing the server
(`kill -9`) at any moment loses nothing that was answered; a power cut may lose the last
moments (the operating system's cache), never half a request.

Speed: the requests of a few turns of the event loop are committed together (group
commit: see `_put` and `_commit_waiting`); an answer waits for its own commit. The file is opened in
exclusive locking mode, which is also what refuses a second server on the same file.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from simulator.contract.catalog import catalog_document
from simulator.state import snapshot
from simulator.state.tenants import CART, EVENT, IDEMPOTENCY_KEY, ORDER, PRODUCT, Changes, TenantState

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


@dataclass(eq=False, slots=True)
class _Write:
    """One request's changes to one key, as references to objects that are replaced,
    never changed (carts, orders, products, events, journal entries), so that encoding
    them may wait for the batch, or run on a worker thread."""

    key: str
    wipe: bool = False  # the key's rows go first (reset, import, forget)
    forget: bool = False  # and no row of it comes back
    tenant_row: tuple[Any, ...] | None = None  # settings, generated ids, journal seq
    catalog: tuple[Any, ...] | None = None  # (document or None,) when the catalog changed
    items: list[tuple[str, str, Any]] = field(default_factory=list)  # kind, id, object or None (deleted)
    journal: list[tuple[Any, ...]] = field(default_factory=list)
    journal_from: int = 0  # entries older than this seq are dropped
    finished: bool = False
    error: BaseException | None = None
    waiter: asyncio.Future[None] | None = None  # set by `durable`

    def weight(self) -> int:
        return len(self.items) + len(self.journal)


# A batch writing more rows than this (an import, the reset of a big key) is committed on
# a worker thread, so that the event loop goes on serving meanwhile.
HEAVY = 2_000


GATHER_TURNS = 2  # extra turns of the event loop a commit waits for more requests
GATHER_AT_MOST = 64  # requests waiting that start the commit at once


class SqliteStore:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._db = _open(self.path)
        self._db_lock = threading.Lock()  # held while a batch commits (on a worker thread, for heavy ones)
        self._n = self._db.execute("SELECT coalesce(max(n), 0) FROM items").fetchone()[0]
        self._waiting: list[_Write] = []  # saved, not committed yet, in the order saved
        self._trimmed: dict[str, int] = {}  # key -> the journal seq its chunks were last trimmed to
        self._busy = False  # a commit is scheduled on the event loop, or runs on a worker thread

    # -- the seam ------------------------------------------------------------------------

    def load(self, key: str) -> dict[str, Any] | None:
        self._commit_waiting_now()  # evicted right after a request: read what it wrote
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
        if not (changes or touched or tenant.faults.rules or tenant.ids.generated) and changes.journal_saved:
            # What most look-ups and reads change: their journal entry, and nothing else.
            write = _Write(tenant.key, journal=entries, journal_from=tenant.journal.first_seq)
            changes.journal_saved = entries[-1][0]
            self._put(write)
            return write
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
                *((PRODUCT, _product_row(k), v) for k, v in tenant.products.items()),
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
            write.items = [(kind, _product_row(k) if kind == PRODUCT else k, sources[kind].get(k)) for kind, k in changes.items]
            write.items += [(IDEMPOTENCY_KEY, k, tenant.idempotency.get(k)) for k in touched]
            write.journal = entries
        write.journal_from = tenant.journal.first_seq
        tenant.changes = Changes(journal_saved=tenant.journal.next_seq)
        touched.clear()
        self._put(write)
        return write

    async def durable(self, pending: object) -> None:
        assert isinstance(pending, _Write)
        if not pending.finished:
            pending.waiter = asyncio.get_running_loop().create_future()
            await pending.waiter
        elif pending.error is not None:
            raise pending.error

    def forget(self, key: str) -> _Write:
        write = _Write(key, wipe=True, forget=True)
        self._put(write)
        return write

    def flush(self) -> _Write:
        """A write of nothing: durable once everything saved before it is."""
        write = _Write("")
        self._put(write)
        return write

    def has(self, key: str) -> bool:
        self._commit_waiting_now()
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
        self._commit_waiting_now()
        with self._db_lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # -- group commit ----------------------------------------------------------------------
    #
    # Every write is saved on the event loop's thread. The first one saved while no
    # commit is under way schedules one a few turns of the loop later, which takes every
    # write saved meanwhile in one transaction (group commit) and wakes the requests
    # waiting for them. No thread is involved for ordinary requests: a writer thread,
    # sharing the server's core, cost a fifth of the look-up rate in hand-offs of the GIL.

    def _put(self, write: _Write) -> None:
        self._waiting.append(write)
        if self._busy:
            return  # the commit under way takes it next
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script or a test): commit at once
            self._commit_waiting_now()
            return
        self._busy = True
        loop.call_soon(self._commit_waiting, loop)

    def _commit_waiting(self, loop: asyncio.AbstractEventLoop, turns: int = 0) -> None:
        # Under load, waiting two more turns of the loop (a few microseconds each when
        # idle) lets the requests of those turns share the commit, whose cost is mostly
        # fixed (its statements and the pages it writes: 140-160 µs for 16 look-ups).
        # With 16 connections the mean batch went from 7 requests to 16 (all of them),
        # and look-ups with --state from about 70% to 86-92% of the in-memory rate
        # (benchmarks/state.py).
        if turns < GATHER_TURNS and len(self._waiting) < GATHER_AT_MOST:
            loop.call_soon(self._commit_waiting, loop, turns + 1)
            return
        batch, self._waiting = self._waiting, []
        if sum(w.weight() for w in batch) > HEAVY:
            done = loop.run_in_executor(None, self._commit, batch)
            done.add_done_callback(lambda finished: self._finish(batch, finished.result(), loop))
            return
        self._finish(batch, self._commit(batch), loop)

    def _finish(self, batch: list[_Write], failed: dict[_Write, BaseException], loop: asyncio.AbstractEventLoop) -> None:
        _answer_waiters(batch, failed)
        if self._waiting:
            loop.call_soon(self._commit_waiting, loop)
        else:
            self._busy = False

    def _commit_waiting_now(self) -> None:
        """Commit what is saved and not committed yet, before reading the file (a load,
        or a check), or when there is no event loop."""
        if self._waiting:
            batch, self._waiting = self._waiting, []
            _answer_waiters(batch, self._commit(batch))

    def _commit(self, batch: list[_Write]) -> dict[_Write, BaseException]:
        """Commit `batch` in one transaction; the writes that failed (each is tried
        alone if the whole batch fails, so one bad write loses no other)."""
        failed: dict[_Write, BaseException] = {}
        with self._db_lock:
            try:
                self._apply(batch)
            except Exception:  # noqa: BLE001
                self._db.rollback()
                for write in batch:
                    try:
                        self._apply([write])
                    except Exception as exc:  # noqa: BLE001
                        self._db.rollback()
                        failed[write] = exc
        return failed

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
                moved = [(key, seq) for key, seq in trims.items() if _trim_due(seq, self._trimmed.get(key), journal[key])]
                if moved:  # a journal under its bounds drops nothing: no statement
                    db.executemany(
                        "DELETE FROM journal WHERE key = ?1 AND first_seq < ?2 AND last_seq < ?2",  # an index range
                        moved,
                    )
                    self._trimmed.update(moved)
            for pending in (tenant_rows, catalogs, items, trims, journal):
                pending.clear()

        db.execute("BEGIN")
        for w in batch:
            if not w.key:
                continue
            if w.wipe:
                write_out()  # what came before the wipe, then the wipe
                self._trimmed.pop(w.key, None)
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


def _trim_due(first_kept: int, trimmed: int | None, written: list[tuple[Any, ...]]) -> bool:
    """Whether a key's journal chunks older than `first_kept` are deleted in this batch.
    Not with every batch: a full journal drops entries with every request, and deleting
    the chunk they left cost each batch a statement and the pages it changed. Old chunks
    wait until an eighth of what the journal keeps has gone (for a full journal, one
    delete every 1,250 entries); a load drops them by the journal's own bounds."""
    if trimmed is None:
        return True
    kept = written[-1][0] - first_kept + 1 if written else 0
    return first_kept - trimmed >= max(1, kept // 8)


def _answer_waiters(batch: list[_Write], failed: dict[_Write, BaseException]) -> None:
    """A committed batch's writes are finished: the requests waiting for them go on."""
    for write in batch:
        write.finished, write.error = True, failed.get(write)
        waiter = write.waiter
        if waiter is not None and not waiter.done():
            if write.error is not None:
                waiter.set_exception(write.error)
            else:
                waiter.set_result(None)


_UPSERT_TENANT = (
    "INSERT INTO tenants (key, settings, generated_ids, journal_seq) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET settings = excluded.settings, "
    "generated_ids = excluded.generated_ids, journal_seq = excluded.journal_seq"
)
_UPSERT_ITEM = (
    "INSERT INTO items (key, kind, id, n, doc) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key, kind, id) DO UPDATE SET doc = excluded.doc"
)


_SMALL_CHUNK = 4096  # bytes of marshal below which a chunk is stored as it is


def _pack(entries: list[tuple[Any, ...]]) -> bytes:
    # marshal writes tuples of str, bytes and numbers, all a journal entry holds, at C
    # speed. A large chunk is compressed: a key's requests repeat their headers, bodies
    # and answers, and the file's pages are what cost. A small one (a batch of look-ups,
    # about 2.6 KB for 16) is not: the journal already shares what an entry repeats of
    # the one before, compression took it to about 1.1 KB only, and zlib's set-up cost
    # each batch about 50 µs, a third of its commit. A checksum (zlib's own, or a
    # CRC-32 before the plain ones, marked "m"; a zlib stream starts with "x") refuses
    # a damaged chunk before marshal reads it.
    raw = marshal.dumps(entries, 4)
    if len(raw) < _SMALL_CHUNK:
        return b"m" + zlib.crc32(raw).to_bytes(4, "big") + raw
    return zlib.compress(raw, 1)


def _unpack(chunk: bytes) -> list[tuple[Any, ...]]:
    if chunk[:1] == b"m":
        raw = chunk[5:]
        if zlib.crc32(raw).to_bytes(4, "big") != chunk[1:5]:
            raise zlib.error("damaged chunk")
        entries: list[tuple[Any, ...]] = marshal.loads(raw)
        return entries
    entries = marshal.loads(zlib.decompress(chunk))
    return entries


def _product_row(key: tuple[str, str]) -> str:
    """A product's row id: its list price is per currency (a currency is three letters)."""
    product_id, currency = key
    return f"{currency}:{product_id}"


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
