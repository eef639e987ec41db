"""Compile the JSON Schemas in `schemas/` into fast checking functions.

The simulator validates every request with the published schema files, but the general
`jsonschema` library spends about 300 µs on a plan look-up query, which would cap the
fake at a tenth of the throughput of a bare endpoint. So, as stripe-mock does, each
schema is compiled once at start-up into nested closures that allocate nothing while an
instance is valid. Only the keywords our schemas use are supported; any other keyword
stops compilation (fail fast rather than silently accept). The test suite checks this
compiler against `jsonschema` on generated instances, so both read the files alike.

A compiled check returns None when the instance is valid, else a list of `Violation`s
whose `path` is relative to the instance checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urljoin

Check = Callable[[Any], "list[Violation] | None"]

# Keywords that only annotate: they never fail an instance.
ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly"}
)


@dataclass
class Violation:
    path: list[str | int]
    keyword: str
    schema: Mapping[str, Any]
    detail: Any = None  # the missing property for "required", the value refused by "type" and "enum"
    nested: list[Violation] = field(default_factory=list)


class SchemaCompileError(Exception):
    pass


def _is_type(name: str) -> Callable[[Any], bool]:
    # JSON Schema counts 12.0 as an integer. Here "integer" is the fast exact test for a
    # Python int, and `schemas.validate_request` turns a 12.0 this refuses into 12 (and
    # reports it), so valid bodies never pay for the difference.
    return {
        "object": lambda x: type(x) is dict,
        "array": lambda x: type(x) is list,
        "string": lambda x: type(x) is str,
        "integer": lambda x: type(x) is int,
        "number": lambda x: type(x) in (int, float),
        "boolean": lambda x: type(x) is bool,
        "null": lambda x: x is None,
    }[name]


def _typed_key(value: Any) -> tuple[type, Any]:
    # 1 == True == 1.0 in Python but not in JSON: compare enum members with their type.
    return (type(value), value)


def ref_uri(base: str, ref: str) -> str:
    """The schema a `$ref` in document `base` points at (`common.json#/$defs/id`)."""
    return urljoin(base, ref) if not ref.startswith("#") else base + ref


def resolve(documents: Mapping[str, Mapping[str, Any]], uri: str) -> tuple[Any, str]:
    """The schema node at `uri`, and the document it is in."""
    base, fragment = urldefrag(uri)
    if base not in documents:
        raise SchemaCompileError(f"unknown schema document {base!r} (in $ref {uri!r})")
    node: Any = documents[base]
    for part in filter(None, fragment.split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise SchemaCompileError(f"$ref {uri!r} points at nothing")
        node = node[part]
    return node, base


class Compiler:
    """Compiles schemas that reference each other by `$id` (relative names like `common.json`)."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]], formats: Mapping[str, Callable[[str], bool]]):
        self._documents = documents
        self._formats = formats
        self._cache: dict[str, Check] = {}

    def compile_ref(self, uri: str) -> Check:
        if uri in self._cache:
            return self._cache[uri]
        # A placeholder first, so a schema that refers to itself compiles.
        slot: list[Check] = []
        self._cache[uri] = lambda x: slot[0](x)
        node, base = resolve(self._documents, uri)
        check = self.compile(node, base)
        slot.append(check)
        self._cache[uri] = check
        return check

    def compile(self, schema: Any, base: str) -> Check:
        if schema is True:
            return lambda x: None
        if schema is False:
            return lambda x: [Violation([], "false", {})]
        if not isinstance(schema, Mapping):
            raise SchemaCompileError(f"a schema must be an object or boolean, got {schema!r}")
        checks: list[Check] = []
        type_guard: Callable[[Any], bool] | None = None
        for keyword in schema:
            if keyword in ANNOTATIONS or keyword.startswith("x-"):
                continue
            if keyword == "type":
                type_guard = self._type_guard(schema["type"])
                continue
            if keyword in ("then", "else"):
                continue  # compiled with their "if"
            builder = getattr(self, "_kw_" + keyword.replace("$", "dollar_"), None)
            if builder is None:
                raise SchemaCompileError(f"keyword {keyword!r} is not supported by the schema compiler")
            checks.append(builder(schema[keyword], schema, base))
        return _combine(schema, type_guard, checks)

    @staticmethod
    def _type_guard(spec: str | list[str]) -> Callable[[Any], bool]:
        names = [spec] if isinstance(spec, str) else list(spec)
        tests = [_is_type(n) for n in names]
        if len(tests) == 1:
            return tests[0]
        return lambda x: any(t(x) for t in tests)

    # -- keywords -----------------------------------------------------------------

    def _kw_dollar_ref(self, value: str, schema: Mapping[str, Any], base: str) -> Check:
        return self.compile_ref(ref_uri(base, value))

    def _kw_properties(self, value: Mapping[str, Any], schema: Mapping[str, Any], base: str) -> Check:
        subs = [(name, self.compile(sub, base)) for name, sub in value.items()]

        def check(x: Any) -> list[Violation] | None:
            if type(x) is not dict:
                return None
            errors = None
            for name, sub in subs:
                if name in x:
                    found = sub(x[name])
                    if found:
                        errors = _under(name, found, errors)
            return errors

        return check

    def _kw_additionalProperties(self, value: Any, schema: Mapping[str, Any], base: str) -> Check:
        known = frozenset(schema.get("properties", ()))
        sub = self.compile(value, base)

        def check(x: Any) -> list[Violation] | None:
            if type(x) is not dict:
                return None
            errors = None
            for name, item in x.items():
                if name in known:
                    continue
                found = sub(item)
                if found:
                    for v in found:
                        if v.keyword == "false":
                            v.keyword, v.schema = "additionalProperties", schema
                    errors = _under(name, found, errors)
            return errors

        return check

    def _kw_propertyNames(self, value: Any, schema: Mapping[str, Any], base: str) -> Check:
        sub = self.compile(value, base)

        def check(x: Any) -> list[Violation] | None:
            if type(x) is not dict:
                return None
            bad = [name for name in x if sub(name)]
            return [Violation([name], "propertyNames", schema) for name in bad] or None

        return check

    def _kw_required(self, value: list[str], schema: Mapping[str, Any], base: str) -> Check:
        names = tuple(value)

        def check(x: Any) -> list[Violation] | None:
            if type(x) is not dict:
                return None
            missing = [Violation([], "required", schema, n) for n in names if n not in x]
            return missing or None

        return check

    def _kw_minProperties(self, value: int, schema: Mapping[str, Any], base: str) -> Check:
        return _bound(lambda x: type(x) is dict and len(x) < value, "minProperties", schema)

    def _kw_items(self, value: Any, schema: Mapping[str, Any], base: str) -> Check:
        sub = self.compile(value, base)

        def check(x: Any) -> list[Violation] | None:
            if type(x) is not list:
                return None
            errors = None
            for index, item in enumerate(x):
                found = sub(item)
                if found:
                    errors = _under(index, found, errors)
            return errors

        return check

    def _kw_minItems(self, value: int, schema: Mapping[str, Any], base: str) -> Check:
        return _bound(lambda x: type(x) is list and len(x) < value, "minItems", schema)

    def _kw_maxItems(self, value: int, schema: Mapping[str, Any], base: str) -> Check:
        return _bound(lambda x: type(x) is list and len(x) > value, "maxItems", schema)

    def _kw_minLength(self, value: int, schema: Mapping[str, Any], base: str) -> Check:
        def check(x: Any) -> list[Violation] | None:
            if type(x) is str and len(x) < value:
                return [Violation([], "minLength", schema)]
            return None

        return check

    def _kw_maxLength(self, value: int, schema: Mapping[str, Any], base: str) -> Check:
        return _bound(lambda x: type(x) is str and len(x) > value, "maxLength", schema)

    def _kw_minimum(self, value: float, schema: Mapping[str, Any], base: str) -> Check:
        def check(x: Any) -> list[Violation] | None:
            if (type(x) is int or type(x) is float) and x < value:
                return [Violation([], "minimum", schema)]
            return None

        return check

    def _kw_maximum(self, value: float, schema: Mapping[str, Any], base: str) -> Check:
        return _bound(lambda x: type(x) in (int, float) and x > value, "maximum", schema)

    def _kw_pattern(self, value: str, schema: Mapping[str, Any], base: str) -> Check:
        search = re.compile(value).search
        return _bound(lambda x: type(x) is str and search(x) is None, "pattern", schema)

    def _kw_format(self, value: str, schema: Mapping[str, Any], base: str) -> Check:
        test = self._formats.get(value)
        if test is None:
            raise SchemaCompileError(f"format {value!r} has no checker")
        return _bound(lambda x: type(x) is str and not test(x), "format", schema)

    def _kw_enum(self, value: list[Any], schema: Mapping[str, Any], base: str) -> Check:
        members = frozenset(_typed_key(v) for v in value)
        strings = frozenset(v for v in value if type(v) is str)

        def check(x: Any) -> list[Violation] | None:
            if type(x) is str:
                if x in strings:
                    return None
            elif hashable(x) and _typed_key(x) in members:
                return None
            return [Violation([], "enum", schema, x if type(x) is str else None)]

        return check

    def _kw_const(self, value: Any, schema: Mapping[str, Any], base: str) -> Check:
        key = _typed_key(value)
        return _bound(lambda x: not hashable(x) or _typed_key(x) != key, "const", schema)

    def _kw_allOf(self, value: list[Any], schema: Mapping[str, Any], base: str) -> Check:
        subs = [self.compile(s, base) for s in value]

        def check(x: Any) -> list[Violation] | None:
            errors = None
            for sub in subs:
                found = sub(x)
                if found:
                    errors = found if errors is None else errors + found
            return errors

        return check

    def _kw_oneOf(self, value: list[Any], schema: Mapping[str, Any], base: str) -> Check:
        subs = [self.compile(s, base) for s in value]

        def check(x: Any) -> list[Violation] | None:
            results = [sub(x) for sub in subs]
            passing = sum(1 for r in results if not r)
            if passing == 1:
                return None
            nested = [v for r in results if r for v in r] if passing == 0 else []
            return [Violation([], "oneOf", schema, passing, nested)]

        return check

    def _kw_if(self, value: Any, schema: Mapping[str, Any], base: str) -> Check:
        condition = self.compile(value, base)
        then = self.compile(schema.get("then", True), base)
        otherwise = self.compile(schema.get("else", True), base)
        return lambda x: then(x) if not condition(x) else otherwise(x)


