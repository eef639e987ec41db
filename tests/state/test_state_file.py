"""`serve --state PATH`: tenants kept in an SQLite file survive a restart, an eviction
and a kill -9; a file that cannot be used stops the server at start, named."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from contract_tests import guide
from simulator.config import SimConfig
from simulator.state.sqlite import SqliteStore
from simulator.web.app import create_app
from tests.conftest import AUTH, cart, fulfilled, line, look_up, placed, post
from tests.serving import free_port, wait_ready

OTHER = {"Authorization": "Bearer sk_test_anotherkey02", "Hakuna-Version": "v2.0"}


def served(path: Path, catalog: Any, **config: Any) -> TestClient:
    """The app on the state file, as `serve --state` builds it (enter it to start)."""
    return TestClient(create_app(SimConfig(catalog=catalog, **config), store=SqliteStore(path)), raise_server_exceptions=False)


def state_of(client: TestClient, headers: dict[str, str] = AUTH) -> dict[str, Any]:
    state = client.get("/__sim/state", headers=headers).json()
    return {**state, "taken_at": None, "generated_ids": None}


def some_history(client: TestClient, headers: dict[str, str] = AUTH) -> None:
    assert look_up(client).status_code == 200
    lines = [line("a", "prd-iphone14", 2, 112900), line("p", "pl-prd-hakuna", 2, 1200, "prd-iphone14")]
    assert post(client, "/sandbox/carts", cart(lines), headers=headers).status_code == 200
    assert (
        post(
            client,
            "/sandbox/checkouts",
            {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "ord-1"},
            headers={**headers, "Hakuna-Idempotency-Key": "k-1"},
        ).status_code
        == 200
    )
    assert post(client, "/sandbox/events", placed("ord-1", lines, "cart-1"), headers=headers).status_code == 200
    assert post(client, "/sandbox/events", fulfilled("ord-1", ("a", 1)), headers=headers).status_code == 200
    assert client.put("/__sim/settings", json={"magic_values": True}, headers=headers).status_code == 200
    assert (
        client.put("/__sim/faults", json={"faults": [{"route": "/sandbox/nothing", "status": 500}]}, headers=headers).status_code
        == 200
    )


def test_every_tenant_survives_a_restart(tmp_path: Path, catalog: Any) -> None:
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        some_history(client)
        some_history(client, OTHER)
        own = client.get("/__sim/catalog", headers=OTHER).json()
        own["plans"] = own["plans"][:2]
        assert client.put("/__sim/catalog", json=own, headers=OTHER).status_code == 200
        before, before_other = state_of(client), state_of(client, OTHER)
    with served(path, catalog) as client:
        assert state_of(client) == before
        assert state_of(client, OTHER) == before_other
        # ... and goes on from there: the idempotency key replays, the order takes its next event.
        replay = post(
            client,
            "/sandbox/checkouts",
            {"cart_id": "cart-1", "user_session_id": "sess-1", "order_id": "ord-1"},
            headers={"Hakuna-Idempotency-Key": "k-1"},
        )
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert post(client, "/sandbox/events", fulfilled("ord-1", ("a", 1))).status_code == 200
        assert client.get("/sandbox/orders/ord-1", headers=AUTH).json()["line_items"][0]["fulfilled_quantity"] == 2


def test_requests_that_only_add_to_the_journal_survive_too(tmp_path: Path, catalog: Any) -> None:
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        for _ in range(5):  # the first writes the key's row, the others their entries alone
            assert look_up(client).status_code == 200
        assert client.get("/sandbox/orders/nowhere", headers=AUTH).status_code == 404
        before = client.get("/__sim/journal", headers=AUTH).json()
    with served(path, catalog) as client:
        after = client.get("/__sim/journal", headers=AUTH).json()
        assert after == before and len(after["entries"]) == 6
        assert look_up(client).status_code == 200
        assert [e["seq"] for e in client.get("/__sim/journal", headers=AUTH).json()["entries"]] == [1, 2, 3, 4, 5, 6, 7]


def test_the_key_row_is_written_when_it_changed_and_not_with_every_request(
    tmp_path: Path, catalog: Any, monkeypatch: Any
) -> None:
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        store = client.app.state.sandbox.tenants.store  # type: ignore[attr-defined]
        rows: list[bool] = []
        real = store.save

        def save(changes: Any) -> Any:
            rows.append(changes.tenant_row is not None)
            return real(changes)

        monkeypatch.setattr(store, "save", save)
        assert look_up(client).status_code == 200  # the key's first request: its row
        assert post(client, "/sandbox/carts", cart([line("a", "prd-iphone14")])).status_code == 200
        for quantity in (2, 3):  # the cart changes, the key's settings and weight do not
            assert post(client, "/sandbox/carts", cart([line("a", "prd-iphone14", quantity)])).status_code == 200
        assert look_up(client).status_code == 200
        assert client.put("/__sim/settings", json={"magic_values": True}, headers=AUTH).status_code == 200
        assert (
            client.put(
                "/__sim/faults", json={"faults": [{"route": "/sandbox/carts", "status": 503, "count": 2}]}, headers=AUTH
            ).status_code
            == 200
        )
        assert post(client, "/sandbox/carts", cart([line("a", "prd-iphone14", 4)])).status_code == 503  # its count moved
        assert rows[0] and rows[2:5] == [False, False, False] and rows[5:] == [True, True, True]
        before = state_of(client)
    with served(path, catalog) as client:  # what the row no longer says with each request is read back all the same
        assert state_of(client) == before
        journal = client.get("/__sim/journal", headers=AUTH).json()["entries"]
        assert [e["seq"] for e in journal] == [1, 2, 3, 4, 5, 6]  # (settings and faults are not journaled)
        assert post(client, "/sandbox/carts", cart([line("a", "prd-iphone14", 5)])).status_code == 503  # the rule's last time
        assert post(client, "/sandbox/carts", cart([line("a", "prd-iphone14", 5)])).status_code == 200


def test_the_file_keeps_the_journal_within_its_bounds(tmp_path: Path, catalog: Any, monkeypatch: Any) -> None:
    from simulator.state import journal

    monkeypatch.setattr(journal.Journal.__init__, "__defaults__", (5, journal.MAX_BYTES))  # 5 entries a key
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        for _ in range(12):
            assert look_up(client).status_code == 200
        before = client.get("/__sim/journal", headers=AUTH).json()
    assert before["dropped"] == 7 and [e["seq"] for e in before["entries"]] == [8, 9, 10, 11, 12]
    db = sqlite3.connect(path)
    oldest_chunk_end = db.execute("SELECT min(last_seq) FROM journal").fetchone()[0]
    db.close()
    assert oldest_chunk_end >= 8  # chunks wholly older than the kept entries are gone
    with served(path, catalog) as client:
        assert client.get("/__sim/journal", headers=AUTH).json() == before


def test_old_journal_chunks_go_once_an_eighth_of_the_kept_journal_has_gone(
    tmp_path: Path, catalog: Any, monkeypatch: Any
) -> None:
    from simulator.state import journal

    monkeypatch.setattr(journal.Journal.__init__, "__defaults__", (80, journal.MAX_BYTES))  # 80 entries a key
    path = tmp_path / "state.db"
    ends = []
    with served(path, catalog) as client:
        reader = sqlite3.connect(path)  # WAL: a reader of its own sees what was committed
        for i in range(300):
            assert look_up(client).status_code == 200
            if i >= 80 and i % 7 == 0:
                ends.append(reader.execute("SELECT min(last_seq) FROM journal").fetchone()[0])
        reader.close()
        before = client.get("/__sim/journal", headers=AUTH).json()
    assert before["dropped"] == 220 and len(before["entries"]) == 80
    # Never more than an eighth of the kept journal (10 entries) older than the oldest
    # kept entry, and old chunks do go: the oldest chunk in the file moves on.
    first_kept = [e["seq"] for e in before["entries"]][0]
    assert ends[-1] >= first_kept - 10 - 1
    assert len(set(ends)) > 10
    with served(path, catalog) as client:
        assert client.get("/__sim/journal", headers=AUTH).json() == before


def test_journal_chunks_small_and_large_read_back_and_a_damaged_one_is_refused() -> None:
    import marshal
    import zlib

    from simulator.state.journal import Entry, pack, unpack

    small = [Entry(1, "req-1", 1.5, "GET", "/sandbox/plans", "q", b"{}", b"", 200, b"{}", 0.1, "", False, 0)]
    large = [
        Entry(i, f"req-{i}", 1.5, "POST", "/sandbox/carts", "", b"{}", os.urandom(600), 200, b"{}", 0.1, "", False, 0)
        for i in range(16)
    ]
    for entries in (small, large):
        assert unpack(pack(entries)) == entries
    assert pack(small)[:1] == b"M" and pack(large)[:1] == b"Z"  # msgpack, plain behind a CRC-32 or compressed
    # Chunks of files written before (marshal, plain behind a CRC-32 or compressed) still read.
    raw = marshal.dumps([tuple(e) for e in small], 4)
    assert unpack(b"m" + zlib.crc32(raw).to_bytes(4, "big") + raw) == small
    assert unpack(zlib.compress(marshal.dumps([tuple(e) for e in large], 4), 1)) == large
    for packed in (pack(small), pack(large), b"m" + zlib.crc32(raw).to_bytes(4, "big") + raw):
        middle = len(packed) // 2  # a byte of the entries, not of the checksum
        damaged = packed[:middle] + bytes([packed[middle] ^ 0xFF]) + packed[middle + 1 :]
        with pytest.raises((zlib.error, ValueError)):
            unpack(damaged)


def test_a_write_the_disk_refused_is_written_with_the_next_request(tmp_path: Path, catalog: Any, monkeypatch: Any) -> None:
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        store = client.app.state.sandbox.tenants.store  # type: ignore[attr-defined]
        real = store._apply
        full = {"disk": True}

        def disk_full(batch: Any) -> None:
            if full["disk"]:
                raise sqlite3.OperationalError("database or disk is full")
            real(batch)

        monkeypatch.setattr(store, "_apply", disk_full)
        refused = post(client, "/sandbox/carts", cart([line("a", "prd-iphone14")]))
        assert refused.status_code == 503
        assert "disk is full" in refused.json()["error"]["validation_errors"][0]
        full["disk"] = False
        assert (
            client.get("/sandbox/carts/cart-1/plan_connections", params={"user_session_id": "sess-1"}, headers=AUTH).status_code
            == 200
        )
        assert post(client, "/sandbox/carts", cart([line("b", "prd-iphone14")], cart_id="cart-2")).status_code == 200
        before = state_of(client)
    with served(path, catalog) as client:
        assert state_of(client) == before
        assert {c["cart_id"] for c in before["carts"]} == {"cart-1", "cart-2"}


def test_reset_forget_and_import_reach_the_file(tmp_path: Path, catalog: Any) -> None:
    path = tmp_path / "state.db"
    with served(path, catalog) as client:
        some_history(client)
        some_history(client, OTHER)
        snapshot = client.get("/__sim/state", headers=OTHER).json()
        assert client.post("/__sim/reset", headers=AUTH).status_code == 200
        assert client.delete("/__sim/sandbox", headers=OTHER).status_code == 200
        assert (
            client.put("/__sim/state", json=snapshot, headers={**AUTH, "Authorization": "Bearer sk_test_thirdkey03"}).status_code
            == 200
        )
        reset = state_of(client)
    with served(path, catalog) as client:
        assert state_of(client) == reset
        assert reset["orders"] == [] and reset["settings"]["magic_values"] is True  # reset keeps settings
        assert state_of(client, OTHER)["orders"] == []
        assert state_of(client, {**AUTH, "Authorization": "Bearer sk_test_thirdkey03"})["orders"] == snapshot["orders"]


def test_an_evicted_key_is_loaded_back_from_the_file(tmp_path: Path, catalog: Any) -> None:
    with served(tmp_path / "state.db", catalog, max_tenants=1) as client:
        some_history(client)
        before = state_of(client)
        assert client.get("/__sim/settings", headers=OTHER).status_code == 200  # evicts the first key
        held = client.app.state.sandbox.tenants  # type: ignore[attr-defined]
        assert [t.key for t in held.all()] == ["sk_test_anotherkey02"]
        assert state_of(client) == before


def test_metrics_count_the_file(tmp_path: Path, catalog: Any) -> None:
    token = "a-token-of-sixteen-chars"
    with served(tmp_path / "state.db", catalog, admin_token=token) as client:
        some_history(client)
        text = client.get("/__sim/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert "hakuna_sim_store_keys 1" in text
    sizes = [line for line in text.splitlines() if line.startswith("hakuna_sim_store_bytes ")]
    assert len(sizes) == 1 and int(sizes[0].split()[1]) > 4096


# -- start-up: a file that cannot be used stops the server, named ----------------------


def serve_on(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", str(free_port()), "--state", str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def a_real_state_file(path: Path, catalog: Any) -> None:
    with served(path, catalog) as client:
        for i in range(30):
            some_history(client, {**AUTH, "Authorization": f"Bearer sk_test_filler{i:04d}"})


@pytest.mark.integration  # a served process
@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-sqlite", "folder", "no-folder"])
def test_a_file_that_cannot_be_used_is_refused_at_start(tmp_path: Path, catalog: Any, damage: str) -> None:
    path = tmp_path / "state.db"
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        a_real_state_file(path, catalog)
        data = path.read_bytes()
        assert len(data) > 16384
        path.write_bytes(data[: len(data) // 2])
    elif damage == "other-sqlite":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE invoices (id INTEGER)")
        db.commit()
        db.close()
    elif damage == "folder":
        path.mkdir()
    else:
        path = tmp_path / "missing" / "state.db"
    before = path.read_bytes() if path.is_file() else None
    done = serve_on(path, tmp_path)
    assert done.returncode == 2, done.stderr
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr
    if before is not None:
        assert path.read_bytes() == before  # a refused file is left as it was


@pytest.mark.integration  # a served process
def test_a_second_server_on_a_file_in_use_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    port = free_port()
    first = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", str(port), "--state", str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        second = serve_on(path, tmp_path)
        assert second.returncode == 2
        assert f"{path} is in use by another hakuna-sim server" in second.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200  # the first one goes on
    finally:
        first.terminate()
        out, _ = first.communicate(timeout=10)
    assert first.returncode == 0 and "stopped" in out


# -- kill -9 in the middle of concurrent writes ----------------------------------------


KEY_HEADERS = {"Authorization": "Bearer sk_test_killnine01", "Hakuna-Version": "v2.0", "Content-Type": "application/json"}
UNITS = 1_000  # units of the one product line each worker's order ships one at a time


def start_server(path: Path, port: int, cwd: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", str(port), "--state", str(path)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_ready(f"http://127.0.0.1:{port}")
    return process


@pytest.mark.integration  # a served process
def test_kill_9_loses_no_answered_request_and_applies_none_twice(tmp_path: Path) -> None:
    path, port = tmp_path / "state.db", free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(path, port, tmp_path)
    workers = 6
    answered_carts: dict[str, dict[str, Any]] = {}  # cart id -> the body of its last answered update
    answered_events: dict[str, str] = {}  # idempotency key -> event id answered
    sent_events: dict[int, list[tuple[str, dict[str, Any]]]] = {w: [] for w in range(workers)}
    lock = threading.Lock()
    stop = threading.Event()
    with httpx.Client(base_url=base, headers=KEY_HEADERS) as http:
        for w in range(workers):
            order = placed(f"ord-{w}", [line("a", "prd-iphone14", UNITS, 112900)])
            assert http.post("/sandbox/events", json=order).status_code == 200

    def work(w: int) -> None:
        with httpx.Client(base_url=base, headers=KEY_HEADERS, timeout=5) as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = cart([line(f"l{n}", "prd-iphone14", n, 112900)], cart_id=f"cart-{w}-{n % 5}", session=f"s{w}")
                key = f"evt-{w}-{n}"
                event = fulfilled(f"ord-{w}", ("a", 1))
                with lock:
                    sent_events[w].append((key, event))
                try:
                    if http.post("/sandbox/carts", json=body).status_code == 200:
                        with lock:
                            answered_carts[body["cart_id"]] = body
                    answer = http.post("/sandbox/events", json=event, headers={"Hakuna-Idempotency-Key": key})
                    if answer.status_code == 200:
                        with lock:
                            answered_events[key] = answer.json()["event_id"]
                except httpx.TransportError:
                    return

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    while len(answered_events) < 300:  # in the middle of it
        threading.Event().wait(0.01)
    os.kill(server.pid, signal.SIGKILL)
    server.communicate(timeout=10)
    stop.set()
    for t in threads:
        t.join()
    server = start_server(path, port, tmp_path)
    try:
        with httpx.Client(base_url=base, headers=KEY_HEADERS) as http:
            # Every answered cart update is there, as the last one answered for it.
            for cart_id, body in answered_carts.items():
                stored = http.get(
                    f"/sandbox/carts/{cart_id}/plan_connections", params={"user_session_id": body["user_session_id"]}
                )
                assert stored.status_code == 200
            state = http.get("/__sim/state").json()
            carts = {c["cart_id"]: c for c in state["carts"]}
            for cart_id, body in answered_carts.items():
                # The file holds the last answered body, or one sent after it that was applied unanswered.
                assert carts[cart_id]["line_items"][0]["quantity"] >= body["line_items"][0]["quantity"]
            # Every answered event is there, under the id it was answered with.
            for event_id in answered_events.values():
                assert http.get(f"/sandbox/events/{event_id}").status_code == 200
            # Sending every event again with its key applies each exactly once in all:
            # the answered ones replay, one unanswered but applied replays, the rest apply now.
            for w in range(workers):
                for key, event in sent_events[w]:
                    again = http.post("/sandbox/events", json=event, headers={"Hakuna-Idempotency-Key": key})
                    assert again.status_code == 200, again.text
                    if key in answered_events:
                        assert again.headers.get("Idempotent-Replayed") == "true"
                        assert again.json()["event_id"] == answered_events[key]
                order = http.get(f"/sandbox/orders/ord-{w}").json()
                assert order["line_items"][0]["fulfilled_quantity"] == len(sent_events[w])
            journal = http.get("/__sim/journal").json()
            assert journal["dropped"] == 0
            seqs = [e["seq"] for e in journal["entries"]]
            assert seqs == sorted(set(seqs))  # no entry twice, none out of order
    finally:
        server.terminate()
        server.communicate(timeout=10)


# -- hakuna-sim state export|import, as a user runs them -------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAKUNA_")}
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.integration  # a served process
def test_state_export_and_import_from_the_shell(tmp_path: Path) -> None:
    from tests.serving import serving

    with serving(tmp_path) as base:
        with httpx.Client(base_url=base, headers={**AUTH, "Content-Type": "application/json"}) as http:
            lines = [line("a", "prd-iphone14", 1, 112900), line("p", "pl-prd-hakuna", 1, 1200, "prd-iphone14")]
            assert http.post("/sandbox/carts", json=cart(lines)).status_code == 200
            assert http.post("/sandbox/events", json=placed("ord-1", lines)).status_code == 200
        key = AUTH["Authorization"].split()[1]
        exported = cli("state", "export", "--base-url", base, "--api-key", key, "shop.json", cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        snapshot = (tmp_path / "shop.json").read_text()
        assert '"ord-1"' in snapshot
        imported = cli(
            "state", "import", "--base-url", base, "--api-key", "sk_test_colleague01", "--rebase", "shop.json", cwd=tmp_path
        )
        assert imported.returncode == 0, imported.stderr
        assert "1 carts, 1 orders" in imported.stdout
        other = {**AUTH, "Authorization": "Bearer sk_test_colleague01"}
        assert httpx.get(f"{base}/sandbox/orders/ord-1", headers=other).json()["order_id"] == "ord-1"

        broken = json.loads(snapshot)
        broken["carts"].insert(0, 7)
        (tmp_path / "broken.json").write_text(json.dumps(broken))
        before = httpx.get(f"{base}/__sim/state", headers=other).json()
        refused = cli("state", "import", "--base-url", base, "--api-key", "sk_test_colleague01", "broken.json", cwd=tmp_path)
        assert refused.returncode == 1
        assert "nothing changed" in refused.stderr and "carts[0] must be an object" in refused.stderr
        after = httpx.get(f"{base}/__sim/state", headers=other).json()
        assert {**after, "taken_at": None, "generated_ids": None} == {**before, "taken_at": None, "generated_ids": None}

        no_key = cli("state", "export", "--base-url", base, "out.json", cwd=tmp_path)
        assert no_key.returncode == 2 and "--api-key" in no_key.stderr
        missing = cli("state", "import", "--base-url", base, "--api-key", key, "nowhere.json", cwd=tmp_path)
        assert missing.returncode == 2 and "nowhere.json" in missing.stderr
    gone = cli("state", "export", "--base-url", base, "--api-key", key, "out.json", cwd=tmp_path)
    assert gone.returncode == 2 and "no simulator" in gone.stderr
    gone = cli("state", "import", "--base-url", base, "--api-key", key, "shop.json", cwd=tmp_path)
    assert gone.returncode == 2 and "no simulator" in gone.stderr


def test_a_file_written_by_the_format_1_server_loads_whole_and_goes_on(tmp_path: Path, catalog: Any) -> None:
    """A state file the previous release wrote (format 1: marshal journal chunks, no
    cart refs, no chunk sizes) is moved to the current format at start and answers as
    it did: every key's whole state, and the requests that follow."""
    data = Path(__file__).resolve().parent / "data"
    path = tmp_path / "state.db"
    path.write_bytes((data / "state-file-format-1.db").read_bytes())
    expected = json.loads((data / "state-file-format-1.json").read_text())
    second = {**AUTH, "Authorization": "Bearer sk_test_secondkey01"}
    with served(path, catalog) as client:
        for name, headers in (("a", AUTH | {"Authorization": "Bearer " + guide.API_KEY}), ("b", second)):
            assert state_of(client, headers) == {**expected[name], "taken_at": None, "generated_ids": None}
        headers = {"Authorization": "Bearer " + guide.API_KEY, "Hakuna-Version": "v2.0", "Content-Type": "application/json"}
        replay = client.post(
            "/sandbox/checkouts", content=guide.CHECKOUT_TEXT, headers={**headers, "Hakuna-Idempotency-Key": "k-checkout"}
        )
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert client.post("/sandbox/events", content=guide.REFUND_TEXT, headers=headers).status_code == 200
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM hakuna_sim WHERE name = 'format'").fetchone() == ("hakuna-sim-state-file/2",)
        assert db.execute("PRAGMA auto_vacuum").fetchone() == (2,)


