"""Long works that share the process with the requests step aside now and then.

A report, a journal page or a snapshot of a key with thousands of entries is a second or
more of Python on a worker thread. Run in one go, it held the GIL against the event loop
for all of that second: the loop got it back only by turns (each of its socket calls
gave it away again), every other key's requests queued meanwhile, and their p99 grew
with the readers' journals (benchmarks/soak.py).

Such a work calls `pace()` between small steps (a chunk of entries read, a rule
checked, an item thawed). Inside a `Slices` it then works at most SLICE at a time and,
when requests were answered meanwhile, rests so that it takes no more than its share of
the time: the loop has the GIL to itself for the rest, and what queued behind a slice is
a few milliseconds of requests, whatever the length of the work. Anywhere else (the
event loop, a request's own read, a test) `pace()` does nothing.

The current `Slices` is a context variable: set in the task that runs the work, it
follows the work onto the threads that `asyncio.to_thread` and starlette's
`run_in_threadpool` start, and never makes the event loop's own thread wait.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

SLICE = 0.005  # seconds a work runs before it may rest
EVERY = 16  # items of a Paced list between two steps

T = TypeVar("T")


class Slices:
    """One work's turns: SLICE of work, then, if requests came meanwhile (`answered`
    changed), a rest of (1 / share - 1) times the slice."""

    def __init__(self, share: float, answered: Callable[[], int]):
        self._rest_per_second = 1 / share - 1
        self._answered = answered
        self._loop_thread = threading.get_ident()  # made on the event loop, where it never rests
        self._since = time.perf_counter()
        self._seen = answered()
        self.rested = 0.0

    def step(self) -> None:
        if time.perf_counter() - self._since < SLICE or threading.get_ident() == self._loop_thread:
            return
        rest = self.unpaid()
        if rest:
            time.sleep(rest)
            self.rested += rest
        self._since, self._seen = time.perf_counter(), self._answered()

    def unpaid(self) -> float:
        """The rest owed for the work since the last one: none if no request was
        answered meanwhile."""
        return (time.perf_counter() - self._since) * self._rest_per_second if self._answered() != self._seen else 0.0


_current: ContextVar[Slices | None] = ContextVar("hakuna_sim_slices", default=None)


def pace() -> None:
    """A point where a long work may step aside (see the module's docstring)."""
    slices = _current.get()
    if slices is not None:
        slices.step()


class Paced(list[T]):
    """A list that steps aside (`pace()`) every EVERY items it is iterated over: what a
    report's rules loop over, a rule at a time, thousands of records each."""

    def __iter__(self) -> Iterator[T]:
        for n, item in enumerate(super().__iter__()):
            if not n % EVERY:
                pace()
            yield item


@contextlib.contextmanager
def sliced(slices: Slices | None) -> Iterator[Slices | None]:
    """Works run inside this (and the threads they start) take turns with `slices`
    (None: they run in one go)."""
    token = _current.set(slices)
    try:
        yield slices
    finally:
        _current.reset(token)
