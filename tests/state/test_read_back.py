"""With a state file, what a reader read of a key's journal is kept a while: the next
report or journal page asks the file only for what was saved since, and shows exactly
what a server reading the whole file would (simulator/state/journal.py, `read_back`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulator.config import SimConfig
from simulator.state import journal
from simulator.state.journal import Journal
from simulator.state.sqlite import SqliteStore
from simulator.web.app import create_app
from tests.conftest import AUTH, KEY, look_up
from tests.state.test_state_file import some_history


class Counted(SqliteStore):
    """A state file that notes what readers ask of it."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.journal_reads: list[tuple[int, int]] = []
        self.item_reads: list[str] = []

    def read_journal(self, key: str, first: int, last: int) -> list[journal.Entry]:
        self.journal_reads.append((first, last))
        return super().read_journal(key, first, last)

    def read_items(self, key: str, kind: str, ids: list[str] | None) -> dict[str, bytes]:
        self.item_reads.append(kind)
        return super().read_items(key, kind, ids)


def served(store: SqliteStore, catalog: Any) -> TestClient:
    return TestClient(create_app(SimConfig(catalog=catalog), store=store), raise_server_exceptions=False)


def journal_of(client: TestClient) -> dict[str, Any]:
    answer = client.get("/__sim/journal", headers=AUTH)
    assert answer.status_code == 200
    return answer.json()


def as_read_from_the_whole_file(path: Path, catalog: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The journal and the report a server that never read the key before answers."""
    with served(SqliteStore(path), catalog) as client:
        return journal_of(client), client.get("/__sim/report", headers=AUTH).json()


def test_a_reader_asks_the_file_only_for_what_was_saved_since_the_last_read(tmp_path: Path, catalog: Any) -> None:
    path = tmp_path / "state.db"
    store = Counted(path)
    with served(store, catalog) as client:
        some_history(client)
        tenants = client.app.state.sandbox.tenants  # type: ignore[attr-defined]
        tenant = tenants.held(KEY)
        held_before, total_before = tenant.journal.memory_bytes, tenants.total
        first = journal_of(client)
        assert store.journal_reads == [(1, first["entries"][-1]["seq"])]
        read = tenant.journal.read_back()[1]
        weight = sum(len(e.headers) + len(e.body) + len(e.answer) + len(e.query) + 400 for e in read)
        assert read and tenant.journal.memory_bytes - held_before == weight  # charged to the key
        assert tenants.total - total_before == weight  # and counted against the server's budget
        assert store.item_reads == []  # a journal page shows no item: none is read
        for _ in range(3):
            assert look_up(client).status_code == 200
        read_before = store.journal_reads[-1][1]
        report = client.get("/__sim/report", headers=AUTH).json()
        assert store.journal_reads[-1][0] == read_before + 1  # the rest was kept from the first read
        again = journal_of(client)
        assert [e["seq"] for e in again["entries"]] == list(range(1, again["entries"][-1]["seq"] + 1))
        assert tenant.journal.read_back()[2] == again["entries"][-1]["seq"]  # kept up to the last read
    fresh_journal, fresh_report = as_read_from_the_whole_file(path, catalog)
    # Read again from the whole file, the same (bar the two reads this server answered since).
    assert fresh_journal["entries"][: len(again["entries"])] == again["entries"]
    assert fresh_report["findings"] == report["findings"]


def test_what_was_read_back_is_not_shown_after_a_reset_an_import_or_past_the_bounds(
    tmp_path: Path, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal.Journal.__init__, "__defaults__", (6, journal.MAX_BYTES))  # 6 entries a key
    path = tmp_path / "state.db"
    with served(SqliteStore(path), catalog) as client:
        some_history(client)
        snapshot = client.get("/__sim/state", headers=AUTH).json()
        assert journal_of(client)["entries"]
        for _ in range(8):
            assert look_up(client).status_code == 200
        bounded = journal_of(client)
        assert bounded["dropped"] + len(bounded["entries"]) == bounded["entries"][-1]["seq"] and len(bounded["entries"]) == 6
        assert client.post("/__sim/reset", headers=AUTH).status_code == 200
        assert look_up(client).status_code == 200
        after_reset = journal_of(client)
        assert [(e["seq"], e["path"]) for e in after_reset["entries"]] == [(1, "/sandbox/plans")]
        assert client.put("/__sim/state", json=snapshot, headers=AUTH).status_code == 200
        imported = journal_of(client)
    fresh, _ = as_read_from_the_whole_file(path, catalog)
    assert fresh["entries"][: len(imported["entries"])] == imported["entries"]
    assert all(e["seq"] <= s["seq"] for e, s in zip(imported["entries"], snapshot["journal"]["entries"], strict=False))


def test_a_journal_keeps_what_was_read_back_for_its_own_generation_and_not_for_long(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = Journal()
    kept.durable = True
    for n in range(3):
        kept.record(f"r{n}", 0.0, "GET", "/sandbox/plans", "", {}, b"", 200, b'{"plans":[]}', 1.0, (), False)
    entries = kept.take_unsaved()
    kept.mark_saved(entries[-1].seq)
    held = kept.memory_bytes
    generation, read, upto = kept.read_back()
    assert (read, upto) == ((), 0)
    assert kept.keep_read(generation, entries, 3) and kept.read_back()[1:] == (tuple(entries), 3)
    assert kept.memory_bytes > held
    assert not kept.keep_read(generation, entries[:2], 2)  # an older read never replaces a newer one
    kept.clear()
    assert not kept.keep_read(generation, entries, 3)  # read before the clear: not this journal's
    assert kept.read_back()[1] == () and kept.memory_bytes == 0
    assert kept.keep_read(kept.read_back()[0], [], 0)
    monkeypatch.setattr(journal, "READ_KEPT", 0.0)  # no reader came back in time
    kept.durable = True
    kept.keep_read(kept.read_back()[0], entries, 3)
    kept.record("r9", 0.0, "GET", "/sandbox/plans", "", {}, b"", 200, b"{}", 1.0, (), False)
    assert kept.read_back()[1] == ()


def test_a_read_that_ends_after_a_reset_is_not_kept_for_the_reset_journal(tmp_path: Path, catalog: Any) -> None:
    """The view's generation, not the journal's at the end of the read, decides."""
    with served(SqliteStore(tmp_path / "state.db"), catalog) as client:
        some_history(client)
        sandbox = client.app.state.sandbox  # type: ignore[attr-defined]
        tenant = sandbox.tenants.held(KEY)
        with tenant.lock:
            before_reset = tenant.view()
        assert client.post("/__sim/reset", headers=AUTH).status_code == 200
        assert look_up(client).status_code == 200
        assert client.portal is not None
        old = client.portal.call(sandbox.complete, KEY, before_reset)
        assert old.entries  # the old view is completed as it was
        assert tenant.journal.read_back()[1:] == ((), 0)  # and nothing of it is kept for the new journal
        assert [(e["seq"], e["path"]) for e in journal_of(client)["entries"]] == [(1, "/sandbox/plans")]
