"""Worker-thread work (reports, journals, snapshots) leaves requests their share."""

from __future__ import annotations

import asyncio
import time

from contract_tests.server import BackgroundSimulator
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
    assert served.background_share == 0.25 and served.pause_collector
    in_process = BackgroundSimulator().config  # the server the pytest plugin starts (not started here)
    assert in_process.background_share == 1.0 and not in_process.pause_collector
    answered = [0]
    workers = Workers(in_process.pause_collector, in_process.background_share, lambda: answered[0])
    spans = _timed_works(workers, answered, traffic=True)
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    assert all(gap < 0.05 for gap in gaps), gaps
