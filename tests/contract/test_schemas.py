"""schemas/ is the one source of truth: every file is valid JSON Schema 2020-12, the
served OpenAPI document is valid OpenAPI 3.1, and the compiled validators the simulator
uses judge instances exactly as the reference implementation (jsonschema) does."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from starlette.testclient import TestClient

from contract_tests import guide
from contract_tests.schema_check import format_checker, validator
from simulator.contract import schemas
from simulator.contract.openapi import component_name, served_document
from simulator.contract.schema_compiler import Compiler, SchemaCompileError
from simulator.contract.schema_predicates import PredicateCompiler

REQUEST_SCHEMAS = ["plans-query.json", "cart-update-request.json", "checkout-request.json",
                   "event-request.json", "catalog.json", "sim-settings.json", "cart-connections-query.json"]


def reference_validator(name: str):  # type: ignore[no-untyped-def]
    return validator(name)


@pytest.mark.parametrize("name", sorted(schemas.documents()))
def test_every_schema_file_is_valid_json_schema_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(schemas.documents()[name])
    assert schemas.documents()[name]["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_served_openapi_document_is_valid_openapi_3_1(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document == served_document()
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)
    # Every body schema of the contract is in it, each as a named component, and every
    # reference points at a component by name (no path into another schema's $defs).
    components = document["components"]["schemas"]
    assert {component_name(f) for f in schemas.documents() if f != "common.json"} <= set(components)
    references = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    assert all(re.fullmatch(r"#/components/(schemas|parameters|headers|responses)/[A-Za-z]+", r) for r in references)
    assert "$defs" not in json.dumps(document)


def test_every_operation_declares_every_status_it_can_answer() -> None:
    for path, operations in served_document()["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"200", "400", "401", "405", "429", "431", "500", "502", "503"} <= declared, (path, method)
            if "requestBody" in operation:
                assert {"413", "415"} <= declared, (path, method)


def test_guide_examples_validate_against_the_published_schemas() -> None:
    for name, text in (("cart-update-request.json", guide.CART_UPDATE_TEXT),
                       ("checkout-request.json", guide.CHECKOUT_TEXT),
                       ("event-request.json", guide.ORDER_PLACED_TEXT),
                       ("event-request.json", guide.FULFILLMENT_TEXT),
                       ("event-request.json", guide.REFUND_TEXT),
                       ("event-request.json", guide.CANCELLATION_TEXT)):
        reference_validator(name).validate(json.loads(text))
    reference_validator("plans-response.json").validate(guide.PLAN_RESPONSE)
    reference_validator("cart-update-response.json").validate(guide.CART_QUANTITY_TWO_RESPONSE)
    reference_validator("checkout-response.json").validate(guide.CHECKOUT_RESPONSE)


def test_the_compiler_refuses_keywords_it_does_not_know() -> None:
    compiler = Compiler({"x.json": {"type": "object", "dependentRequired": {"a": ["b"]}}}, {})
    with pytest.raises(SchemaCompileError, match="dependentRequired"):
        compiler.compile_ref("x.json")
    predicates = PredicateCompiler({"x.json": {"type": "object", "dependentRequired": {"a": ["b"]}}}, {})
    with pytest.raises(SchemaCompileError, match="dependentRequired"):
        predicates.predicate("x.json")




# -- compiled validators agree with jsonschema ------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 200000), st.floats(allow_nan=False, width=32),
                      st.sampled_from(["", "eur", "EUR", "de", "DE", "x", "prd-iphone14", "pl-prd-hakuna",
                                       "2022-02-20T00:00:00.000Z", "2022-02-30T00:00:00Z", "a@b.de",
                                       "order_placed", "order_refund_added", "order_cancelled",
                                       "order_fulfillment_added", "https://x.de"]))
any_json = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["id", "quantity", "price_amount", "product_id", "cart_id", "user_session_id", "cart_currency",
         "line_items", "type", "payload", "order_id", "placed_at", "order_currency", "customer",
         "custom_properties", "product_reference", "cancelled_at", "fulfillment_line_items",
         "line_item_id", "fulfilled_at", "plans", "refund_windows", "plan_alone_days"]), inner, max_size=6)),
    max_leaves=20)


def mutations(valid: Any) -> st.SearchStrategy[Any]:
    """Valid documents with one value somewhere replaced: near misses find disagreements."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))
    walk(valid, ())

    @st.composite
    def mutate(draw: st.DrawFn) -> Any:
        doc = json.loads(json.dumps(valid))
        path = draw(st.sampled_from(paths))
        if not path:
            return draw(any_json)
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(any_json)
        return doc
    return mutate()


