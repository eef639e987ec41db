"""The OpenAPI document, bundled for serving.

`schemas/openapi.json` refers to the body schemas beside it by file name
(`"$ref": "cart-update-request.json"`), so there is one copy of each. Tools that fetch
`/openapi.json` over HTTP cannot follow such relative files, and client generators want
every schema as a named component, not a path into another one's `$defs`. So the served
document is self-contained and flat: each schema file is a component named after it
(`cart-update-request.json` -> `CartUpdateRequest`), each of its `$defs` a component of
its own (`common.json#/$defs/line_item` -> `LineItem`, `event-request.json#/$defs/
order_placed` -> `EventRequestOrderPlaced`), and every reference points at one of them;
a reference to any other place inside a file gets a copy of what it points at.

A schema that tells its variants apart with `if`/`then` on a constant (an event's
`type` decides its `payload`) is served as a `oneOf` of one component per variant with a
`discriminator`: the same set of documents, in the form client generators turn into a
tagged union (the `if`/`then` form stays in `schemas/`, where it gives the validator
one clear message per wrong field).

Every operation also declares each status it can answer besides its own: 405, 413 and
415 for bodies, 431, and the 429 and 5xx that only fault injection, the rate limit or
shadow mode produce, all with the vendor's error body.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from simulator.contract import schemas
from simulator.contract.resources import schemas_dir

_DEFS = "/$defs/"

# Statuses any operation can answer (besides those it declares itself): the response
# component of each, added to `components/responses` below, with an answer as the
# simulator words it (a mock server answers the example).
_EVERY_OPERATION = {
    "405": (
        "MethodNotAllowed",
        "The path takes another method (the Allow header lists them)",
        ("method_not_allowed", "DELETE is not allowed on /sandbox/carts"),
    ),
    "429": (
        "RateLimited",
        "Only under --rate-limit or an injected fault: wait Retry-After seconds and retry",
        ("rate_limited", "more than 20 requests a second for this key: retry after 1 s"),
    ),
    "431": (
        "HeadersTooLarge",
        "The request headers weigh over 16 KiB",
        (
            "request_header_fields_too_large",
            "the request headers weigh 17024 bytes, over the 16384 this server reads: send fewer or shorter headers",
        ),
    ),
    "500": (
        "InternalServerError",
        "Only when a fault is injected",
        ("internal_server_error", "injected fault: 500 for POST /sandbox/events (see /__sim/faults)"),
    ),
    "502": (
        "UpstreamUnavailable",
        "Only in shadow mode, when the upstream does not answer in time",
        (
            "upstream_unavailable",
            "the upstream https://api.hellohakuna.com/sandbox did not answer within 10 s (shadow mode): nothing is "
            "known to have happened there; send the request again",
        ),
    ),
    "503": (
        "ServiceUnavailable",
        "Only when a fault is injected",
        ("service_unavailable", "injected fault: 503 for POST /sandbox/events (see /__sim/faults)"),
    ),
}
_WITH_BODY = {"413": "TooLarge", "415": "UnsupportedMediaType"}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_") if part)


def component_name(file_name: str, pointer: str = "") -> str:
    """The component a schema file, or one of its `$defs`, is served as."""
    stem = file_name.removesuffix(".json")
    if not pointer:
        return _camel(stem)
    definition = pointer.removeprefix(_DEFS)
    return _camel(definition) if stem == "common" else _camel(stem) + _camel(definition)


class _Flattener:
    def __init__(self, documents: dict[str, dict[str, Any]]):
        self.documents = documents

    def rewrite(self, node: Any, current_file: str | None) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                return self.reference(node, current_file)
            return {k: self.rewrite(v, current_file) for k, v in node.items() if k not in ("$id", "$schema", "$defs")}
        if isinstance(node, list):
            return [self.rewrite(item, current_file) for item in node]
        return node

    def reference(self, node: dict[str, Any], current_file: str | None) -> Any:
        file_name, _, pointer = node["$ref"].partition("#")
        if not file_name:
            if current_file is None:
                return dict(node)  # a reference inside the OpenAPI document itself
            file_name = current_file
        if file_name not in self.documents:
            raise ValueError(f"$ref {node['$ref']!r}: no schema file {file_name!r}")
        siblings = {k: self.rewrite(v, current_file) for k, v in node.items() if k != "$ref"}
        if not pointer or (pointer.startswith(_DEFS) and "/" not in pointer.removeprefix(_DEFS)):
            return {"$ref": f"#/components/schemas/{component_name(file_name, pointer)}", **siblings}
        target: Any = self.documents[file_name]
        for part in filter(None, pointer.split("/")):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return {**self.rewrite(copy.deepcopy(target), file_name), **siblings}

    def components(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for file_name, document in self.documents.items():
            for definition, schema in document.get("$defs", {}).items():
                out[component_name(file_name, _DEFS + definition)] = self.rewrite(schema, file_name)
            if file_name != "common.json":  # common.json holds definitions only
                out[component_name(file_name)] = self.rewrite(document, file_name)
        return out


def _tagged_variants(schema: dict[str, Any]) -> list[tuple[str, str, Any]] | None:
    """(tag property, tag value, then-branch properties) of each `if`/`then` of a schema
    whose `allOf` is only such branches; None for any other schema."""
    branches = schema.get("allOf")
    if not isinstance(branches, list) or not branches:
        return None
    variants = []
    for branch in branches:
        condition = branch.get("if", {}) if isinstance(branch, dict) else {}
        tags = condition.get("properties", {})
        then = branch.get("then", {}) if isinstance(branch, dict) else {}
        if set(branch) != {"if", "then"} or len(tags) != 1 or set(then) != {"properties"}:
            return None
        ((tag, constraint),) = tags.items()
        if set(constraint) != {"const"} or condition.get("required") != [tag]:
            return None
        variants.append((tag, constraint["const"], then["properties"]))
    return variants if len({tag for tag, _, _ in variants}) == 1 else None


def _discriminate(components: dict[str, Any]) -> None:
    for name, schema in list(components.items()):
        variants = _tagged_variants(schema)
        if variants is None:
            continue
        tag = variants[0][0]
        mapping = {}
        for _, value, properties in variants:
            variant = _camel(value) + name
            components[variant] = {
                "type": "object",
                "required": schema.get("required", [tag]),
                "properties": {**schema["properties"], tag: {"type": "string", "enum": [value]}, **properties},
            }
            mapping[value] = f"#/components/schemas/{variant}"
        kept = {k: schema[k] for k in ("title", "description") if k in schema}
        components[name] = {
            **kept,
            "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": tag, "mapping": mapping},
        }


def _tag_unions(components: dict[str, Any]) -> None:
    """A `oneOf` of object components that each fix one property to a constant (a cart
    action's `type`) gets a `discriminator` naming it, and each constant is written as a
    one-member enum, the form client generators read."""
    for schema in components.values():
        members = schema.get("oneOf")
        if not isinstance(members, list) or "discriminator" in schema or not all("$ref" in m for m in members):
            continue
        variants = [components[m["$ref"].rsplit("/", 1)[1]] for m in members]
        tags = [{k for k, v in variant.get("properties", {}).items() if "const" in v} for variant in variants]
        common = set.intersection(*tags) if tags else set()
        if len(common) != 1:
            continue
        (tag,) = common
        mapping = {}
        for member, variant in zip(members, variants, strict=True):
            value = variant["properties"][tag]["const"]
            variant["properties"][tag] = {"type": "string", "enum": [value]}
            mapping[value] = member["$ref"]
        schema["discriminator"] = {"propertyName": tag, "mapping": mapping}


def _declare_every_status(document: dict[str, Any]) -> None:
    responses = document["components"].setdefault("responses", {})
    error = {"$ref": "#/components/schemas/Error"}
    for status, (name, description, (code, message)) in _EVERY_OPERATION.items():
        response: dict[str, Any] = {
            "description": description,
            "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}},
            "content": {
                "application/json": {
                    "schema": error,
                    "example": {"error": {"error_code": code, "validation_errors": [message]}},
                }
            },
        }
        if status == "429":
            response["headers"]["Retry-After"] = {"description": "Seconds to wait", "schema": {"type": "string"}}
        responses.setdefault(name, response)
    for operations in document["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            declared = operation["responses"]
            for status, (name, _, _) in _EVERY_OPERATION.items():
                declared.setdefault(status, {"$ref": f"#/components/responses/{name}"})
            if "requestBody" in operation:
                for status, name in _WITH_BODY.items():
                    declared.setdefault(status, {"$ref": f"#/components/responses/{name}"})


def _referenced(node: Any, components: dict[str, Any], found: set[str]) -> set[str]:
    """The schema components `node` refers to, directly or through others."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                _referenced(components[name], components, found)
        for value in node.values():
            _referenced(value, components, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, components, found)
    return found


def _open_responses(document: dict[str, Any]) -> None:
    """Response bodies admit fields they do not know: a client generated from this
    document must not break the day the real API adds a field. (The simulator answers
    exactly the documented fields, and the contract tests hold it to `schemas/`, where
    responses stay closed.) Requests stay as strict as the contract says."""
    components = document["components"]["schemas"]
    in_requests: set[str] = set()
    in_responses: set[str] = set()
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                _referenced([operation.get("requestBody"), operation.get("parameters")], components, in_requests)
                _referenced(operation.get("responses"), components, in_responses)
    _referenced(document["components"].get("responses"), components, in_responses)

    def admit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("additionalProperties") is False:
                del node["additionalProperties"]
            for key, value in node.items():
                if key != "$ref":
                    admit(value)
        elif isinstance(node, list):
            for value in node:
                admit(value)

    for name in in_responses - in_requests:
        admit(components[name])


@lru_cache(maxsize=1)
def served_document() -> dict[str, Any]:
    source = json.loads((schemas_dir() / "openapi.json").read_text(encoding="utf-8"))
    flattener = _Flattener(schemas.documents())
    document: dict[str, Any] = flattener.rewrite(source, None)
    document.setdefault("components", {}).setdefault("schemas", {}).update(flattener.components())
    _discriminate(document["components"]["schemas"])
    _tag_unions(document["components"]["schemas"])
    _open_responses(document)
    _declare_every_status(document)
    return document


def control_document() -> dict[str, Any]:
    """The control API's document (`schemas/sim-openapi.json`, served at
    GET /__sim/openapi.json), its schema files bundled as for the vendor's."""
    source = json.loads((schemas_dir() / "sim-openapi.json").read_text(encoding="utf-8"))
    flattener = _Flattener(schemas.documents())
    document: dict[str, Any] = flattener.rewrite(source, None)
    document.setdefault("components", {}).setdefault("schemas", {}).update(flattener.components())
    return document