# Types a JSON value of that schema type has exactly (integer excludes bool and float).
_EXACT_TYPES: Mapping[Any, type] = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool}


def _under(key: str | int, found: list[Violation], errors: list[Violation] | None) -> list[Violation]:
    """`found` (violations of a member) placed under `key`, added to `errors`."""
    for v in found:
        v.path.insert(0, key)
    return found if errors is None else errors + found


def hashable(x: Any) -> bool:
    return type(x) in (str, int, float, bool) or x is None


def _bound(fails: Callable[[Any], bool], keyword: str, schema: Mapping[str, Any]) -> Check:
    def check(x: Any) -> list[Violation] | None:
        return [Violation([], keyword, schema)] if fails(x) else None

    return check


def _combine(schema: Mapping[str, Any], type_guard: Callable[[Any], bool] | None, checks: list[Check]) -> Check:
    # A wrong type makes every other keyword of the schema meaningless: report only it.
    if type_guard is None and len(checks) == 1:
        return checks[0]
    kind = schema.get("type")
    exact = _EXACT_TYPES.get(kind) if isinstance(kind, str) else None
    if exact is not None and len(checks) == 1:
        only = checks[0]

        def check_one(x: Any) -> list[Violation] | None:
            if type(x) is not exact:
                return [Violation([], "type", schema, x)]
            return only(x)

        return check_one
    if exact is not None and not checks:

        def check_type(x: Any) -> list[Violation] | None:
            return None if type(x) is exact else [Violation([], "type", schema, x)]

        return check_type
    checks_t = tuple(checks)

    def check(x: Any) -> list[Violation] | None:
        if type_guard is not None and not type_guard(x):
            return [Violation([], "type", schema, x)]
        errors = None
        for c in checks_t:
            found = c(x)
            if found:
                errors = found if errors is None else errors + found
        return errors

    return check
