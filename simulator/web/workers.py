"""Work handed from the event loop to a worker thread: reports, the journal, snapshots
and the dashboard's pages, all read from a copy of a tenant while other keys go on
being served.

Under `hakuna-sim serve` such work runs with the cyclic garbage collector paused (the
process is the server's alone; a server inside a user's test process, as the pytest
plugin starts, leaves the collector to that process). A report of 10,000 entries
holds a few hundred thousand parsed objects for about 50 ms, and the collector
traversed them all again and again, in full collections of 5-15 ms during which the
worker kept the GIL and every other key's requests waited. Requests make no reference
cycles, so little piles up meanwhile, and what the work leaves behind is freed by
reference counting. Works that overlap without end (clients reading reports in
parallel, in a loop) would keep it paused for good: then each work that ends collects
the youngest generation, once a second at most.

Under `serve` the collector also stops looking at what has lived long (`Workers.serving`):
the objects of the start (schemas, routes, the catalog: 35,000 objects, 34 ms a
full collection) are frozen once started, and the survivors of a full collection that
took over FREEZE_PAST are frozen after it. Full collections otherwise walked every
key's state, and took longer as the keys kept more: 70 ms after a minute of the soak at
200 keys, 190 ms after five, each one a stall of every request in flight (p99 went
from 68 to 236 ms). A frozen object is still freed by reference counting when it is no
longer used; only a reference cycle among frozen objects would never be collected, and
what lives long here makes none (a tenant's parts call back into it weakly, tested).

Under `serve` such work also takes at most a share of the process's time while requests
are being answered (SimConfig.background_share): it works in short slices and rests
between them while others' requests go on (simulator/pacing.py), and what it ran
without stepping aside is followed by a rest before the next work starts. Readers of
reports over long journals, every few seconds, otherwise took the core from every other
key's requests as their journals grew (benchmarks/soak.py); their own answers wait instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from simulator import pacing

T = TypeVar("T")
V = TypeVar("V")


class _Collector:
    """The process's cyclic collector, under `serve`: paused while works run, and kept
    from what has lived long while serving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._was_on = True
        self._collected = 0.0
        self._freezing = False  # while `serving`: long-lived objects are kept frozen

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._was_on = gc.isenabled()
                self._collected = time.monotonic()
                gc.disable()
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running -= 1
            if not self._was_on:
                return
            if self._running == 0:
                # What the work read (a view, parsed entries, its answer) is still alive
                # here and would be walked by the next collections, young and full alike:
                # 5-10 ms each for a report of a thousand entries, and every request waited.
                # Frozen, it is freed by reference counting alone when its answer is sent.
                if self._freezing:
                    gc.freeze()
                gc.enable()
            elif time.monotonic() - self._collected > 1.0:
                self._collected = time.monotonic()
                gc.collect(0)

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """What has lived long stays out of the collector's sight (the module's docstring):
        the start's objects, the survivors of a long full collection, what a work held.
        They stay frozen when serving stops: the process ends with the server, and the
        interpreter's last collection would walk every key's state (SIGTERM within 3 s)."""
        gc.collect()
        gc.freeze()
        freezer = _Freezer()
        gc.callbacks.append(freezer)
        self._freezing = True
        try:
            yield
        finally:
            self._freezing = False
            gc.callbacks.remove(freezer)


FREEZE_PAST = 0.010  # seconds: a full collection longer than this leaves its survivors frozen


class _Freezer:
    """A `gc.callbacks` entry: freezes the survivors of a long full collection."""

    def __init__(self) -> None:
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        elif time.perf_counter() - self._started > FREEZE_PAST:
            gc.freeze()


_collector = _Collector()


def paused(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` with the collector paused (on whichever thread calls it)."""
    with _collector:
        return work(*args)


class Workers:
    """Runs work on a worker thread, one work at a time, with the collector paused
    meanwhile when `own_collector` (SimConfig: `serve` sets it).

    One at a time: a worker running Python holds the GIL, and the event loop gets it back
    only by turns; with four reports running at once the loop had a fifth of it, and every
    other key's requests waited by as much (the soak's p99). Queued behind each other, the
    works cost their readers the wait, not everyone else."""

    def __init__(self, own_collector: bool = False, share: float = 1.0, answered: Callable[[], int] | None = None):
        """`share`: of the process's time, what works may take while requests are being
        answered; `answered`: how many requests were answered so far (Metrics.answered)."""
        self.own_collector = own_collector
        self.share = share
        self._answered = answered
        self._one: asyncio.Semaphore | None = None
        self._rest_until = 0.0

    def serving(self) -> contextlib.AbstractContextManager[None]:
        """While the server serves: with `own_collector`, what has lived long stays out
        of the collector's sight (see the module's docstring)."""
        return _collector.serving() if self.own_collector else contextlib.nullcontext()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        return await self._slot(None, work, *args)

    async def run_on(self, read: Awaitable[V], work: Callable[..., T], *args: Any) -> T:
        """`work(value, *args)` on a worker thread, `value` being what `read` gives: a
        key's view, completed from the state file. The read runs in the work's turn and
        counts in its time, so a reader of a long journal waits for its turn to read it,
        instead of reading it beside every other key's requests."""
        return await self._slot(read, work, *args)

    async def _slot(self, read: Awaitable[Any] | None, work: Callable[..., T], *args: Any) -> T:
        if self._one is None:
            self._one = asyncio.Semaphore(1)
        try:
            async with self._one:
                rest = self._rest_until - time.monotonic()
                if rest > 0:
                    await asyncio.sleep(rest)
                slices = pacing.Slices(self.share, self._answered) if self._answered is not None and self.share < 1 else None
                with pacing.sliced(slices):
                    try:
                        held = _collector if self.own_collector else contextlib.nullcontext()
                        if read is not None:
                            pending, read = read, None
                            with held:  # (a journal read back is thousands of entries)
                                args = (await pending, *args)
                        if self.own_collector:
                            return await run_in_threadpool(paused, work, *args)
                        return await run_in_threadpool(work, *args)
                    finally:
                        if slices is not None:  # what ran between the work's last step and its end
                            self._rest_until = time.monotonic() + slices.unpaid()
        finally:
            if isinstance(read, Coroutine):  # cancelled before its turn came: never to be read
                read.close()
