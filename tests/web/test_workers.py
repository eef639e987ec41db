"""Worker-thread work (reports, journals, snapshots) leaves requests their share."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from typing import Any

import pytest

from contract_tests.server import BackgroundSimulator
from simulator import pacing
from simulator.cli.main import build_parser
from simulator.cli.serve import build_config
from simulator.web.workers import Workers


def _timed_works(workers: Workers, answered: list[int], traffic: bool) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []

    def work() -> None:
        started = time.monotonic()
        time.sleep(0.05)
        if traffic:
            answered[0] += 5  # other keys' requests answered meanwhile
        spans.append((started, time.monotonic()))

    async def main() -> None:
        await asyncio.gather(*(workers.run(work) for _ in range(3)))

    asyncio.run(main())
    return spans


def test_works_that_ran_beside_requests_rest_before_the_next_one() -> None:
    answered = [0]
    workers = Workers(share=0.25, answered=lambda: answered[0])
    spans = _timed_works(workers, answered, traffic=True)
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    # Each work took about 50 ms: the next waits three times as long, so works take a quarter.
    assert all(gap >= 3 * (end - start) * 0.9 for gap, (start, end) in zip(gaps, spans, strict=False)), gaps


def test_works_on_an_idle_server_run_back_to_back() -> None:
    answered = [0]
    workers = Workers(share=0.25, answered=lambda: answered[0])
    spans = _timed_works(workers, answered, traffic=False)
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    assert all(gap < 0.05 for gap in gaps), gaps


def test_only_serve_makes_worker_thread_work_rest() -> None:
    served = build_config(build_parser().parse_args(["serve"]))
    assert served.background_share == 0.25 and served.own_collector
    in_process = BackgroundSimulator().config  # the server the pytest plugin starts (not started here)
    assert in_process.background_share == 1.0 and not in_process.own_collector
    answered = [0]
    workers = Workers(in_process.own_collector, in_process.background_share, lambda: answered[0])
    spans = _timed_works(workers, answered, traffic=True)
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    assert all(gap < 0.05 for gap in gaps), gaps


def test_a_view_read_for_a_work_runs_in_its_turn_and_counts_in_its_time() -> None:
    answered = [0]
    workers = Workers(share=0.25, answered=lambda: answered[0])
    log: list[tuple[str, float]] = []

    async def read(n: int) -> int:
        log.append(("read", time.monotonic()))
        await asyncio.sleep(0.05)  # a long journal read from the state file
        answered[0] += 5
        return n

    def work(n: int, label: str) -> str:
        log.append(("work", time.monotonic()))
        return f"{label}{n}"

    async def main() -> list[str]:
        return await asyncio.gather(*(workers.run_on(read(n), work, "w") for n in range(2)))

    assert asyncio.run(main()) == ["w0", "w1"]
    assert [kind for kind, _ in log] == ["read", "work", "read", "work"]  # one at a time, the read included
    # The first took about 50 ms, its read included: the second read waited three times as long.
    assert log[2][1] - log[1][1] >= 3 * 0.05 * 0.9


def test_a_read_whose_turn_never_came_is_closed_unread() -> None:
    workers = Workers()
    reads: list[int] = []

    async def read(n: int) -> int:
        reads.append(n)
        return n

    async def main() -> None:
        hold = asyncio.Event()

        async def blocking() -> None:
            await hold.wait()

        first = asyncio.ensure_future(workers.run_on(blocking(), lambda _: None))
        await asyncio.sleep(0)
        never = read(1)
        second = asyncio.ensure_future(workers.run_on(never, lambda _: None))
        await asyncio.sleep(0)
        second.cancel()
        hold.set()
        await first
        assert second.cancelled()
        assert inspect.getcoroutinestate(never) == inspect.CORO_CLOSED  # no "coroutine was never awaited"

    asyncio.run(main())
    assert reads == []


def test_under_serve_the_collector_stops_looking_at_what_has_lived_long(monkeypatch: Any) -> None:
    import gc

    from simulator.web import workers as module

    assert gc.get_freeze_count() == 0
    with Workers(own_collector=False).serving():  # a server inside a user's process
        assert gc.get_freeze_count() == 0
    with Workers(own_collector=True).serving():
        assert gc.get_freeze_count() > 1000  # the objects of the start

        def in_sight(obj: object) -> bool:  # frozen objects are in no generation
            return any(o is obj for o in gc.get_objects())

        kept = [[n] for n in range(5000)]  # state that lives long
        monkeypatch.setattr(module, "FREEZE_PAST", 10.0)
        gc.collect()  # a full collection under FREEZE_PAST: its survivors stay in sight
        assert in_sight(kept[0]) and in_sight(kept[-1])
        monkeypatch.setattr(module, "FREEZE_PAST", 0.0)
        gc.collect()  # a long one: they are frozen
        assert not in_sight(kept[0]) and not in_sight(kept[-1])
        monkeypatch.setattr(module, "FREEZE_PAST", 10.0)  # (the collections of the pause's end)
        read = [[n] for n in range(5000)]  # what a work read, still held when it ends
        assert in_sight(read[0])
        module.paused(lambda: None)
        assert not in_sight(read[0])
    # Stopped: what was frozen stays so (the process ends with the server), and a work
    # outside `serving` freezes nothing more.
    assert not in_sight(kept[0]) and not in_sight(read[0])
    later = [[n] for n in range(100)]
    module.paused(lambda: None)
    assert in_sight(later[0])
    gc.unfreeze()  # (this test's process goes on)


class _Clock:
    """pacing's time, by hand: `sleep` moves it on and says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_a_long_work_rests_after_each_slice_while_requests_are_answered(monkeypatch: Any) -> None:
    clock = _Clock()
    monkeypatch.setattr(pacing, "time", clock)
    answered = [0]
    slices = pacing.Slices(0.25, lambda: answered[0])
    result: list[float] = []

    def work() -> None:  # on a thread of its own, as a worker's
        for step in range(30):
            clock.now += 0.001  # a millisecond of work between two steps
            if step < 20:
                answered[0] += 1  # the loop answers requests meanwhile, until it goes idle
            pacing.pace()
        result.append(slices.unpaid())

    with pacing.sliced(slices):
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,))
        thread.start()
        thread.join()
    # Five milliseconds of work, then three times as long a rest (a share of a quarter),
    # but no rest once nothing else is answered; what ran since the last step is owed.
    assert clock.slept == [0.015] * 4
    assert slices.rested == pytest.approx(0.06)
    assert result == [0.0]