VALID = {
    "cart-update-request.json": json.loads(guide.CART_UPDATE_TEXT),
    "event-request.json": json.loads(guide.ORDER_PLACED_TEXT),
    "checkout-request.json": json.loads(guide.CHECKOUT_TEXT),
    "plans-query.json": dict(guide.PLAN_QUERY),
    "catalog.json": json.loads((schemas.schemas_dir().parent / "fixtures" / "catalog.json").read_text())
    if (schemas.schemas_dir().parent / "fixtures").is_dir() else {"plans": []},
}
VALID["catalog.json"] = {"plans": VALID["catalog.json"]["plans"][:2], "products": VALID["catalog.json"]["products"][:2]}
EVENTS = [json.loads(t) for t in (guide.FULFILLMENT_TEXT, guide.REFUND_TEXT, guide.CANCELLATION_TEXT)]


@pytest.mark.parametrize("name", sorted(VALID) + ["event-fulfilment", "event-refund", "event-cancel"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_validator_agrees_with_jsonschema(name: str, data: st.DataObject) -> None:
    extra = {"event-fulfilment": EVENTS[0], "event-refund": EVENTS[1], "event-cancel": EVENTS[2]}
    schema = "event-request.json" if name in extra else name
    valid = extra.get(name, VALID.get(name))
    instance = data.draw(st.one_of(mutations(valid), any_json))
    expected = list(reference_validator(schema).iter_errors(instance))
    ours = schemas.checker(schema)(instance)
    assert (ours is None) == (expected == []), (instance, ours, expected)
    # The generated predicate and the closures that name violations read it alike.
    assert schemas.predicate(schema)(instance) == (schemas.violations(schema)(instance) is None), instance


# Every keyword both compilers support, in the shapes our schemas use them and some they
# do not (no type beside a keyword, type lists, boolean schemas, recursion).
EVERY_KEYWORD = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "every.json",
    "type": ["object", "array"],
    "required": ["id"],
    "minProperties": 1,
    "properties": {
        "id": {"$ref": "#/$defs/id"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 5},
        "amount": {"minimum": 0, "maximum": 10.5},
        "currency": {"enum": ["eur", "chf", 1, None, True]},
        "code": {"type": "string", "pattern": "^[a-z]{2}$", "maxLength": 2},
        "at": {"type": "string", "format": "date-time"},
        "kind": {"const": "cart"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "tree": {"$ref": "#/$defs/tree"},
        "shape": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]},
        "nothing": False,
        "anything": True,
        "either": {"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"minProperties": 1}},
        "loose": {"minLength": 2, "minItems": 1, "required": ["x"], "properties": {"x": {"type": "null"}}},
        "open": {"properties": {}, "required": [], "allOf": [{}, True]},
    },
    "propertyNames": {"maxLength": 8},
    "additionalProperties": {"type": ["integer", "boolean"]},
    "items": {"$ref": "#"},
    "$defs": {
        "id": {"type": "string", "minLength": 1},
        "tree": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/tree"}}},
                 "additionalProperties": False},
    },
}
EVERY_KEYWORD_VALID = {"id": "x", "quantity": 2, "amount": 3.5, "currency": "eur", "code": "de",
                       "at": "2022-02-20T00:00:00Z", "kind": "cart", "tags": ["a"], "tree": {"children": [{}]},
                       "shape": 1, "anything": [1], "either": {"a": 1, "b": 2}, "loose": {"x": None}, "extra": 3}
