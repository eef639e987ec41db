"""schemas/ is the one source of truth: every file is valid JSON Schema 2020-12, the
served OpenAPI document is valid OpenAPI 3.1, and the compiled validators the simulator
uses judge instances exactly as the reference implementation (jsonschema) does."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from starlette.testclient import TestClient

from contract_tests import guide
from contract_tests.schema_check import ContractValidator, format_checker, validator
from simulator.contract import resources, schemas
from simulator.contract.openapi import component_name, served_document

REQUEST_SCHEMAS = [
    "plans-query.json",
    "cart-update-request.json",
    "checkout-request.json",
    "event-request.json",
    "catalog.json",
    "sim-settings.json",
    "cart-connections-query.json",
]


def reference_validator(name: str):  # type: ignore[no-untyped-def]
    return validator(name)


def _integral_float_as_integer(error: Any) -> bool:
    instance = error.instance
    return error.validator == "type" and error.validator_value == "integer" and type(instance) is float and instance.is_integer()


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
    for name, text in (
        ("cart-update-request.json", guide.CART_UPDATE_TEXT),
        ("checkout-request.json", guide.CHECKOUT_TEXT),
        ("event-request.json", guide.ORDER_PLACED_TEXT),
        ("event-request.json", guide.FULFILLMENT_TEXT),
        ("event-request.json", guide.REFUND_TEXT),
        ("event-request.json", guide.CANCELLATION_TEXT),
    ):
        reference_validator(name).validate(json.loads(text))
    reference_validator("plans-response.json").validate(guide.PLAN_RESPONSE)
    reference_validator("cart-update-response.json").validate(guide.CART_QUANTITY_TWO_RESPONSE)
    reference_validator("checkout-response.json").validate(guide.CHECKOUT_RESPONSE)


# -- the simulator validates as the reference implementation does --------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 200000),
    st.floats(allow_nan=False, width=32),
    st.sampled_from(
        [
            "",
            "eur",
            "EUR",
            "de",
            "DE",
            "x",
            "prd-iphone14",
            "pl-prd-hakuna",
            "2022-02-20T00:00:00.000Z",
            "2022-02-30T00:00:00Z",
            "a@b.de",
            "order_placed",
            "order_refund_added",
            "order_cancelled",
            "order_fulfillment_added",
            "https://x.de",
        ]
    ),
)
any_json = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "quantity",
                    "price_amount",
                    "product_id",
                    "cart_id",
                    "user_session_id",
                    "cart_currency",
                    "line_items",
                    "type",
                    "payload",
                    "order_id",
                    "placed_at",
                    "order_currency",
                    "customer",
                    "custom_properties",
                    "product_reference",
                    "cancelled_at",
                    "fulfillment_line_items",
                    "line_item_id",
                    "fulfilled_at",
                    "plans",
                    "refund_windows",
                    "plan_alone_days",
                ]
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=20,
)


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
    "catalog.json": json.loads((resources.schemas_dir().parent / "fixtures" / "catalog.json").read_text())
    if (resources.schemas_dir().parent / "fixtures").is_dir()
    else {"plans": []},
}
VALID["catalog.json"] = {"plans": VALID["catalog.json"]["plans"][:2], "products": VALID["catalog.json"]["products"][:2]}
EVENTS = [json.loads(t) for t in (guide.FULFILLMENT_TEXT, guide.REFUND_TEXT, guide.CANCELLATION_TEXT)]


@pytest.mark.parametrize("name", sorted(VALID) + ["event-fulfilment", "event-refund", "event-cancel"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_request_validation_agrees_with_jsonschema(name: str, data: st.DataObject) -> None:
    """jsonschema-rs, with the simulator's formats, judges as the Python reference
    implementation does, and names a violation for every instance it refuses."""
    extra = {"event-fulfilment": EVENTS[0], "event-refund": EVENTS[1], "event-cancel": EVENTS[2]}
    schema = "event-request.json" if name in extra else name
    valid = extra.get(name, VALID.get(name))
    instance = data.draw(st.one_of(mutations(valid), any_json))
    # A request's integer written 2.0 is the integer 2, as JSON Schema reads it (accepted,
    # and noted by validate_request); the reference refuses it, as the contract does answers.
    expected = [e for e in reference_validator(schema).iter_errors(instance) if not _integral_float_as_integer(e)]
    ours = schemas.violations(schema, instance)
    assert (ours == []) == (expected == []), (instance, ours, expected)
    assert schemas.is_valid(schema, instance) == (ours == [])
    if ours:
        assert schemas.validate(schema, instance), instance


def test_every_operation_carries_the_guides_examples() -> None:
    paths = served_document()["paths"]

    def body(path: str, method: str = "post") -> Any:
        content = paths[path][method]["requestBody"]["content"]["application/json"]
        return content.get("example") or {k: v["value"] for k, v in content["examples"].items()}

    def answer(path: str, method: str) -> Any:
        return paths[path][method]["responses"]["200"]["content"]["application/json"]["example"]

    assert body("/sandbox/carts") == json.loads(guide.CART_UPDATE_TEXT)
    assert body("/sandbox/checkouts") == json.loads(guide.CHECKOUT_TEXT)
    events = {
        name: json.loads(text)
        for name, text in (
            ("order_placed", guide.ORDER_PLACED_TEXT),
            ("order_fulfillment_added", guide.FULFILLMENT_TEXT),
            ("order_refund_added", guide.REFUND_TEXT),
            ("order_cancelled", guide.CANCELLATION_TEXT),
        )
    }
    assert body("/sandbox/events") == events
    assert body("/sandbox/orders") == {
        "cart_update": json.loads(guide.CART_UPDATE_TEXT),
        "checkout": json.loads(guide.CHECKOUT_TEXT),
        **events,
    }
    assert answer("/sandbox/plans", "get") == guide.PLAN_RESPONSE
    assert answer("/sandbox/carts", "post") == guide.CART_QUANTITY_TWO_RESPONSE
    assert answer("/sandbox/checkouts", "post") == guide.CHECKOUT_RESPONSE
    assert answer("/sandbox/carts/{cart_id}/plan_connections", "get") == guide.CART_CONNECTIONS_RESPONSE
    query = {p["name"]: p["example"] for p in paths["/sandbox/plans"]["get"]["parameters"] if "example" in p}
    assert query == guide.PLAN_QUERY
    for name, schema in (
        ("plans-response.json", guide.PLAN_RESPONSE),
        ("cart-update-response.json", guide.CART_QUANTITY_TWO_RESPONSE),
        ("event-response.json", answer("/sandbox/events", "post")),
    ):
        reference_validator(name).validate(schema)


SERVED_EVENT = ContractValidator(  # (the contract's integers: 1.0 is a number, not an integer)
    {"$ref": "#/components/schemas/EventRequest", "components": served_document()["components"]}, format_checker=format_checker()
)
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
                examples = (
                    [content["example"]] if "example" in content else [e["value"] for e in content.get("examples", {}).values()]
                )
                assert examples, (method, path, status)
                schema = {**content["schema"], "components": document["components"]}
                for example in examples:
                    Draft202012Validator(schema, format_checker=format_checker()).validate(example)
                if status != "200":
                    assert examples[0]["error"]["error_code"], (method, path, status)


def test_a_cart_action_is_a_named_union_told_apart_by_its_type() -> None:
    components = served_document()["components"]["schemas"]
    union = components["CartAction"]
    assert union["discriminator"] == {
        "propertyName": "type",
        "mapping": {
            "remove_line_item": "#/components/schemas/RemoveLineItemAction",
            "update_line_item": "#/components/schemas/UpdateLineItemAction",
        },
    }
    assert components["UpdateLineItemAction"]["properties"]["type"] == {"type": "string", "enum": ["update_line_item"]}
    assert components["UpdateLineItemPayload"]["required"] == ["line_item_id", "line_item_quantity"]
    assert components["CartUpdateResponse"]["properties"]["actions"]["items"] == {"$ref": "#/components/schemas/CartAction"}


def test_served_responses_admit_unknown_fields_and_requests_stay_as_strict_as_the_source() -> None:
    document = served_document()
    text = json.dumps(
        {
            name: document["components"]["schemas"][name]
            for name in ("CartUpdateResponse", "UpdateLineItemAction", "UpdateLineItemPayload", "Order", "PlansResponse", "Error")
        }
    )
    assert '"additionalProperties": false' not in text
    for source, served in (("cart-update-request.json", "CartUpdateRequest"), ("checkout-request.json", "CheckoutRequest")):
        assert ("additionalProperties" in schemas.documents()[source]) == (
            "additionalProperties" in document["components"]["schemas"][served]
        )
    order = json.loads(
        json.dumps(
            next(iter(document["paths"]["/sandbox/orders/{order_id}"]["get"]["responses"]["200"]["content"].values()))["example"]
        )
    )
    order["a_field_of_tomorrow"] = 1
    order["protections"][0]["another"] = "x"
    Draft202012Validator({"$ref": "#/components/schemas/Order", "components": document["components"]}).validate(order)
