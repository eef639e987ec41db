"""Schemathesis, taught the facts of this API it cannot read from the document.

1. `Hakuna-Idempotency-Key` names one request. Schemathesis draws header values from a
   small space ('0', '00', ...), so two different bodies soon share a key and the second
   is refused as a reuse (400 `idempotency_key_reused`), exactly as the real API refuses
   it. A merchant sends a fresh key per request, so before each call a schema-valid key
   is replaced by a new unique one; a key that breaks the document (a negative case) is
   left as generated, so the simulator still has to refuse it.
2. Line ids within a cart or an order are unique (`simulator/carts.py`). JSON Schema has
   no way to say "unique by `id`", so a generated body may repeat one, which the
   simulator refuses as `invalid_request_parameters`. A merchant's ids are unique: a
   schema-valid body has its repeated ids renamed before it is sent.
3. The contract answers every refused business rule with 400 (an order placed twice, an
   event for a cancelled order, a look-up for a product no plan covers), so "valid data
   is accepted" cannot mean "valid data gets a 2xx": `schemathesis.toml` lets a 400
   through `positive_data_acceptance`. The check below keeps what that check is for: a
   request the document calls valid is never refused as invalid. Its 400 must name a
   business rule, not `invalid_request_parameters`.

Load it with `hooks = "contract_tests.schemathesis_hooks"` in `schemathesis.toml` (the
repository's own does) or `SCHEMATHESIS_HOOKS=contract_tests.schemathesis_hooks`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import schemathesis

IDEMPOTENCY_KEY = "Hakuna-Idempotency-Key"
# The document's bounds for the header (components.parameters.IdempotencyKey).
KEY_LENGTH = range(1, 256)


def _key_header(headers: dict[str, Any]) -> str | None:
    for name in headers:
        if name.lower() == IDEMPOTENCY_KEY.lower():
            return name
    return None


def _fresh_idempotency_key(headers: dict[str, Any] | None) -> None:
    name = _key_header(headers or {})
    if headers is None or name is None:
        return
    value = headers[name]
    if isinstance(value, str) and len(value) in KEY_LENGTH:
        headers[name] = f"st-{uuid.uuid4().hex}"


def _unique_line_ids(body: Any) -> None:
    """Renames the second and later uses of a line id in `line_items` (a cart's, or an
    order event's payload's); every other part of the body stays as generated."""
    for holder in (body, body.get("payload") if isinstance(body, dict) else None):
        lines = holder.get("line_items") if isinstance(holder, dict) else None
        if not isinstance(lines, list):
            continue
        seen: set[str] = set()
        for i, line in enumerate(lines):
            if not isinstance(line, dict) or not isinstance(line.get("id"), str):
                continue
            if line["id"] in seen:
                line["id"] = f"{line['id']}~{i}"
            seen.add(line["id"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    _fresh_idempotency_key(case.headers)
    if _is_positive(case):
        _unique_line_ids(case.body)


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and bool(meta.generation.mode.is_positive)


@schemathesis.check
def valid_data_is_not_called_invalid(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request the document calls valid may be refused for a business rule, never as
    malformed: that would mean the simulator's validation and its published schema
    disagree (as they once did on `quantity: 2.0`)."""
    if not _is_positive(case) or response.status_code != 400:
        return None
    try:
        code = json.loads(response.content)["error"]["error_code"]
    except (ValueError, KeyError, TypeError):
        return None  # the body's shape is response_schema_conformance's to judge
    if code == "invalid_request_parameters":
        raise AssertionError(f"a request valid by the document was refused as invalid: {response.text}")
    return None
