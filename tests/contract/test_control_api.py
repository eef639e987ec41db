"""The control API's own OpenAPI document (GET /__sim/openapi.json): every /__sim route a
test suite uses, valid OpenAPI 3.1, its examples valid, and the served answers as it says."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from tests.conftest import AUTH, look_up

ROUTES = {
    ("POST", "/__sim/reset"),
    ("DELETE", "/__sim/sandbox"),
    ("GET", "/__sim/faults"),
    ("PUT", "/__sim/faults"),
    ("DELETE", "/__sim/faults"),
    ("GET", "/__sim/settings"),
    ("PUT", "/__sim/settings"),
    ("GET", "/__sim/catalog"),
    ("PUT", "/__sim/catalog"),
    ("GET", "/__sim/report"),
    ("GET", "/__sim/journal"),
    ("GET", "/__sim/state"),
    ("PUT", "/__sim/state"),
}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    served = client.get("/__sim/openapi.json")  # no key needed, as for /openapi.json
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    body: dict[str, Any] = served.json()
    return body


def check(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(value)


def test_it_is_valid_openapi_and_documents_every_route_a_test_suite_uses(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == ROUTES
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(ROUTES)


def test_its_examples_are_valid_against_their_own_schemas(document: dict[str, Any]) -> None:
    seen = 0
    for item in document["paths"].values():
        for operation in item.values():
            bodies = [operation.get("requestBody", {})] + list(operation["responses"].values())
            for part in bodies:
                for media, content in part.get("content", {}).items():
                    if "example" in content and media == "application/json":
                        check(document, content["schema"], content["example"])
                        seen += 1
    assert seen >= 10


def test_the_served_answers_are_what_the_document_says(client: TestClient, document: dict[str, Any]) -> None:
    look_up(client)
    paths = document["paths"]

    def answer(method: str, path: str, **options: Any) -> None:
        response = client.request(method, path, headers=AUTH, **options)
        assert response.status_code == 200, (method, path, response.text)
        schema = paths[path][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
        check(document, schema, response.json())

    faults = paths["/__sim/faults"]["put"]["requestBody"]["content"]["application/json"]["example"]
    answer("PUT", "/__sim/faults", json=faults)
    answer("GET", "/__sim/faults")
    answer("DELETE", "/__sim/faults")
    answer("PUT", "/__sim/settings", json={"magic_values": True})
    answer("GET", "/__sim/settings")
    answer("GET", "/__sim/catalog")
    answer("GET", "/__sim/report")
    answer("GET", "/__sim/journal")
    state = client.get("/__sim/state", headers=AUTH).json()
    answer("GET", "/__sim/state")
    answer("PUT", "/__sim/state", json=state)
    answer("POST", "/__sim/reset")
    answer("DELETE", "/__sim/sandbox")
    refused = client.put("/__sim/faults", json={"faults": [{"route": "/x", "status": 404}]}, headers=AUTH)
    assert refused.status_code == 400
    bad_request = document["components"]["responses"]["BadRequest"]  # the 400 the operation refers to
    assert paths["/__sim/faults"]["put"]["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    check(document, bad_request["content"]["application/json"]["schema"], refused.json())
