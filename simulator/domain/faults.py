"""Fault injection and rate limiting, for testing a client's retries (docs/contract.md §2:
429 and 5xx only when asked for).

A fault rule matches requests by route pattern (fnmatch on the path, e.g.
`/sandbox/events` or `/sandbox/*`) and optional method, and then fails the next `count`
of them, or a `rate` fraction of them (drawn from a seeded stream), or every one; with
429 (and `Retry-After`), 500 or 503, and/or added latency. `when: "after"` applies the
request first and then fails it: the answer is lost although the state changed, which
is the case an idempotency key exists for. /__sim routes are never faulted.
"""

from __future__ import annotations

import fnmatch
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.domain.errors import SimError, invalid

STATUS_CODES = {429: "rate_limited", 500: "internal_server_error", 503: "service_unavailable"}
_RETRY_AFTER = re.compile(r"retry after (\d+) s\b")


def retry_after_text(seconds: int) -> str:
    """How a 429's message says its Retry-After, so a reader of the journal (which keeps
    answers, not their headers) finds it again with `retry_after_in`."""
    return f"retry after {seconds} s"


def retry_after_in(messages: Sequence[str]) -> int | None:
    """The Retry-After a 429's messages said, if one did."""
    for message in messages:
        found = _RETRY_AFTER.search(message)
        if found:
            return int(found.group(1))
    return None


@dataclass
class FaultRule:
    route: str
    method: str | None = None
    status: int | None = None
    count: int | None = None  # the next N matching requests; None: no limit
    rate: float | None = None  # the fraction of matching requests; None: all of them
    latency_ms: int = 0
    retry_after: int = 1
    when: str = "before"
    seed: int | None = None
    fired: int = 0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> FaultRule:
        return cls(**{k: v for k, v in body.items() if k in _FIELDS})

    def as_body(self) -> dict[str, Any]:
        body = {k: getattr(self, k) for k in _FIELDS if getattr(self, k) is not None}
        body["fired"] = self.fired
        return body

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and fnmatch.fnmatchcase(path, self.route)

    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count


_FIELDS = ("route", "method", "status", "count", "rate", "latency_ms", "retry_after", "when", "seed")


@dataclass(frozen=True)
class Fault:
    latency_ms: int
    error: SimError | None
    after: bool


class FaultPlan:
    def __init__(self, rules: Sequence[FaultRule] = ()):
        self.rules = list(rules)

    def decide(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if a rule fires (the first matching rule decides)."""
        for rule in self.rules:
            if rule.exhausted() or not rule.matches(method, path):
                continue
            if rule.rate is not None and rule._random.random() >= rule.rate:
                return None
            rule.fired += 1
            error = None
            if rule.status is not None:
                headers = {"Retry-After": str(rule.retry_after)} if rule.status == 429 else {}
                error = SimError(
                    STATUS_CODES[rule.status],
                    f"injected fault: {rule.status} for {method} {path} (see /__sim/faults)"
                    + (f": {retry_after_text(rule.retry_after)}" if rule.status == 429 else ""),
                    headers=headers,
                )
            return Fault(rule.latency_ms, error, rule.when == "after")
        return None


def parse_rules(body: Mapping[str, Any]) -> list[FaultRule]:
    """Rules from a body already valid against schemas/sim-faults.json."""
    idle = [
        f"faults[{i}] does nothing: give it a status or a latency_ms"
        for i, rule in enumerate(body["faults"])
        if "status" not in rule and not rule.get("latency_ms")
    ]
    if idle:
        raise invalid(idle)
    return [FaultRule.from_body(rule) for rule in body["faults"]]


class TokenBucket:
    """`--rate-limit N/s`: N requests a second per tenant, bursts up to N."""

    def __init__(self, per_second: float, now: float):
        self.rate = per_second
        self.tokens = per_second
        self.updated = now

    def take(self, now: float) -> None:
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return
        wait = math.ceil((1 - self.tokens) / self.rate)
        raise SimError(
            "rate_limited",
            f"more than {self.rate:g} requests a second for this key: {retry_after_text(wait)}",
            headers={"Retry-After": str(wait)},
        )
