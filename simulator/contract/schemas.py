"""The published JSON Schemas, loaded once, and requests validated against them.

Validation is jsonschema-rs's (a compiled validator per schema, in Rust); this module
adapts its errors to the contract's `validation_errors` list: every violation, each
naming the JSON path of the offending field first (`line_items[1].quantity must be an
integer >= 1`). A schema node may carry an `x-expected` phrase ("a lower-case ISO 4217
currency code"); messages use it so that a merchant reads what to send, not which
keyword failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from functools import cache, lru_cache
from typing import Any, NamedTuple

import jsonschema_rs
import orjson

from simulator.contract.resources import schemas_dir
from simulator.domain.errors import SimError, invalid
from simulator.domain.timefmt import parse_timestamp

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")


def is_rfc3339(text: str) -> bool:
    if not _RFC3339.match(text):
        return False
    try:
        parse_timestamp(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return False  # a leap second, or an instant outside years 1-9999 once in UTC
    return True


# The formats the schemas use, checked as the simulator reads them (a timestamp must be
# one Python's datetime holds: jsonschema-rs alone would admit a leap second).
FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": is_rfc3339,
    "email": lambda s: bool(_EMAIL.match(s)),
    "uri": lambda s: bool(_URI.match(s)),
}
# The schema files refer to each other by file name (`"$ref": "common.json#/$defs/id"`);
# the registry holds them under this base, which is never fetched.
BASE_URI = "https://schemas.hakuna-sim.invalid/"


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
def _registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(BASE_URI + name, doc) for name, doc in documents().items()])


@cache
def validator(name: str) -> jsonschema_rs.Validator:
    """The compiled validator of one schema file (or `file#/pointer`)."""
    return jsonschema_rs.validator_for(
        {"$ref": BASE_URI + name}, registry=_registry(), formats=FORMATS, validate_formats=True, offline=True
    )


@dataclass
class Violation:
    """One violation, as the messages need it: where, which keyword, the schema node that
    holds the keyword (its `x-expected`), and what was refused."""

    path: list[str | int]
    keyword: str
    schema: Mapping[str, Any]
    detail: Any = None  # the missing property for "required", the value refused by "type" and "enum"
    nested: list[Violation] = field(default_factory=list)  # a oneOf's shapes' own violations


def violations(name: str, instance: Any) -> list[Violation]:
    """Every violation of schema `name` by `instance` ([] if valid)."""
    check = validator(name)
    if check.is_valid(instance):  # most requests: valid, and this is all they pay
        return []
    return [v for error in check.iter_errors(instance) for v in _adapted(error)]


def _node(location: str | None) -> tuple[Mapping[str, Any], str]:
    """The schema node holding the keyword at an absolute keyword location, and the keyword."""
    if location is None:
        return {}, ""
    document, _, pointer = location.removeprefix(BASE_URI).partition("#")
    *parts, keyword = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")][1:] or [""]
    node: Any = documents()[document]
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, keyword


def _adapted(error: jsonschema_rs.ValidationError) -> list[Violation]:
    kind = error.kind
    schema, keyword = _node(error.absolute_keyword_location)
    path = list(error.instance_path)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        return [Violation([*path, name], "additionalProperties", schema) for name in kind.unexpected]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.PropertyNames):
        return [Violation([*path, str(kind.error.instance)], "propertyNames", schema)]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return [Violation(path, "required", schema, kind.property)]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfNotValid):
        nested = [v for shape in kind.context for e in shape for v in _adapted(e)]
        return [Violation(path, "oneOf", schema, 0, nested)]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfMultipleValid):
        return [Violation(path, "oneOf", schema, 2)]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.FalseSchema):
        return [Violation(path, "false", schema)]
    return [Violation(path, keyword or kind.name, schema, error.instance)]


def validate(name: str, instance: Any, root: str = "request body", nulls: frozenset[str] = frozenset()) -> list[str]:
    """All violations of schema `name` by `instance`, as contract messages ([] if valid).
    `nulls` are the paths of members that were sent as null (see `normalize`)."""
    found = violations(name, instance)
    return messages(found, root, nulls) if found else []


def is_valid(name: str, instance: Any) -> bool:
    return validator(name).is_valid(instance)


def messages(violations: Iterable[Violation], root: str = "request body", nulls: frozenset[str] = frozenset()) -> list[str]:
    out: list[str] = []
    for v in violations:
        text = _message(v, root, nulls)
        if text not in out:
            out.append(text)
    return out


# Levels of objects and arrays a body may nest (`{}` is one level, `{"a": []}` two). The
# API's bodies nest 5; the JSON encoder stops at 255, and a kept body is answered again
# inside a few more (an event's payload, a journal entry).
MAX_DEPTH = 250
# orjson refuses to encode 255 levels: a body inside this many more arrays encodes
# exactly when it nests MAX_DEPTH levels or fewer.
_HEADROOM = 255 - (MAX_DEPTH + 1)


def nesting_depth(document: Any) -> int:
    """How many levels of objects and arrays `document` nests (a scalar is 0), found
    without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, level = stack.pop()
        if type(node) is dict:
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node.values() if type(v) in (dict, list))
        elif type(node) is list:
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node if type(v) in (dict, list))
    return deepest


