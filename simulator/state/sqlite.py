"""`serve --state PATH`: every key in one SQLite file (the standard library's sqlite3).

One row per product, cart, order, event and idempotency key, holding the document a
snapshot writes for it (carts, orders and events as the bytes a tenant's shelves keep);
the journal in chunks of entries (simulator/state/journal.py's format); one row per key
for its settings, faults and counters. Each commit is one transaction, so a crash leaves
each request applied whole or not at all.

Durability: the file is in WAL mode with `synchronous=NORMAL`. A request is answered
once its transaction has been handed to the operating system, so killing the server
(`kill -9`) at any moment loses nothing that was answered; a power cut may lose the last
moments (the operating system's cache), never half a request.

Threads: the event loop never waits on the disk. Writes are handed to one writer thread,
which commits everything handed to it since its last commit in one transaction (group
commit) and wakes the requests that wait for it with one call into the loop; SQLite's
WAL checkpoints and the return of free pages (`auto_vacuum = INCREMENTAL`) happen there
too. Reads (a key loaded back, its journal for a report) run on worker threads, each
with a connection of its own, which WAL lets read while the writer writes. A second
server on the same file is refused by an exclusive lock (`flock`) on it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from simulator.pacing import pace
from simulator.state.changes import ChangeSet, Loaded
from simulator.state.journal import Entry, pack, unpack
from simulator.state.store import Pending
from simulator.state.tenant import CART, EVENT, IDEMPOTENCY_KEY, ORDER, PRODUCT

FORMAT = "hakuna-sim-state-file/2"  # the file's layout (a snapshot's is snapshot.FORMAT)
_OLDER_FORMATS = ("hakuna-sim-state-file/1",)  # read, and moved to FORMAT at start

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hakuna_sim (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (
    key TEXT PRIMARY KEY, settings BLOB NOT NULL, catalog BLOB, generated_ids INTEGER NOT NULL,
    journal_seq INTEGER NOT NULL, journal_first INTEGER);
CREATE TABLE IF NOT EXISTS items (
    n INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, doc BLOB NOT NULL, ref TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS items_by_key ON items (key, kind, id);
CREATE TABLE IF NOT EXISTS journal (
    n INTEGER PRIMARY KEY, key TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    entries BLOB NOT NULL, size INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS journal_by_key ON journal (key, first_seq);
"""
_STATEMENTS = tuple(statement.strip() for statement in _SCHEMA.split(";") if statement.strip())
# Rows are appended by rowid, so the rows of one commit, whatever their keys, share the
# file's last pages; the indexes, small, find a key's rows. (Kept in key order instead, as
# format 1 did, a 700-byte journal chunk cost 24 KB of pages written, here 3 KB.) A
# cart's `ref` is the order it was checked out as: a key loaded back knows which cart
# each order came from without reading every cart. A journal chunk's `size` is what its
# entries weigh, so a key loaded back bounds its journal without reading it.

_MIGRATE_FROM_1 = (
    "ALTER TABLE tenants ADD COLUMN journal_first INTEGER",
    "ALTER TABLE items RENAME TO items_1",
    "ALTER TABLE journal RENAME TO journal_1",
    *_STATEMENTS,
    "INSERT INTO items (key, kind, id, doc) SELECT key, kind, id, doc FROM items_1 ORDER BY n",
    "INSERT INTO journal (key, first_seq, last_seq, entries) "
    "SELECT key, first_seq, last_seq, entries FROM journal_1 ORDER BY key, first_seq",
    "DROP TABLE items_1",
    "DROP TABLE journal_1",
)

CHECKPOINT_EVERY = 0.5  # seconds between the checkpoint thread's copies of the log into the file
SYNC_EVERY = 2.0  # seconds between its syncs of what it copied (each page synced is written again)
RESTART_PAST = 64 * 1024 * 1024  # bytes of log past which the writer lets the log start again
RESTART_AGAIN = 1.0  # seconds before a restart a reader prevented is tried again
FREE_KEPT = 8 * 1024 * 1024  # bytes of free pages the file may keep before the writer gives them back
WAL_KEPT = 80 * 1024 * 1024  # the write-ahead log's file is cut back to this when it starts again
PAGE_SIZE = 1024  # of a new file (see _open)
READER_CACHE_KIB = 512  # each reading thread's page cache (SQLite's default is 2 MiB)