@pytest.mark.parametrize("restart_past", [64 * 1024, 1024**3])
def test_the_log_starts_again_past_its_bound_and_the_file_keeps_every_write(
    tmp_path: Path, catalog: Any, monkeypatch: Any, restart_past: int
) -> None:
    """Past RESTART_PAST of log (as the checkpoint thread last saw it), the writer copies
    the rest between two commits and the next commit writes the log from its start;
    without the bound a log written to all the time only grows."""
    from simulator.state import sqlite

    monkeypatch.setattr(sqlite, "RESTART_PAST", restart_past)
    monkeypatch.setattr(sqlite, "CHECKPOINT_EVERY", 3600.0)  # the checkpoint thread stays out of it
    monkeypatch.setattr(sqlite, "RESTART_AGAIN", 0.0)
    path = tmp_path / "state.db"

    wal = Path(f"{path}-wal")
    with served(path, catalog) as client:
        store = client.app.state.sandbox.tenants.store  # type: ignore[attr-defined]
        for n in range(60):
            lines = [line(f"l{i}", "prd-iphone14", 1 + n % 3) for i in range(8)]
            assert post(client, "/sandbox/carts", cart(lines, cart_id=f"cart-{n % 10}")).status_code == 200
            store._log_frames = wal.stat().st_size // 1024  # about what the checkpoint thread would report
        grown = wal.stat().st_size  # the file is written over from its start, never cut
        before = state_of(client)
    if restart_past < 1024**2:
        assert grown < 2 * restart_past, grown
    else:
        assert grown > 5 * 64 * 1024, grown  # every commit's pages, one after another
    with served(path, catalog) as client:
        assert state_of(client) == before
        assert len(client.get("/__sim/journal", headers=AUTH).json()["entries"]) == 60
