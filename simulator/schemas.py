"""The published JSON Schemas, loaded once and compiled into request validators.

`validate(name, instance)` answers the contract's `validation_errors` list: every
violation, each naming the JSON path of the offending field first
(`line_items[1].quantity must be an integer >= 1`). A schema node may carry an
`x-expected` phrase ("a lower-case ISO 4217 currency code"); messages use it so that a
merchant reads what to send, not which keyword failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from simulator.resources import schemas_dir
from simulator.schema_compiler import Check, Compiler, Violation

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_rfc3339(text: str) -> bool:
    if not _RFC3339.match(text):
        return False
    try:
        parse_timestamp(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return False  # includes instants outside years 1-9999 once in UTC
    return True


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (raises ValueError)."""
    value = text.replace("z", "Z").replace("t", "T")
    return datetime.fromisoformat(value)


FORMATS = {
    "date-time": is_rfc3339,
    "email": lambda s: bool(_EMAIL.match(s)),
    "uri": lambda s: bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", s)),
}


@lru_cache(maxsize=1)
def documents() -> dict[str, dict[str, Any]]:
    """Every schema file by its `$id` (its file name)."""
    docs = {}
    for path in sorted(schemas_dir().glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if "$id" in doc:
            docs[doc["$id"]] = doc
    return docs


@lru_cache(maxsize=1)
def _compiler() -> Compiler:
    return Compiler(documents(), FORMATS)


@cache
def checker(name: str) -> Check:
    """The compiled check for one schema file (or `file#/pointer`)."""
    return _compiler().compile_ref(name)


def validate(name: str, instance: Any, root: str = "request body") -> list[str]:
    """All violations of schema `name` by `instance`, as contract messages ([] if valid)."""
    found = checker(name)(instance)
    return messages(found, root) if found else []


def messages(violations: Iterable[Violation], root: str = "request body") -> list[str]:
    out: list[str] = []
    for v in violations:
        text = _message(v, root)
        if text not in out:
            out.append(text)
    return out


def render_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


_TYPE_WORDS = {"object": "an object", "array": "an array", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "a boolean", "null": "null"}


def _expected(keyword: str, schema: Mapping[str, Any]) -> str:
    if keyword == "maximum":  # a bound, not a kind: the kind phrase would not say what is wrong
        return f"<= {schema['maximum']}"
    if "x-expected" in schema:
        return str(schema["x-expected"])
    if keyword == "type":
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return " or ".join(_TYPE_WORDS[k] for k in kinds)
    if keyword == "minimum":
        return f">= {schema['minimum']}"
    if keyword == "maximum":
        return f"<= {schema['maximum']}"
    if keyword == "minLength":
        return "a non-empty string" if schema["minLength"] == 1 else f"at least {schema['minLength']} characters long"
    if keyword == "maxLength":
        return f"at most {schema['maxLength']} characters long"
    if keyword == "minItems":
        return f"an array of at least {schema['minItems']} item(s)"
    if keyword == "maxItems":
        return f"an array of at most {schema['maxItems']} item(s)"
    if keyword == "minProperties":
        return f"an object with at least {schema['minProperties']} field(s)"
    if keyword == "enum":
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if keyword == "const":
        return json.dumps(schema["const"])
    if keyword == "pattern":
        return f"a string matching {schema['pattern']}"
    if keyword == "format":
        return f"a valid {schema['format']}"
    return "valid"


def _message(v: Violation, root: str) -> str:
    where = render_path(v.path)
    if v.keyword == "required":
        field = render_path([*v.path, v.detail])
        return f"{field} is required"
    if v.keyword == "additionalProperties":
        return f"{where or root} is not an allowed field"
    if v.keyword == "propertyNames":
        return f"{where} is not an allowed field name"
    if v.keyword == "oneOf":
        if v.nested:
            return "; ".join(messages(v.nested, root))
        return f"{where or root} matches more than one allowed shape"
    return f"{where or root} must be {_expected(v.keyword, v.schema)}"


def integer_properties(name: str) -> frozenset[str]:
    """Top-level properties of an object schema whose (referenced) type is integer;
    query strings carry them as text."""
    docs = documents()
    found = set()
    for prop, sub in docs[name].get("properties", {}).items():
        seen = 0
        while "$ref" in sub and seen < 10:
            target_file, _, pointer = sub["$ref"].partition("#")
            node: Any = docs[target_file or name]
            for part in filter(None, pointer.split("/")):
                node = node[part]
            sub, seen = node, seen + 1
        if sub.get("type") == "integer":
            found.add(prop)
    return frozenset(found)