class StateFileError(Exception):
    """The state file cannot be used; the message names it and says why."""


class SqliteStore:
    durable = True

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock_file = _lock(self.path)
        try:
            self._db = _open(self.path)
        except BaseException:
            self._lock_file.close()
            raise
        self._keys = self._db.execute("SELECT count(*) FROM tenants").fetchone()[0]
        self._trimmed: dict[str, int] = {}  # key -> the journal seq its chunks were last trimmed to
        self._queue: list[tuple[ChangeSet | None, Pending]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._restarted = 0.0
        self._log_frames = 0  # the log's length at the checkpoint thread's last look
        page = self._db.execute("PRAGMA page_size").fetchone()[0]
        self._restart_frames, self._free_pages_kept = RESTART_PAST // page, FREE_KEPT // page
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers = threading.local()
        self._writer = threading.Thread(target=self._write_loop, name="hakuna-sim state file", daemon=True)
        self._writer.start()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="hakuna-sim checkpoints", daemon=True)
        self._checkpointer.start()

    # -- the seam ------------------------------------------------------------------------

    def save(self, changes: ChangeSet) -> Pending:
        return self._put(changes)

    def forget(self, key: str) -> Pending:
        return self._put(ChangeSet(key, wipe=True, forget=True))

    def flush(self) -> Pending:
        """A write of nothing: finished once everything saved before it is committed."""
        return self._put(None)

    def load(self, key: str) -> Loaded | None:
        self.flush().wait()  # evicted right after a request: read what it wrote
        db = self._reader()
        row = db.execute(
            "SELECT settings, catalog, generated_ids, journal_seq, journal_first FROM tenants WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        settings = orjson.loads(row[0])
        chunks = db.execute(
            "SELECT first_seq, last_seq, size, length(entries) FROM journal WHERE key = ? ORDER BY first_seq", (key,)
        ).fetchall()
        next_seq = max([row[3], *(c[1] for c in chunks)])
        # The row's first seq is as of its last write; chunks trimmed since tell more.
        first = max(row[4] or 1, chunks[0][0] if chunks else next_seq + 1)
        sizes: list[int] = []
        for chunk_first, chunk_last, size, length in chunks:
            count = chunk_last - chunk_first + 1
            each = (size if size is not None else 3 * length) // count  # (a chunk of an older file: estimated)
            sizes += [each] * (chunk_last - max(chunk_first, first) + 1) if chunk_last >= first else []
        loaded = Loaded(
            settings=settings["settings"],
            faults=settings["faults"],
            catalog=None if row[1] is None else orjson.loads(row[1]),
            generated_ids=row[2],
            tracked=settings.get("tracked"),
            journal_next=next_seq,
            journal_first=first,
            journal_sizes=sizes,
        )
        # Carts, orders and events by id (their documents are read when a request needs
        # one), idempotency keys by when they were stored: a key loads in a few
        # milliseconds whatever it stored.
        shelves = {CART: loaded.carts, ORDER: loaded.orders, EVENT: loaded.events}
        rows = db.execute(
            "SELECT kind, id, ref, length(doc), CASE WHEN kind = ? OR (kind = ? AND ref IS NULL) THEN doc END "
            "FROM items WHERE key = ? ORDER BY n",
            (PRODUCT, IDEMPOTENCY_KEY, key),
        )
        for kind, item_id, ref, length, doc in rows:
            if kind in shelves:
                shelves[kind].append(item_id)
                loaded.stored_bytes += length
                if ref is not None:
                    loaded.cart_refs[ref] = item_id
            elif kind == PRODUCT:
                loaded.products.append(orjson.loads(doc))
            elif kind == IDEMPOTENCY_KEY and doc is not None:  # (a file of format 1)
                loaded.idempotency.append(orjson.loads(doc))
            elif kind == IDEMPOTENCY_KEY:
                loaded.stored_keys.append((item_id, datetime.fromisoformat(ref), length + 130))
        return loaded

    def read_items(self, key: str, kind: str, ids: list[str] | None) -> dict[str, bytes]:
        db = self._reader()
        if ids is None:
            rows = db.execute("SELECT id, doc FROM items WHERE key = ? AND kind = ?", (key, kind))
        elif len(ids) == 1:
            rows = db.execute("SELECT id, doc FROM items WHERE key = ? AND kind = ? AND id = ?", (key, kind, ids[0]))
        else:
            marks = ", ".join("?" * len(ids))
            rows = db.execute(f"SELECT id, doc FROM items WHERE key = ? AND kind = ? AND id IN ({marks})", (key, kind, *ids))  # noqa: S608
        found = {}
        for item_id, doc in rows:
            pace()
            found[item_id] = doc
        return found

    def read_journal(self, key: str, first: int, last: int) -> list[Entry]:
        rows = self._reader().execute(
            "SELECT entries FROM journal WHERE key = ? AND last_seq >= ? AND first_seq <= ? ORDER BY first_seq",
            (key, first, last),
        )
        found = []
        for (chunk,) in rows:
            pace()
            found += [e for e in unpack(chunk) if first <= e.seq <= last]
        return found

    def has(self, key: str) -> bool:
        self.flush().wait()
        return self._reader().execute("SELECT 1 FROM tenants WHERE key = ?", (key,)).fetchone() is not None

    def keys(self) -> list[str]:
        self.flush().wait()
        return [k for (k,) in self._reader().execute("SELECT key FROM tenants ORDER BY key")]

    def figures(self) -> dict[str, int]:
        """The file's size (with its write-ahead log) and the keys it holds: read from
        the file system and a counter, never waiting for the writer."""
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {"bytes": size, "keys": self._keys}

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join()
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._writer.join()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
        self._lock_file.close()

    # -- the writer thread ---------------------------------------------------------------

    def _put(self, changes: ChangeSet | None) -> Pending:
        pending = Pending()
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        with self._wake:
            self._queue.append((changes, pending))
            self._wake.notify()
        return pending

    def _write_loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closing:
                    return
            failed = self._commit([c for c, _ in batch if c is not None])
            self._keys = self._db.execute("SELECT count(*) FROM tenants").fetchone()[0]
            loop = self._loop
            if loop is not None and not loop.is_closed():
                try:  # one call into the loop wakes every request of the batch
                    loop.call_soon_threadsafe(_finish, batch, failed)
                except RuntimeError:  # the loop stopped meanwhile
                    _finish(batch, failed)
            else:
                _finish(batch, failed)
            self._give_back_free_pages()
            self._restart_log()

    def _commit(self, batch: list[ChangeSet]) -> dict[int, BaseException]:
        """Commit `batch` in one transaction; the writes that failed, by id (each is
        tried alone if the whole batch fails, so one bad write loses no other)."""
        failed: dict[int, BaseException] = {}
        if not batch:
            return failed
        try:
            self._apply(batch)
        except Exception:  # noqa: BLE001
            self._db.rollback()
            for changes in batch:
                try:
                    self._apply([changes])
                except Exception as exc:  # noqa: BLE001
                    self._db.rollback()
                    failed[id(changes)] = exc
        return failed

    def _apply(self, batch: Iterable[ChangeSet]) -> None:
        """Write a batch in one transaction: rows of the same kind together, and of an
        item changed by several requests only its last state."""
        db = self._db
        tenant_rows: dict[str, tuple[Any, ...]] = {}
        catalogs: dict[str, bytes | None] = {}
        items: dict[tuple[str, str, str], tuple[bytes | None, str | None]] = {}
        journal: dict[str, list[Entry]] = {}
        trims: dict[str, int] = {}

        def write_out() -> None:
            if tenant_rows:
                db.executemany(_UPSERT_TENANT, tenant_rows.values())
            if catalogs:
                db.executemany("UPDATE tenants SET catalog = ? WHERE key = ?", [(doc, key) for key, doc in catalogs.items()])
            upserts, deletes = [], []
            for (key, kind, item_id), (doc, ref) in items.items():
                if doc is None:
                    deletes.append((key, kind, item_id))
                    continue
                upserts.append((key, kind, item_id, doc, ref))
            if upserts:
                db.executemany(_UPSERT_ITEM, upserts)
            if deletes:
                db.executemany("DELETE FROM items WHERE key = ? AND kind = ? AND id = ?", deletes)
            if journal:
                rows = []
                for key, entries in journal.items():
                    kept = [e for e in entries if e.seq >= trims.get(key, 0)]
                    if kept:
                        size = sum(len(e.headers) + len(e.body) + len(e.answer) + len(e.query) + 400 for e in kept)
                        rows.append((key, kept[0].seq, kept[-1].seq, pack(kept), size))
                db.executemany(
                    "INSERT INTO journal (key, first_seq, last_seq, entries, size) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (key, first_seq) DO UPDATE SET last_seq = excluded.last_seq, "
                    "entries = excluded.entries, size = excluded.size",
                    rows,
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
        for c in batch:
            if c.wipe:
                write_out()  # what came before the wipe, then the wipe
                self._trimmed.pop(c.key, None)
                for table in ("items", "journal", "tenants"):
                    db.execute(f"DELETE FROM {table} WHERE key = ?", (c.key,))  # noqa: S608 - fixed names
            if c.forget:
                continue
            if c.tenant_row is not None:
                tenant_rows[c.key] = (c.key, *c.tenant_row)
            if c.catalog is not None:
                catalogs[c.key] = c.catalog[0]
            for kind, item_id, doc, ref in c.items:
                items[(c.key, kind, item_id)] = (doc, ref)
            if c.journal:
                held = journal.setdefault(c.key, [])
                newest = held[-1].seq if held else 0
                held.extend(e for e in c.journal if e.seq > newest)  # (handed again after a failed write)
            if c.journal or c.tenant_row is not None:
                trims[c.key] = c.journal_first
        write_out()
        db.execute("COMMIT")

    def _checkpoint_loop(self) -> None:
        """Copy the write-ahead log into the file now and then, on this thread and its own
        connection: a passive checkpoint blocks no writer, so the requests of a batch
        never wait for the bulk of the copying."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        copied_before, synced = 0, time.monotonic()
        try:
            while not self._stop.wait(CHECKPOINT_EVERY):
                ((_, frames, done),) = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self._log_frames = frames
                if done != copied_before and time.monotonic() - synced >= SYNC_EVERY:
                    # SQLite syncs the file only after a checkpoint that copied the whole
                    # log as it is when the copy ends, which one racing the commits never
                    # does: the pages copied waited, dirty, for the writer's restart, whose
                    # sync then held every commit 90-120 ms under the soak (64 MiB of log).
                    # Synced here, the restart syncs a moment's pages: 20-45 ms.
                    os.fsync(self._lock_file.fileno())
                    copied_before, synced = done, time.monotonic()
        finally:
            db.close()

    def _restart_log(self) -> None:
        """Past RESTART_PAST bytes, let the log start again from its beginning. The
        checkpoint thread copies the log while commits go on, but never all of it, and
        SQLite starts a log again only once all of it is copied: a log written to all
        the time grows without end. Here, between two commits, the writer copies what
        the checkpoint thread has not yet (half a second's commits at most), and the
        next commit writes the log from its start, over the same file: no truncation,
        no file grown again. The commits wait for that copy and its sync, 20-45 ms once
        in about 18 s under the soak (a TRUNCATE checkpoint, as before, held them
        200-300 ms). A reader still reading an older part of the log keeps it from
        starting again: then it is tried again RESTART_AGAIN later."""
        now = time.monotonic()
        if self._log_frames > self._restart_frames and now - self._restarted > RESTART_AGAIN:
            self._restarted = now
            ((_, frames, done),) = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            if frames == done:
                self._log_frames = 0

    def _give_back_free_pages(self) -> None:
        """Pages freed by trimmed journals and forgotten keys go back to the file system,
        a thousand at a time, once more than FREE_KEPT bytes of them are free."""
        (free,) = self._db.execute("PRAGMA freelist_count").fetchone()
        if free > self._free_pages_kept:
            self._db.execute("PRAGMA incremental_vacuum(1024)").fetchall()

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection for reading."""
        db: sqlite3.Connection | None = getattr(self._readers, "db", None)
        if db is None:
            db = self._readers.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            # One per thread that ever read, and the thread pool has dozens: at SQLite's
            # default 2 MiB each, their caches outweighed the state they read.
            db.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        return db


def _finish(batch: list[tuple[ChangeSet | None, Pending]], failed: dict[int, BaseException]) -> None:
    """A committed batch's writes are finished: the requests waiting for them go on."""
    for changes, pending in batch:
        pending.finish(failed.get(id(changes)) if changes is not None else None)


def _trim_due(first_kept: int, trimmed: int | None, written: list[Entry]) -> bool:
    """Whether a key's journal chunks older than `first_kept` are deleted in this batch.
    Not with every batch: a full journal drops entries with every request, and deleting
    the chunk they left cost each batch a statement and the pages it changed. Old chunks
    wait until an eighth of what the journal keeps has gone (for a full journal, one
    delete every 1,250 entries); a load drops them by the journal's own bounds."""
    if trimmed is None:
        return True
    kept = written[-1].seq - first_kept + 1 if written else 0
    return first_kept - trimmed >= max(1, kept // 8)


_UPSERT_TENANT = (
    "INSERT INTO tenants (key, settings, generated_ids, journal_seq, journal_first) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET settings = excluded.settings, generated_ids = excluded.generated_ids, "
    "journal_seq = excluded.journal_seq, journal_first = excluded.journal_first"
)
_UPSERT_ITEM = (
    "INSERT INTO items (key, kind, id, doc, ref) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (key, kind, id) DO UPDATE SET doc = excluded.doc, ref = excluded.ref"
)


def _lock(path: Path) -> Any:
    """An exclusive lock on the file for this server alone (`flock`, which SQLite's own
    locks leave alone), held until the store closes."""
    if path.is_dir():
        raise StateFileError(f"{path} is a directory: --state takes a file path (created if missing)")
    if not path.parent.is_dir():
        raise StateFileError(f"{path}: the folder {path.parent} does not exist")
    try:
        handle = open(path, "ab")  # noqa: SIM115 - held as long as the store lives
    except OSError as exc:
        raise StateFileError(f"{path}: cannot open it ({exc.strerror})") from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise StateFileError(
            f"{path} is in use by another hakuna-sim server: stop it, or give this one another --state file"
        ) from exc
    return handle


def _open(path: Path) -> sqlite3.Connection:
    """The state file, checked (and moved to FORMAT if an older server wrote it);
    StateFileError if it cannot be used (not a state file, damaged)."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=1)
    except sqlite3.Error as exc:
        raise StateFileError(f"{path}: cannot open it ({exc})") from exc
    try:
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
        found = None
        if "hakuna_sim" in tables:
            row = db.execute("SELECT value FROM hakuna_sim WHERE name = 'format'").fetchone()
            found = row[0] if row else "unknown"
            if found != FORMAT and found not in _OLDER_FORMATS:
                raise StateFileError(f"{path} holds state in format {found!r}; this server reads {FORMAT!r}")
        if found in _OLDER_FORMATS:
            _migrate(db)
        if not tables:
            # A request changes a row or two of its key among every other key's: a page
            # of the key's index, of its items, of its journal. Each page it changes is
            # written whole to the log and again into the file: at SQLite's 4 KiB that
            # was 23-25 KB per request under the soak, at 1 KiB 13-20 KB. (A file created
            # with other pages keeps them.)
            db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        if not tables or db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            # Pages freed by trimmed journals and forgotten keys can then go back to the
            # file system; a file without it is rewritten once (VACUUM) to get it.
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            if tables:
                db.execute("VACUUM")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StateFileError(f"{path}: cannot keep it in WAL mode (the file system refused: {mode})")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA journal_size_limit = {WAL_KEPT}")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints run on a thread of their own, and the writer's
        db.execute("BEGIN IMMEDIATE")
        for statement in _STATEMENTS:
            db.execute(statement)
        db.execute("INSERT OR REPLACE INTO hakuna_sim (name, value) VALUES ('format', ?)", (FORMAT,))
        db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StateFileError(f"{path} is not a hakuna-sim state file, or it is damaged ({exc})") from exc
    except StateFileError:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """A file of format 1 to 2: its rows in tables by rowid, with the columns it lacks,
    and each checked-out cart's order."""
    db.execute("BEGIN")
    for statement in _MIGRATE_FROM_1:
        db.execute(statement)
    refs = [
        (cart["order_id"], key, item_id)
        for key, item_id, doc in db.execute("SELECT key, id, doc FROM items WHERE kind = 'cart'").fetchall()
        for cart in [orjson.loads(doc)]
        if cart.get("order_id")
    ]
    db.executemany("UPDATE items SET ref = ? WHERE key = ? AND kind = 'cart' AND id = ?", refs)
    db.execute("UPDATE hakuna_sim SET value = ? WHERE name = 'format'", (FORMAT,))
    db.execute("COMMIT")  # whole or not at all: a file killed meanwhile is format 1 still
