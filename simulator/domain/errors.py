"""Errors as data: a code and messages; the status each code maps to lives here alone,
and so does where each code comes from (the docs, or the simulator's own rule).

Every refusal, from a missing key to a refused business rule, renders as the real API's
one error body (docs/contract.md §2):
    {"error": {"error_code": "...", "validation_errors": ["..."]}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

STATUS_BY_CODE: Mapping[str, int] = {
    "unauthorized": 401,
    "forbidden": 403,
    "entity_not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "request_header_fields_too_large": 431,
    "rate_limited": 429,
    "internal_server_error": 500,
    "upstream_unavailable": 502,
    "service_unavailable": 503,
}
MAX_MESSAGES = 100  # validation_errors listed at most (docs/contract.md §2)
# Everything else (invalid_request_parameters and every refused business rule) is a 400.
DEFAULT_STATUS = 400


# Codes the real API documents (docs: error handling and troubleshooting pages). Every
# other code is the simulator's own name for a refusal where the docs are silent, and
# the report never claims the real API answers it (docs/fidelity.md).
DOCUMENTED_CODES = frozenset(
    {
        "invalid_request_parameters",
        "product_unsupported",
        "location_unsupported",
        "cancel_decline",
        "unauthorized",
        "entity_not_found",
        "rate_limited",
    }
)


class SimError(Exception):
    """A refused request. `messages` always holds at least one sentence saying what to do."""

    def __init__(self, code: str, *messages: str, headers: Mapping[str, str] | None = None):
        super().__init__(f"{code}: {'; '.join(messages[:3])}")
        self.code = code
        self.messages = list(messages)
        if len(self.messages) > MAX_MESSAGES:  # the body stays small whatever the input
            more = len(self.messages) - (MAX_MESSAGES - 1)
            self.messages[MAX_MESSAGES - 1 :] = [f"... and {more} more problem(s) like these"]
        self.headers = dict(headers or {})

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, DEFAULT_STATUS)

    def body(self) -> dict[str, Any]:
        return {"error": {"error_code": self.code, "validation_errors": self.messages}}


class Refusals:
    """How the rules of an operation are kept: by default, what breaks one is refused.
    An operation notes every refusal of a request (`add`) and is refused with the first
    refusal's code and one message naming every item refused for it (`raise_if_any`,
    docs/contract.md §2); `refuse` is both at once. After a refusal the operation goes on
    with what can still apply (an event's quantities cut to what is left, a cancellation
    made anyway): by default that is never used, as the refusal is raised first."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, code: str, message: str) -> None:
        self.items.append((code, message))

    def raise_if_any(self) -> None:
        if self.items:
            code = self.items[0][0]
            raise SimError(code, "; ".join(m for c, m in self.items if c == code))

    def refuse(self, error: SimError) -> None:
        self.add(error.code, "; ".join(error.messages))
        self.raise_if_any()

    def check(self, rule: Callable[..., Any], *args: Any) -> None:
        """Apply a rule that raises its refusal."""
        rule(*args)


class Tolerated(Refusals):
    """Shadow mode's strategy: the real API accepted a request the simulator would
    refuse, so nothing is refused and what can apply is applied, so the shadow state
    follows the real API's (docs/fidelity.md, "Shadow mode")."""

    def add(self, code: str, message: str) -> None:
        return None

    def raise_if_any(self) -> None:
        return None

    def refuse(self, error: SimError) -> None:
        return None

    def check(self, rule: Callable[..., Any], *args: Any) -> None:
        try:
            rule(*args)
        except SimError:
            return


# What an operation is given: a fresh collector of its refusals, by the strategy's class.
Rules = type[Refusals]


def invalid(messages: list[str]) -> SimError:
    return SimError("invalid_request_parameters", *messages)


def not_found(message: str) -> SimError:
    return SimError("entity_not_found", message)