def _too_deep(document: Any) -> bool:
    """Whether `document` nests more than MAX_DEPTH levels, asked of the JSON encoder
    (C speed): a 50-line cart in about 15 µs, where walking it takes fifteen times as long."""
    wrapped = document
    for _ in range(_HEADROOM):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return True
    return False


def _deepest_path(document: Any) -> str:
    """Where `document` first passes MAX_DEPTH levels, as a path."""
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        node, where, level = stack.pop()
        if type(node) not in (dict, list):
            continue
        if level > MAX_DEPTH:
            return where
        if type(node) is dict:
            stack.extend((value, f"{where}.{key}" if where else str(key), level + 1) for key, value in node.items())
        else:
            stack.extend((value, f"{where}[{index}]", level + 1) for index, value in enumerate(node))
    return ""


def _nesting_refused(document: Any) -> SimError:
    where = _deepest_path(document) or "request body"
    return invalid([f"{where} is nested more than {MAX_DEPTH} levels deep: no body of this API needs that"])


_SAFE_INTEGER = 2**53 - 1  # the largest every JSON parser reads exactly (and our schemas' bound)


def _integral(value: float) -> bool:
    """A float that stands for an integer we can keep as one: 2.0, not 1e308 (which
    would not fit the JSON encoder's 64 bits, and no integer field allows)."""
    return value.is_integer() and -_SAFE_INTEGER <= value <= _SAFE_INTEGER


# A number written with a fraction or an exponent (`2.0`, `2e0`) has a digit right before
# its `.`, `e` or `E`: seen through this table (digits as `d`, those three as `.`, every
# other byte as a space), its body holds `d.`. Where none does, no field can be a float;
# where one does (a "14.5" in a title), the parsed body is walked. At C speed: a regular
# expression took longer over a 50-line cart than validating it.
_NUMBER_MARKS = bytearray(b" " * 256)
_NUMBER_MARKS[ord("0") : ord("9") + 1] = b"d" * 10
for _mark in b".eE":
    _NUMBER_MARKS[_mark] = ord(".")


def _may_hold_fraction(raw: bytes) -> bool:
    return b"d." in raw.translate(_NUMBER_MARKS)


_NOT_A_NUMBER = "\x00integral?"


def validate_request(
    name: str, instance: Any, root: str = "request body", nulls: frozenset[str] = frozenset(), raw: bytes | None = None
) -> tuple[list[str], list[str]]:
    """`validate`, reading integers as JSON Schema does: a number written `2.0` where the
    schema says integer is the integer 2, and made the int 2 in `instance`. Answers the
    problems and the paths of the numbers it made ints (the conformance report warns of
    them). `raw`, the body's bytes, spares the search for such numbers where none is."""
    found = violations(name, instance)
    integral: list[list[str | int]] = []
    if raw is None or _may_hold_fraction(raw):
        floats = _integral_floats(instance)
        if floats:
            integral = _at_integers(name, instance, floats)
            for path in integral:
                node: Any = instance
                for step in path[:-1]:
                    node = node[step]
                node[path[-1]] = int(node[path[-1]])
    return (messages(found, root, nulls) if found else []), [render_path(p) for p in integral]


def _integral_floats(document: Any) -> list[list[str | int]]:
    """Paths of the floats that stand for integers (2.0, not 2.5) inside `document`."""
    found: list[list[str | int]] = []
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, path = stack.pop()
        pairs: Iterable[tuple[str | int, Any]] = node.items() if type(node) is dict else enumerate(node)
        for key, value in pairs:
            if type(value) is float and _integral(value):
                found.append([*path, key])
            elif type(value) in (dict, list):
                stack.append((value, [*path, key]))
    return found if type(document) in (dict, list) else []


def _at_integers(name: str, document: Any, floats: list[list[str | int]]) -> list[list[str | int]]:
    """Which of `floats` the schema reads as integers: each is made a string in a copy,
    and the validator says where an integer was expected."""
    probe = orjson.loads(orjson.dumps(document))
    for path in floats:
        node = probe
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = _NOT_A_NUMBER
    expected = {
        tuple(v.path)
        for v in violations(name, probe)
        if v.keyword == "type" and v.detail == _NOT_A_NUMBER and "integer" in _types(v.schema)
    }
    return [p for p in floats if tuple(p) in expected]


