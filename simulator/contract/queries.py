"""Query strings as the contract reads them: the plan look-up's and the cart
connections' (docs/contract.md §3). The report reads a journaled look-up's query with
the same functions the endpoint used, so it knows what the server knew."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_plus

from simulator.contract import schemas
from simulator.domain.errors import invalid


def parse_query(raw: bytes) -> dict[str, str]:
    """Query parameters (the last of repeated ones). urllib's parse_qsl costs a third of
    a plan look-up; this unquotes only the parts that need it."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        out[name] = value
    return out


def validated(schema: str, instance: Any, root: str = "request body", nulls: frozenset[str] = frozenset()) -> Any:
    problems = schemas.validate(schema, instance, root, nulls)
    if problems:
        raise invalid(problems)
    return instance


_INTEGER_QUERY = schemas.integer_properties("plans-query.json")
# Plain ASCII digits, short enough to convert cheaply; anything else stays text and
# fails the schema's type with the field named.
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,20}")


@lru_cache(maxsize=4096)
def plans_query(query_string: bytes) -> Mapping[str, Any]:
    """A look-up's query string, parsed and validated. Product pages ask about the same
    products again and again, so the answer is kept per query string (refusals are not
    kept: lru_cache does not keep raised errors)."""
    query: dict[str, Any] = parse_query(query_string)
    # Digits become integers for integer parameters; anything else stays a string and
    # fails the schema's type.
    for name in _INTEGER_QUERY:
        value = query.get(name)
        if value is not None and _INTEGER_TEXT.fullmatch(value):
            query[name] = int(value)
    return MappingProxyType(validated("plans-query.json", query, root="query"))


def session_query(query_string: bytes) -> str:
    """The cart connections look-up's `user_session_id`."""
    query = validated("cart-connections-query.json", parse_query(query_string), root="query")
    return str(query["user_session_id"])
