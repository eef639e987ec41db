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

Under `serve` such work also takes at most a share of the process's time while requests
are being answered (SimConfig.background_share): a work that ran while others' requests
went on is followed by a rest before the next one starts. Readers of reports over long
journals, every few seconds, otherwise took the core from every other key's requests as
their journals grew (benchmarks/soak.py); their own answers wait instead.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class _CollectorPause:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._was_on = True
        self._collected = 0.0

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
                gc.enable()
            elif time.monotonic() - self._collected > 1.0:
                self._collected = time.monotonic()
                gc.collect(0)


_collector_paused = _CollectorPause()


def paused(work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` with the collector paused (on whichever thread calls it)."""
    with _collector_paused:
        return work(*args)


class Workers:
    """Runs work on a worker thread, one work at a time, with the collector paused
    meanwhile when `pause_collector` (SimConfig: `serve` sets it).

    One at a time: a worker running Python holds the GIL, and the event loop gets it back
    only by turns; with four reports running at once the loop had a fifth of it, and every
    other key's requests waited by as much (the soak's p99). Queued behind each other, the
    works cost their readers the wait, not everyone else."""

    def __init__(self, pause_collector: bool = False, share: float = 1.0, answered: Callable[[], int] | None = None):
        """`share`: of the process's time, what works may take while requests are being
        answered; `answered`: how many requests were answered so far (Metrics.answered)."""
        self.pause_collector = pause_collector
        self.share = share
        self._answered = answered
        self._one: asyncio.Semaphore | None = None
        self._rest_until = 0.0

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        if self._one is None:
            self._one = asyncio.Semaphore(1)
        async with self._one:
            rest = self._rest_until - time.monotonic()
            if rest > 0:
                await asyncio.sleep(rest)
            started, before = time.monotonic(), self._answered() if self._answered else 0
            try:
                if self.pause_collector:
                    return await run_in_threadpool(paused, work, *args)
                return await run_in_threadpool(work, *args)
            finally:
                if self._answered is not None and self.share < 1 and self._answered() > before:
                    now = time.monotonic()
                    self._rest_until = now + (now - started) * (1 / self.share - 1)
