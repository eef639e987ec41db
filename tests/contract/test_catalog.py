"""Catalog files (docs/contract.md §4): the default reproduces the guide; a broken one
stops start-up naming the file and the JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract_tests import guide
from simulator.contract.catalog import CatalogError, load_catalog
from simulator.contract.resources import default_catalog_path
from simulator.domain.matching import Catalog, Product, offer
from tests.conftest import AUTH


def test_default_catalog_answers_the_guides_iphone_look_up(catalog: Catalog) -> None:
    product = Product("prd-iphone14", "smartphones", 112900, "eur", "iPhone 14", "Apple")
    assert offer(catalog, product) == guide.PLAN_RESPONSE


def test_default_catalog_covers_a_german_electronics_and_bike_shop(catalog: Catalog) -> None:
    categories = set().union(*(p.categories for p in catalog.plans))
    assert {"smartphones", "laptops", "tablets", "tvs", "headphones", "cameras", "e-bikes"} <= categories
    for category in categories:
        plans = [p for p in catalog.plans if category in p.categories]
        assert sum(len(p.price_bands) for p in plans) >= 3, category
    assert {"prd-iphone14", "prd-bb-32"} <= {p.id for p in catalog.products}
    # Every protectable fixture product has a plan; the accessories have none.
    for product in catalog.products:
        assert bool(catalog.matches(product)) == (product.category != "accessories"), product.id


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def base() -> dict[str, Any]:
    document = json.loads(default_catalog_path().read_text())
    return {"plans": document["plans"][:2]}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["plans"][1].update(merchant_product_id="pl-prd-hakuna"),
            "plans[1].merchant_product_id 'pl-prd-hakuna' is already used by plans[0]",
        ),
        (
            lambda d: d["plans"][0]["price_bands"].append({"min_price_amount": 120000, "plan_price_amount": 1}),
            "plans[0].price_bands[5] overlaps plans[0].price_bands[3]",
        ),
        (
            lambda d: d["plans"][0]["price_bands"][0].update(max_price_amount=0),
            "plans[0].price_bands[0].max_price_amount must be greater than min_price_amount",
        ),
        (lambda d: d["plans"][0].update(currency="EUR"), "plans[0].currency must be a lower-case ISO 4217"),
        (lambda d: d["plans"][0].update(title={}), "plans[0].title must be an object of titles by language code"),
        (lambda d: d["plans"][0].pop("term_months"), "plans[0].term_months is required"),
        (lambda d: d["plans"][0].update(colour="blue"), "plans[0].colour is not an allowed field"),
        (
            lambda d: d.update(products=[{"id": "pl-prd-hakuna", "category": "x", "price_amount": 1, "price_currency": "eur"}]),
            "products[0].id 'pl-prd-hakuna' is a plan's merchant_product_id",
        ),
    ],
)
def test_broken_catalog_names_file_and_json_path(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    document = base()
    mutate(document)
    with pytest.raises(CatalogError) as caught:
        load_catalog(write(tmp_path, document))
    assert str(caught.value).startswith(str(tmp_path / "catalog.json") + ": ")
    assert message in str(caught.value)


def test_catalog_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"not valid JSON at line 2, column 1"):
        load_catalog(write(tmp_path, '{"plans": [\n}'))


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read the catalog"):
        load_catalog(tmp_path / "nope.json")


@given(st.lists(st.tuples(st.integers(0, 50), st.one_of(st.none(), st.integers(1, 30))), min_size=1, max_size=7))
def test_band_overlaps_are_found_exactly_when_two_bands_share_a_price(spans: list[tuple[int, int | None]]) -> None:
    from simulator.contract.catalog import _overlaps

    bands = [{"min_price_amount": lo, **({} if width is None else {"max_price_amount": lo + width})} for lo, width in spans]

    def holds(band: dict[str, int], price: int) -> bool:
        return band["min_price_amount"] <= price and ("max_price_amount" not in band or price < band["max_price_amount"])

    shared = any(sum(holds(b, price) for b in bands) > 1 for price in range(0, 200))
    assert bool(_overlaps(bands, "p")) == shared


def test_many_bands_are_checked_quickly_and_reported_boundedly(client) -> None:  # type: ignore[no-untyped-def]
    plan = {
        "merchant_product_id": "pl-x",
        "title": {"en": "x"},
        "insurance_details_url": "https://x.example",
        "currency": "eur",
        "countries": ["de"],
        "term_months": 12,
        "categories": ["x"],
        "price_bands": [{"min_price_amount": 0, "max_price_amount": 10, "plan_price_amount": 1}] * 2500,
    }
    response = client.put("/__sim/catalog", json={"plans": [plan]}, headers=AUTH)
    assert response.status_code == 400
    messages = response.json()["error"]["validation_errors"]
    assert len(messages) == 100 and messages[-1] == "... and 2400 more problem(s) like these"
