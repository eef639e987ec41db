"""The OpenAPI document, bundled for serving.

`schemas/openapi.json` refers to the body schemas beside it by file name
(`"$ref": "cart-update-request.json"`), so there is one copy of each. Tools that fetch
`/openapi.json` over HTTP cannot follow such relative files, so the served document has
each schema file copied into `components/schemas` and every reference rewritten to
point there.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

from simulator import schemas
from simulator.resources import schemas_dir


def _component(file_name: str) -> str:
    return file_name.removesuffix(".json")


def _rewrite(node: Any, current_file: str | None) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = _target(value, current_file)
            elif key in ("$id", "$schema"):
                continue
            else:
                out[key] = _rewrite(value, current_file)
        return out
    if isinstance(node, list):
        return [_rewrite(item, current_file) for item in node]
    return node


def _target(ref: str, current_file: str | None) -> str:
    file_name, _, fragment = ref.partition("#")
    if not file_name:
        if current_file is None:
            return ref  # a reference inside the OpenAPI document itself
        file_name = current_file
    return f"#/components/schemas/{_component(file_name)}{fragment}"


@lru_cache(maxsize=1)
def served_document() -> dict[str, Any]:
    source = json.loads((schemas_dir() / "openapi.json").read_text(encoding="utf-8"))
    document: dict[str, Any] = _rewrite(source, None)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for file_name, schema in schemas.documents().items():
        components[_component(file_name)] = _rewrite(copy.deepcopy(schema), file_name)
    return document