def _types(schema: Mapping[str, Any]) -> list[str]:
    kinds = schema.get("type", [])
    return kinds if isinstance(kinds, list) else [kinds]


class Normalized(NamedTuple):
    document: Any
    integral: list[str]  # paths of integers written with a fraction (2.0)
    nulls: frozenset[str]  # paths of object members sent as null, now removed


_CONTAINERS = (dict, list)


def normalize(document: Any) -> Normalized:
    """A parsed document as the contract reads it (docs/contract.md §3): a number
    written `2.0` is the integer 2, as JSON Schema reads it; an object member sent as
    null is absent; nesting deeper than MAX_DEPTH is refused. Changes `document` in
    place; walks it without recursion, so no nesting depth can exhaust the stack."""
    return _normalize(document)


def prepare_request(document: Any, raw: bytes) -> Normalized:
    """What a request body needs before validation, paying only for what its bytes
    show can be there: null members removed (only if "null" occurs), nesting checked
    (only past MAX_DEPTH brackets, then by the JSON encoder, which stops past 254 levels
    at C speed). Numbers written `2.0` are left to `validate_request`, which meets the
    integer fields anyway."""
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _too_deep(document):  # fewer brackets cannot nest that deep
        raise _nesting_refused(document)
    if b"null" in raw:
        return _normalize(document, integers=False)
    return Normalized(document, [], frozenset())


def integral_numbers(document: Any) -> Any:
    """A document with every number written `2.0` read as the integer 2 (JSON Schema's
    reading), its null members kept: a snapshot, whose nulls mean something."""
    return _normalize(document, nulls=False).document


def _normalize(document: Any, integers: bool = True, nulls: bool = True) -> Normalized:
    """The walk behind `normalize`; `integers=False` leaves numbers as they are (a
    request's integer fields are read by `validate_request`, only where the schema
    says integer), `nulls=False` keeps null members."""
    integral: list[str] = []
    absent: list[str] = []
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_DEPTH and type(node) in (dict, list):
            raise invalid([f"{where} is nested more than {MAX_DEPTH} levels deep: no body of this API needs that"])
        if type(node) is dict:
            for key in list(node):
                value = node[key]
                path = f"{where}.{key}" if where else key
                if value is None:
                    if nulls:
                        del node[key]
                        absent.append(path)
                elif integers and type(value) is float and _integral(value):
                    node[key] = int(value)
                    integral.append(path)
                elif type(value) in (dict, list):
                    stack.append((value, path, depth + 1))
        elif type(node) is list:
            for index, value in enumerate(node):
                path = f"{where}[{index}]"
                if integers and type(value) is float and _integral(value):
                    node[index] = int(value)
                    integral.append(path)
                elif type(value) in (dict, list):
                    stack.append((value, path, depth + 1))
    if integers and type(document) is float and _integral(document):
        document = int(document)
    return Normalized(document, integral, frozenset(absent))


def render_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


_TYPE_WORDS = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


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


def _message(v: Violation, root: str, nulls: frozenset[str] = frozenset()) -> str:
    where = render_path(v.path)
    if v.keyword == "required":
        field = render_path([*v.path, v.detail])
        if field in nulls:
            return f"{field} is required and may not be null"
        return f"{field} is required"
    if v.keyword == "additionalProperties":
        return f"{where or root} is not an allowed field"
    if v.keyword == "propertyNames":
        return f"{where} is not an allowed field name"
    if v.keyword == "oneOf":
        if not v.nested:
            return f"{where or root} matches more than one allowed shape"
        nested = v.nested  # the shapes' own violations
        if all(n.keyword == "type" and n.path == v.path for n in nested):  # null or an object: one sentence
            kinds = " or ".join(dict.fromkeys(_expected("type", n.schema) for n in nested))
            return f"{where or root} must be {kinds}, {_got(nested[0].detail)}"
        return "; ".join(messages(nested, root, nulls))
    text = f"{where or root} must be {_expected(v.keyword, v.schema)}"
    if v.keyword == "type":
        text += f", {_got(v.detail)}"
    if v.keyword == "enum" and isinstance(v.detail, str) and v.detail.lower() in v.schema["enum"]:
        text += f", not {v.detail!r}: send {v.detail.lower()!r}"
    return text


def _got(value: Any) -> str:
    """What a value of the wrong JSON type was, in JSON's words."""
    if value is None:
        return "got null"
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string", dict: "an object", list: "an array"}
    return "got " + kind.get(type(value), "a value of another type")


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
