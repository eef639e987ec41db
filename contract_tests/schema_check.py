"""Validate bodies against the published schemas with `jsonschema`, the reference
implementation (the simulator itself runs compiled validators of the same files).

Two readings follow the contract rather than plain JSON Schema: an "integer" is a JSON
number without a fraction (12.0 is refused as an amount), and the formats
date-time/email/uri are checked as the simulator checks them.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.validators import extend
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from simulator.contract import schemas

ContractValidator = extend(  # type: ignore[no-untyped-call]  # (jsonschema's stubs leave it untyped)
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _, x: type(x) is int),
)


def _without_dialect(document: dict[str, Any]) -> dict[str, Any]:
    # jsonschema switches to its stock validator class wherever a schema names its
    # "$schema", which would drop the contract's integer rule: register the documents
    # under an explicit 2020-12 specification instead.
    return {k: v for k, v in document.items() if k != "$schema"}


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resources(
        (name, DRAFT202012.create_resource(_without_dialect(doc))) for name, doc in schemas.documents().items()
    )


def format_checker() -> FormatChecker:
    """The contract's formats (date-time, email, ...) as the simulator reads them."""
    formats = FormatChecker()
    for fmt, test in schemas.FORMATS.items():
        # A format only constrains strings; jsonschema hands checkers every type.
        formats.checks(fmt)(lambda x, test=test: not isinstance(x, str) or test(x))
    return formats


@cache
def validator(name: str) -> Any:
    return ContractValidator({"$ref": name}, registry=_registry(), format_checker=format_checker())


def is_valid(name: str, instance: Any) -> bool:
    return not problems(name, instance)


def problems(name: str, instance: Any) -> list[str]:
    """Every violation of schema `name` (a file of schemas/), as path: message."""
    out = []
    for error in validator(name).iter_errors(instance):
        where = schemas.render_path(error.absolute_path) or "body"
        out.append(f"{where}: {error.message}")
    return out
