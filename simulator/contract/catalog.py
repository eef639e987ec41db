"""Loading a catalog file (docs/contract.md §4): schema first, then the rules a schema
cannot say (unique ids, sane and non-overlapping bands). Any problem names the file and
the JSON path, so a broken catalog stops start-up with a message that points at it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.contract import schemas
from simulator.domain.matching import Catalog, Plan, PriceBand, Product


class CatalogError(Exception):
    pass


def load_catalog(path: Path | str) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    document = schemas.normalize(document).document
    problems = catalog_problems(document)
    if problems:
        raise CatalogError("\n".join(f"{path}: {problem}" for problem in problems))
    return build_catalog(document)


def catalog_problems(document: Any) -> list[str]:
    """Every problem of a catalog document, each starting with its JSON path ([] if none)."""
    problems = schemas.validate("catalog.json", document, root="catalog")
    if problems:
        return problems
    seen: dict[str, str] = {}
    for i, plan in enumerate(document["plans"]):
        where = f"plans[{i}]"
        pid = plan["merchant_product_id"]
        if pid in seen:
            problems.append(f"{where}.merchant_product_id {pid!r} is already used by {seen[pid]}")
        seen.setdefault(pid, where)
        bands = plan["price_bands"]
        for j, band in enumerate(bands):
            high = band.get("max_price_amount")
            if high is not None and high <= band["min_price_amount"]:
                problems.append(f"{where}.price_bands[{j}].max_price_amount must be greater than min_price_amount")
        problems.extend(_overlaps(bands, where))
    products: dict[tuple[str, str], str] = {}
    for i, product in enumerate(document.get("products", [])):
        where = f"products[{i}]"
        key = (product["id"], product["price_currency"])
        if key in products:
            problems.append(
                f"{where}.id {product['id']!r} in {product['price_currency']!r} is already listed by {products[key]} "
                "(a product has one list price per currency)"
            )
        products.setdefault(key, where)
        if product["id"] in seen:
            problems.append(f"{where}.id {product['id']!r} is a plan's merchant_product_id; plans are not protectable products")
    return problems


def _overlaps(bands: list[dict[str, Any]], where: str) -> list[str]:
    """Bands that share a list price, found in sorted order (n log n, whatever the
    count): each band is compared with the one that reaches furthest among those below it."""
    order = sorted(range(len(bands)), key=lambda i: bands[i]["min_price_amount"])
    problems = []
    furthest: int | None = None  # the earlier band reaching highest
    for i in order:
        if furthest is not None:
            high = bands[furthest].get("max_price_amount")
            if high is None or bands[i]["min_price_amount"] < high:
                first, second = sorted((furthest, i))
                problems.append(
                    f"{where}.price_bands[{second}] overlaps {where}.price_bands[{first}]: a list price must fall in one band"
                )
        reach = bands[i].get("max_price_amount")
        if (
            furthest is None
            or reach is None
            or (bands[furthest].get("max_price_amount") is not None and reach > bands[furthest]["max_price_amount"])
        ):
            furthest = i
    return problems


def build_catalog(document: dict[str, Any]) -> Catalog:
    """A Catalog from a document that `catalog_problems` found nothing wrong with."""
    plans = tuple(
        Plan(
            merchant_product_id=p["merchant_product_id"],
            title=dict(p["title"]),
            insurance_details_url=p["insurance_details_url"],
            currency=p["currency"],
            countries=tuple(p["countries"]),
            term_months=p["term_months"],
            categories=frozenset(p["categories"]),
            price_bands=tuple(
                PriceBand(b["min_price_amount"], b.get("max_price_amount"), b["plan_price_amount"]) for b in p["price_bands"]
            ),
        )
        for p in document["plans"]
    )
    products = tuple(
        Product(
            id=p["id"],
            category=p["category"],
            price_amount=p["price_amount"],
            price_currency=p["price_currency"],
            title=p.get("title"),
            brand=p.get("brand"),
        )
        for p in document.get("products", [])
    )
    return Catalog(plans=plans, products=products)


def catalog_document(catalog: Catalog) -> dict[str, Any]:
    """A catalog as the catalog file writes it (GET /__sim/catalog)."""

    def band(b: Any) -> dict[str, Any]:
        out = {"min_price_amount": b.min_price_amount}
        if b.max_price_amount is not None:
            out["max_price_amount"] = b.max_price_amount
        out["plan_price_amount"] = b.plan_price_amount
        return out

    return {
        "plans": [
            {
                "merchant_product_id": p.merchant_product_id,
                "title": dict(p.title),
                "insurance_details_url": p.insurance_details_url,
                "currency": p.currency,
                "countries": list(p.countries),
                "term_months": p.term_months,
                "categories": sorted(p.categories),
                "price_bands": [band(b) for b in p.price_bands],
            }
            for p in catalog.plans
        ],
        "products": [{k: v for k, v in p._asdict().items() if v is not None} for p in catalog.products],
    }
