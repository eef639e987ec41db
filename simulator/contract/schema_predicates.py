"""The schemas in `schemas/` as generated Python predicates: valid or not, nothing more.

Most requests are valid, and a valid one only needs a yes. `schema_compiler` builds a
tree of closures that can name every violation; walking it costs a function call per
schema node per value (about 3 µs a cart line). Here each schema is written out once,
when first used, as the source of one Python function with every check inline (a
`$ref` is inlined too, unless it refers back to itself), and compiled with `compile`.
Only when the predicate says no does `schemas.checker` walk the closures to say why.
The generated code reads no instance data as code: names come from our schema files,
and values (patterns, enums, formats) are constants it refers to.

The two must agree on every instance: the predicate follows the closures' reading of
each keyword (exact Python types, `integer` excluding floats and booleans, enum members
compared with their types), supports the same keywords, and the test suite compares
them on generated instances.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from simulator.contract.schema_compiler import ANNOTATIONS, SchemaCompileError, hashable, ref_uri, resolve

Predicate = Callable[[Any], bool]

_EXACT = {"object": "dict", "array": "list", "string": "str", "integer": "int", "boolean": "bool"}


def _type_test(name: str, var: str) -> str:
    """A Python expression true when `var` has the JSON Schema type `name`."""
    if name in _EXACT:
        return f"type({var}) is {_EXACT[name]}"
    if name == "number":
        return f"(type({var}) is int or type({var}) is float)"
    if name == "null":
        return f"{var} is None"
    raise SchemaCompileError(f"unknown type {name!r}")


class PredicateCompiler:
    def __init__(self, documents: Mapping[str, Mapping[str, Any]], formats: Mapping[str, Callable[[str], bool]]):
        self._documents = documents
        self._formats = formats
        # The generated functions and the constants they read (compiled patterns, enum
        # sets, format checkers), shared by every predicate.
        self._namespace: dict[str, Any] = {"_hashable": hashable, "_absent": object()}
        self._functions: dict[str, str] = {}  # uri -> generated function name
        self._sources: list[str] = []  # written, not yet compiled
        self._counter = 0
        self._lock = threading.Lock()

    def predicate(self, uri: str) -> Predicate:
        # One at a time: a snapshot import checks its schema on a worker thread while
        # the event loop may meet another schema for the first time.
        with self._lock:
            name = self._function(uri)
            source, self._sources = "\n\n".join(self._sources), []
            exec(compile(source, f"<schema predicates: {uri}>", "exec"), self._namespace)  # noqa: S102
            predicate: Predicate = self._namespace[name]
            return predicate

    # -- generation ---------------------------------------------------------------

    def _fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def _constant(self, value: Any) -> str:
        name = self._fresh("_c")
        self._namespace[name] = value
        return name

    def _resolve(self, uri: str) -> tuple[Any, str]:
        return resolve(self._documents, uri)

    def _write(self, name: str, schema: Any, base: str, inlining: tuple[str, ...]) -> None:
        lines = [f"def {name}(x):"]
        self._emit(schema, base, "x", lines, 1, inlining)
        lines.append("    return True")
        self._sources.append("\n".join(lines))

    def _function(self, uri: str) -> str:
        """The name of the generated function for the schema at `uri` (written once)."""
        if uri not in self._functions:
            name = self._functions[uri] = self._fresh("_schema")
            self._write(name, *self._resolve(uri), (uri,))
        return self._functions[uri]

    def _part(self, schema: Any, base: str, inlining: tuple[str, ...]) -> str:
        """A schema judged as a whole (a oneOf member, an if), as a function of its own."""
        name = self._fresh("_part")
        self._write(name, schema, base, inlining)
        return name

    def _emit(self, schema: Any, base: str, var: str, out: list[str], depth: int, inlining: tuple[str, ...]) -> None:
        """Statements that `return False` unless `var` satisfies `schema`."""
        pad = "    " * depth
        if schema is True:
            return
        if schema is False:
            out.append(f"{pad}return False")
            return
        if not isinstance(schema, Mapping):
            raise SchemaCompileError(f"a schema must be an object or boolean, got {schema!r}")
        fails = self._scalar(schema, base, var, inlining)
        if fails is not None:  # only scalar checks: one test
            if fails:
                out.append(f"{pad}if {' or '.join(fails)}:")
                out.append(f"{pad}    return False")
            return
        only = _only_type(schema)
        if "type" in schema:
            out.append(f"{pad}if {_type_fails(schema['type'], var)}:")
            out.append(f"{pad}    return False")

        def guarded(json_type: str) -> tuple[str, int]:
            """Where a keyword that applies to values of one type writes its checks."""
            if only == json_type:
                return pad, depth
            out.append(f"{pad}if {_type_test(json_type, var)}:")
            return pad + "    ", depth + 1

        def block(sub: Any, sub_var: str, at: int) -> None:
            before = len(out)
            self._emit(sub, base, sub_var, out, at, inlining)
            if len(out) == before:
                out.append("    " * at + "pass")

        # "required" first: the properties it guarantees are then read without a test.
        required = frozenset(schema.get("required", ()))
        for keyword in sorted(schema, key=lambda k: k != "required"):
            value = schema[keyword]
            if keyword in ANNOTATIONS or keyword.startswith("x-") or keyword in ("type", "then", "else"):
                continue
            scalar = self._scalar_fail(keyword, value, var, only)
            if scalar is not None:
                out.append(f"{pad}if {scalar}:")
                out.append(f"{pad}    return False")
            elif keyword == "$ref":
                uri = ref_uri(base, value)
                if uri in inlining or len(inlining) > 16:  # refers back to itself: a call
                    out.append(f"{pad}if not {self._function(uri)}({var}):")
                    out.append(f"{pad}    return False")
                else:
                    node, node_base = self._resolve(uri)
                    self._emit(node, node_base, var, out, depth, (*inlining, uri))
            elif keyword == "required":
                if value:
                    p, _ = guarded("object")
                    out.append(f"{p}if {' or '.join(f'{n!r} not in {var}' for n in value)}:")
                    out.append(f"{p}    return False")
            elif keyword == "properties":
                if not value:
                    continue  # (an empty guard would not compile)
                p, d = guarded("object")
                for name, sub in value.items():
                    member = self._fresh("v")
                    if name in required:
                        out.append(f"{p}{member} = {var}[{name!r}]")
                        self._emit(sub, base, member, out, d, inlining)
                    else:
                        out.append(f"{p}{member} = {var}.get({name!r}, _absent)")
                        out.append(f"{p}if {member} is not _absent:")
                        block(sub, member, d + 1)
            elif keyword == "additionalProperties":
                p, d = guarded("object")
                known = self._constant(frozenset(schema.get("properties", ())))
                name_var, member = self._fresh("k"), self._fresh("v")
                out.append(f"{p}for {name_var}, {member} in {var}.items():")
                out.append(f"{p}    if {name_var} not in {known}:")
                block(value, member, d + 2)
            elif keyword == "propertyNames":
                p, d = guarded("object")
                name_var = self._fresh("k")
                out.append(f"{p}for {name_var} in {var}:")
                block(value, name_var, d + 1)
            elif keyword == "items":
                p, d = guarded("array")
                item = self._fresh("v")
                out.append(f"{p}for {item} in {var}:")
                block(value, item, d + 1)
            elif keyword == "allOf":
                for sub in value:
                    self._emit(sub, base, var, out, depth, inlining)
            elif keyword == "oneOf":
                parts = [self._part(sub, base, inlining) for sub in value]
                out.append(f"{pad}if ({' + '.join(f'{p}({var})' for p in parts)}) != 1:")
                out.append(f"{pad}    return False")
            elif keyword == "if":
                out.append(f"{pad}if {self._part(value, base, inlining)}({var}):")
                block(schema.get("then", True), var, depth + 1)
                out.append(f"{pad}else:")
                block(schema.get("else", True), var, depth + 1)
            else:
                raise SchemaCompileError(f"keyword {keyword!r} is not supported by the schema compiler")

    def _scalar(self, schema: Mapping[str, Any], base: str, var: str, inlining: tuple[str, ...]) -> list[str] | None:
        """The conditions on which `var` fails a schema of scalar checks alone (its `$ref`s
        followed), each evaluated only when those before it did not fail; None when the
        schema checks more than a scalar."""
        only = _only_type(schema)
        fails = [_type_fails(schema["type"], var)] if "type" in schema else []
        for keyword, value in schema.items():
            if keyword in ANNOTATIONS or keyword.startswith("x-") or keyword == "type":
                continue
            if keyword == "$ref":
                uri = ref_uri(base, value)
                if uri in inlining:
                    return None
                node, node_base = self._resolve(uri)
                if not isinstance(node, Mapping):
                    return None
                inner = self._scalar(node, node_base, var, (*inlining, uri))
                if inner is None:
                    return None
                fails += inner
                continue
            fail = self._scalar_fail(keyword, value, var, only)
            if fail is None:
                return None
            fails.append(fail)
        return fails

    def _scalar_fail(self, keyword: str, value: Any, var: str, only: str | None) -> str | None:
        """The condition on which `var` fails one scalar keyword (None for any other
        keyword). `only`: the schema's one type, already checked."""

        def when(json_type: str, test: str) -> str:
            return test if only == json_type else f"({_type_test(json_type, var)} and {test})"

        if keyword in ("minLength", "maxLength", "minItems", "maxItems", "minProperties"):
            json_type = {"L": "string", "I": "array", "P": "object"}[keyword[3]]
            op = "<" if keyword.startswith("min") else ">"
            return when(json_type, f"len({var}) {op} {int(value)}")
        if keyword in ("minimum", "maximum"):
            test = f"{var} {'<' if keyword == 'minimum' else '>'} {self._constant(value)}"
            return test if only in ("integer", "number") else f"((type({var}) is int or type({var}) is float) and {test})"
        if keyword == "pattern":
            return when("string", f"{self._constant(re.compile(value).search)}({var}) is None")
        if keyword == "format":
            check = self._formats.get(value)
            if check is None:
                raise SchemaCompileError(f"format {value!r} has no checker")
            return when("string", f"not {self._constant(check)}({var})")
        if keyword == "enum":
            strings = self._constant(frozenset(v for v in value if type(v) is str))
            if only == "string":
                return f"{var} not in {strings}"
            members = self._constant(frozenset((type(v), v) for v in value))
            return (
                f"(({var} not in {strings}) if type({var}) is str else "
                f"(not _hashable({var}) or (type({var}), {var}) not in {members}))"
            )
        if keyword == "const":
            return f"(not _hashable({var}) or (type({var}), {var}) != {self._constant((type(value), value))})"
        return None


def _only_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        return kind[0] if len(kind) == 1 else None
    return kind if isinstance(kind, str) else None


def _type_fails(spec: str | list[str], var: str) -> str:
    names = [spec] if isinstance(spec, str) else spec
    return f"not ({' or '.join(_type_test(n, var) for n in names)})"