def test_pace_never_rests_on_the_thread_that_serves_nor_outside_a_work(monkeypatch: Any) -> None:
    clock = _Clock()
    monkeypatch.setattr(pacing, "time", clock)
    answered = [0]
    slices = pacing.Slices(0.25, lambda: answered[0])  # made where requests are served
    with pacing.sliced(slices):
        for _ in range(20):
            clock.now += 0.01
            answered[0] += 1
            pacing.pace()
    for _ in range(20):
        clock.now += 0.01
        answered[0] += 1
        pacing.pace()
    assert clock.slept == []


def test_a_work_and_its_reads_take_turns_on_the_threads_they_run_on(monkeypatch: Any) -> None:
    """Workers slices the work and the reads of its view (asyncio.to_thread), on their
    threads; the same calls outside a work or on the loop never rest."""
    answered = [0]
    workers = Workers(share=0.25, answered=lambda: answered[0])
    rests: list[tuple[str, float]] = []
    sleep = time.sleep

    def resting(seconds: float) -> None:
        rests.append((threading.current_thread().name, seconds))
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", resting)  # (pacing's, and the work's own none)

    def busy(seconds: float) -> str:
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            answered[0] += 1
            pacing.pace()
        return threading.current_thread().name

    async def read() -> str:
        pacing.pace()  # on the loop: never a rest
        return await asyncio.to_thread(busy, 0.02)

    async def main() -> tuple[str, str]:
        return await workers.run_on(read(), lambda read_on: (read_on, busy(0.02)))

    read_on, work_on = asyncio.run(main())
    assert threading.main_thread().name not in (read_on, work_on)
    assert {read_on, work_on} == {name for name, _ in rests}, rests
    assert all(seconds >= 3 * pacing.SLICE * 0.99 for _, seconds in rests), rests
    rests.clear()
    busy(0.02)  # not inside a work
    assert rests == []
