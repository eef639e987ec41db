"""Parity: where the simulator answers otherwise than the real API (shadow mode and
`hakuna-sim parity`).

Two answers to one request are compared once what is generated on each side is set
aside: event, protection and request ids (`evt-…`, `prt-…`, `req-…`) and the server's
own timestamps (`received_at`). What remains must match: the status, the error code (not
its wording), the set of cart actions (not their order), and every other field's shape
and value. Each difference names the section of docs/fidelity.md whose rule disagreed,
so it is one look-up away from its fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

_GENERATED_ID = re.compile(r"^(evt|prt|req)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SERVER_TIMES = frozenset({"received_at"})
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_SHOWN = 4096  # bytes of each answer kept beside a difference
KEPT = 1000  # differences kept per key, newest


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def parsed(self) -> Any:
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return self.body.decode("utf-8", "replace")

    def shown(self) -> dict[str, Any]:
        """The answer as a parity finding shows it (long bodies cut)."""
        body: Any = (
            self.parsed() if len(self.body) <= MAX_SHOWN else (self.body[:MAX_SHOWN].decode("utf-8", "replace") + " [truncated]")
        )
        return {"status": self.status, "body": body}


def normalized(value: Any, key: str | None = None, timestamps: bool = False) -> Any:
    """`value` with what each server generates for itself set aside (and, with
    `timestamps`, every timestamp: two runs of the flows send their own)."""
    if isinstance(value, dict):
        if "validation_errors" in value and "error_code" in value:
            return {"error_code": value["error_code"]}  # the wording is each server's own
        out = {k: normalized(v, k, timestamps) for k, v in value.items()}
        if key is None and isinstance(out.get("actions"), list):
            out["actions"] = sorted(out["actions"], key=lambda a: orjson.dumps(a, option=orjson.OPT_SORT_KEYS))
        return out
    if isinstance(value, list):
        return [normalized(v, None, timestamps) for v in value]
    if isinstance(value, str):
        if key in _SERVER_TIMES or (timestamps and _TIMESTAMP.match(value)):
            return "<time>"
        if _GENERATED_ID.match(value):
            return f"<{value[:3]} id>"
    return value


def differences(
    simulator: Answer, upstream: Answer, labels: tuple[str, str] = ("simulator", "upstream"), timestamps: bool = False
) -> list[str]:
    """What differs between the two answers, each as `path: simulator … / upstream …`."""
    ours, theirs = normalized(simulator.parsed(), None, timestamps), normalized(upstream.parsed(), None, timestamps)
    a, b = labels
    if simulator.status != upstream.status:  # two different kinds of answer: side by side, whole
        return [f"status: {a} {simulator.status} / {b} {upstream.status}", f"body: {a} {_short(ours)} / {b} {_short(theirs)}"]
    return list(_compare(ours, theirs, "", labels))


def _compare(ours: Any, theirs: Any, where: str, labels: tuple[str, str]) -> Iterator[str]:
    a, b = labels
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs), key=str):
            here = f"{where}.{key}" if where else key
            if key not in ours:
                yield f"{here}: only the {b} has it ({_short(theirs[key])})"
            elif key not in theirs:
                yield f"{here}: only the {a} has it ({_short(ours[key])})"
            else:
                yield from _compare(ours[key], theirs[key], here, labels)
        return
    if isinstance(ours, list) and isinstance(theirs, list):
        if where.endswith("actions"):
            if ours != theirs:
                yield (f"{where}: {a} {_short(ours)} / {b} {_short(theirs)} (the actions, in any order)")
            return
        if len(ours) != len(theirs):
            yield f"{where}: {a} has {len(ours)} item(s) / {b} {len(theirs)}"
        for i, (mine, other) in enumerate(zip(ours, theirs, strict=False)):
            yield from _compare(mine, other, f"{where}[{i}]", labels)
        return
    if ours != theirs:
        yield f"{where or 'body'}: {a} {_short(ours)} / {b} {_short(theirs)}"


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 200 else text[:200] + "…"


def fidelity_rule(method: str, path: str, simulator: Answer, upstream: Answer) -> str:
    """The section of docs/fidelity.md (and the code, where there is one) whose rule
    gave the simulator's answer."""
    codes = [
        a.parsed().get("error", {}).get("error_code")
        for a in (simulator, upstream)
        if a.status >= 400 and isinstance(a.parsed(), dict)
    ]
    if simulator.status in (401, 405, 413, 415, 431) or upstream.status in (401, 405, 413, 415, 431):
        return "docs/fidelity.md, Transport"
    if codes and codes[0]:
        return f"docs/fidelity.md, Errors: `{codes[0]}`"
    if codes and len(codes) > 1 and codes[1]:
        return f"docs/fidelity.md, Errors: `{codes[1]}`"
    if path.startswith("/sandbox/plans"):
        return "docs/fidelity.md, Plan matching"
    if path.startswith("/sandbox/carts") or (
        method == "POST"
        and path == "/sandbox/orders"
        and b'"line_items"' in simulator.body + upstream.body
        and b'"actions"' in simulator.body + upstream.body
    ):
        return "docs/fidelity.md, Carts"
    return "docs/fidelity.md, Checkout, orders and protections"