every_json = st.recursive(
    st.one_of(json_leaf, st.sampled_from([1, 2, 5, 6, 2.0, 10.5, 11, True, "cart", "ab", "abc", "chf"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from([*EVERY_KEYWORD["properties"], "children", "a", "b", "x", "toolongname"]), inner, max_size=5)),
    max_leaves=15)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_predicates_judge_every_keyword_as_jsonschema_does(data: st.DataObject) -> None:
    documents = {"every.json": EVERY_KEYWORD}
    reference = Draft202012Validator(EVERY_KEYWORD, format_checker=format_checker())
    is_valid = PredicateCompiler(documents, schemas.FORMATS).predicate("every.json")
    violations = Compiler(documents, schemas.FORMATS).compile_ref("every.json")
    instance = data.draw(st.one_of(mutations(EVERY_KEYWORD_VALID), every_json))
    expected = not list(reference.iter_errors(instance))
    assert is_valid(instance) == expected, instance
    assert (violations(instance) is None) == expected, instance
    assert is_valid(EVERY_KEYWORD_VALID)


def test_every_operation_carries_the_guides_examples() -> None:
    paths = served_document()["paths"]

    def body(path: str, method: str = "post") -> Any:
        content = paths[path][method]["requestBody"]["content"]["application/json"]
        return content.get("example") or {k: v["value"] for k, v in content["examples"].items()}

    def answer(path: str, method: str) -> Any:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["example"]
    assert body("/sandbox/carts") == json.loads(guide.CART_UPDATE_TEXT)
    assert body("/sandbox/checkouts") == json.loads(guide.CHECKOUT_TEXT)
    events = {name: json.loads(text) for name, text in (
        ("order_placed", guide.ORDER_PLACED_TEXT), ("order_fulfillment_added", guide.FULFILLMENT_TEXT),
        ("order_refund_added", guide.REFUND_TEXT), ("order_cancelled", guide.CANCELLATION_TEXT))}
    assert body("/sandbox/events") == events
    assert body("/sandbox/orders") == {"cart_update": json.loads(guide.CART_UPDATE_TEXT),
                                       "checkout": json.loads(guide.CHECKOUT_TEXT), **events}
    assert answer("/sandbox/plans", "get") == guide.PLAN_RESPONSE
    assert answer("/sandbox/carts", "post") == guide.CART_QUANTITY_TWO_RESPONSE
    assert answer("/sandbox/checkouts", "post") == guide.CHECKOUT_RESPONSE
    assert answer("/sandbox/carts/{cart_id}/plan_connections", "get") == guide.CART_CONNECTIONS_RESPONSE
    query = {p["name"]: p["example"] for p in paths["/sandbox/plans"]["get"]["parameters"] if "example" in p}
    assert query == guide.PLAN_QUERY
    for name, schema in (("plans-response.json", guide.PLAN_RESPONSE),
                         ("cart-update-response.json", guide.CART_QUANTITY_TWO_RESPONSE),
                         ("event-response.json", answer("/sandbox/events", "post"))):
        reference_validator(name).validate(schema)


SERVED_EVENT = Draft202012Validator(
    {"$ref": "#/components/schemas/EventRequest", "components": served_document()["components"]},
    format_checker=format_checker())
ALL_EVENTS = [json.loads(guide.ORDER_PLACED_TEXT), *EVENTS]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_served_tagged_union_of_events_judges_as_the_source_schema(data: st.DataObject) -> None:
    """The document serves event-request.json's if/then chain as a oneOf with a
    discriminator (simulator/openapi.py): a rewrite, so it must accept exactly what the
    source accepts, including a payload sent under another event's type."""
    event = data.draw(st.sampled_from(ALL_EVENTS))
    other = data.draw(st.sampled_from(ALL_EVENTS))
    swapped = {"type": other["type"], "payload": event["payload"]}
    instance = data.draw(st.one_of(mutations(event), st.just(swapped), any_json))
    source = list(reference_validator("event-request.json").iter_errors(instance))
    served = list(SERVED_EVENT.iter_errors(instance))
    assert (served == []) == (source == []), (instance, served, source)


def test_predicates_compiled_from_several_threads_at_once_all_work() -> None:
    """A snapshot import compiles its schema on a worker thread while the event loop may
    compile another: each must come out whole."""
    import threading

    names = sorted(VALID)

    def make(compiler: PredicateCompiler, name: str, start: threading.Barrier, made: dict[str, Any],
             failed: list[Exception]) -> None:
        start.wait()
        try:
            made[name] = compiler.predicate(name)
        except Exception as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns within the generation, not between
    try:
        for _ in range(10):
            compiler = PredicateCompiler(schemas.documents(), schemas.FORMATS)
            start, made, failed = threading.Barrier(len(names)), {}, []  # type: ignore[var-annotated]
            threads = [threading.Thread(target=make, args=(compiler, n, start, made, failed)) for n in names]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not failed and all(made[n](VALID[n]) for n in names), failed
    finally:
        sys.setswitchinterval(switching)


def _resolved(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def test_every_operation_and_every_error_it_declares_carries_an_example_valid_for_its_schema() -> None:
    """A mock server (Prism) answers a document's examples: without one it makes up
    "string" values. Each example must also be what the schema allows."""
    document = served_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = _resolved(document, response)["content"]["application/json"]
                examples = [content["example"]] if "example" in content else [
                    e["value"] for e in content.get("examples", {}).values()]
                assert examples, (method, path, status)
                schema = {**content["schema"], "components": document["components"]}
                for example in examples:
                    Draft202012Validator(schema, format_checker=format_checker()).validate(example)
                if status != "200":
                    assert examples[0]["error"]["error_code"], (method, path, status)


def test_a_cart_action_is_a_named_union_told_apart_by_its_type() -> None:
    components = served_document()["components"]["schemas"]
    union = components["CartAction"]
    assert union["discriminator"] == {"propertyName": "type", "mapping": {
        "remove_line_item": "#/components/schemas/RemoveLineItemAction",
        "update_line_item": "#/components/schemas/UpdateLineItemAction"}}
    assert components["UpdateLineItemAction"]["properties"]["type"] == {"type": "string", "enum": ["update_line_item"]}
    assert components["UpdateLineItemPayload"]["required"] == ["line_item_id", "line_item_quantity"]
    assert components["CartUpdateResponse"]["properties"]["actions"]["items"] == {"$ref": "#/components/schemas/CartAction"}


def test_served_responses_admit_unknown_fields_and_requests_stay_as_strict_as_the_source() -> None:
    document = served_document()
    text = json.dumps({name: document["components"]["schemas"][name] for name in (
        "CartUpdateResponse", "UpdateLineItemAction", "UpdateLineItemPayload", "Order", "PlansResponse", "Error")})
    assert '"additionalProperties": false' not in text
    for source, served in (("cart-update-request.json", "CartUpdateRequest"), ("checkout-request.json", "CheckoutRequest")):
        assert ("additionalProperties" in schemas.documents()[source]) == (
            "additionalProperties" in document["components"]["schemas"][served])
    order = json.loads(json.dumps(next(iter(
        document["paths"]["/sandbox/orders/{order_id}"]["get"]["responses"]["200"]["content"].values()))["example"]))
    order["a_field_of_tomorrow"] = 1
    order["protections"][0]["another"] = "x"
    Draft202012Validator({"$ref": "#/components/schemas/Order", "components": document["components"]}).validate(order)
