"""Plan matching (docs/contract.md §4): which catalog plans fit a product, at what price.

Hakuna prices a plan by the product's category and the band its list price falls in
(docs). A product matches a plan when the category is eligible, the currency is the
plan's, a band holds the price, and the product is not itself a plan. A product that
matches no plan is `product_unsupported` (docs), with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from simulator.domain.errors import SimError


@dataclass(frozen=True)
class PriceBand:
    min_price_amount: int  # inclusive
    max_price_amount: int | None  # exclusive; None: no upper bound
    plan_price_amount: int

    def holds(self, amount: int) -> bool:
        return amount >= self.min_price_amount and (self.max_price_amount is None or amount < self.max_price_amount)


@dataclass(frozen=True)
class Plan:
    merchant_product_id: str
    title: Mapping[str, str]
    insurance_details_url: str
    currency: str
    term_months: int
    categories: frozenset[str]
    price_bands: tuple[PriceBand, ...]
    countries: tuple[str, ...] = ("de", "at")  # billing countries it is sold in

    def price_for(self, product: Product) -> int | None:
        """The plan's price for `product`, or None when the product is not eligible."""
        if product.category not in self.categories or product.price_currency != self.currency:
            return None
        for band in self.price_bands:
            if band.holds(product.price_amount):
                return band.plan_price_amount
        return None


class Product(NamedTuple):
    id: str
    category: str
    price_amount: int  # the list price, which is what Hakuna prices by
    price_currency: str
    title: str | None = None
    brand: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """A product's list price is its price in one currency: a shop with a German
        (eur) and a Swiss (chf) store view sells one product id at two list prices."""
        return (self.id, self.price_currency)


@dataclass(frozen=True)
class Catalog:
    plans: tuple[Plan, ...]
    products: tuple[Product, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {p.merchant_product_id: p for p in self.plans})
        object.__setattr__(self, "_products", {(p.id, p.price_currency): p for p in self.products})
        by_category: dict[str, list[Plan]] = {}
        for plan in self.plans:
            for category in plan.categories:
                by_category.setdefault(category, []).append(plan)
        object.__setattr__(self, "_by_category", by_category)
        object.__setattr__(self, "_offers", {})

    def plan(self, merchant_product_id: str) -> Plan | None:
        by_id: dict[str, Plan] = self._by_id  # type: ignore[attr-defined]
        return by_id.get(merchant_product_id)

    @property
    def plan_index(self) -> Mapping[str, Plan]:
        """Plans by merchant_product_id: a loop over a cart's lines looks each up with
        the index's own get, a C call, instead of a method call per line."""
        by_id: dict[str, Plan] = self._by_id  # type: ignore[attr-defined]
        return by_id

    def product(self, product_id: str, currency: str) -> Product | None:
        """The catalog's own list price of a product in one currency (a shop with store
        views in several currencies lists a product once per currency)."""
        products: dict[tuple[str, str], Product] = self._products  # type: ignore[attr-defined]
        return products.get((product_id, currency))

    def is_plan(self, product_id: str) -> bool:
        return self.plan(product_id) is not None

    def categories(self) -> list[str]:
        by_category: dict[str, list[Plan]] = self._by_category  # type: ignore[attr-defined]
        return sorted(by_category)

    def plans_for(self, category: str) -> list[Plan]:
        by_category: dict[str, list[Plan]] = self._by_category  # type: ignore[attr-defined]
        return list(by_category.get(category, ()))

    def matches(self, product: Product) -> list[tuple[Plan, int]]:
        """Every plan that fits `product`, in catalog order, with its price."""
        if self.is_plan(product.id):
            return []
        found = []
        by_category: dict[str, list[Plan]] = self._by_category  # type: ignore[attr-defined]
        for plan in by_category.get(product.category, ()):  # catalog order within a category
            price = plan.price_for(product)
            if price is not None:
                found.append((plan, price))
        return found


OFFERS_KEPT = 4096


def offer(catalog: Catalog, product: Product) -> dict[str, Any]:
    """The body of a plan look-up: the product as asked about, and its matching plans.
    A catalog never changes, so its answer for a product is kept (callers must not
    change the answer they get)."""
    kept: dict[Product, dict[str, Any]] = catalog._offers  # type: ignore[attr-defined]
    answer = kept.get(product)
    if answer is None:
        if len(kept) >= OFFERS_KEPT:
            kept.clear()
        answer = kept[product] = _offer(catalog, product)
    return answer


def _offer(catalog: Catalog, product: Product) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": product.id, "category": product.category}
    if product.title is not None:
        shown["title"] = product.title
    if product.brand is not None:
        shown["brand"] = product.brand
    shown["price_amount"] = product.price_amount
    shown["price_currency"] = product.price_currency
    return {
        "product": shown,
        "plans": [
            {
                "merchant_product_id": plan.merchant_product_id,
                "price_amount": price,
                "price_currency": plan.currency,
                "product_reference": product.id,
                "title": dict(plan.title),
                "insurance_details_url": plan.insurance_details_url,
            }
            for plan, price in catalog.matches(product)
        ],
    }


MAX_LISTED = 10  # categories, plans or bands named in one message


def unsupported(catalog: Catalog, product: Product) -> SimError:
    """Why `product` matches no plan (docs, troubleshooting: `product_unsupported`)."""
    return SimError("product_unsupported", unsupported_reason(catalog, product) + ": show no protection offer for this product")


def unsupported_reason(catalog: Catalog, product: Product) -> str:
    if catalog.is_plan(product.id):
        return (
            f"product {product.id!r} is itself a protection plan of the catalog (a merchant_product_id); "
            "a plan is not a protectable product"
        )
    plans = catalog.plans_for(product.category)
    if not plans:
        return (
            f"product_category {product.category!r} has no protection plan; the categories with plans are "
            f"{_listed(catalog.categories())}"
        )
    in_currency = [p for p in plans if p.currency == product.price_currency]
    if not in_currency:
        return (
            f"no plan for category {product.category!r} is sold in {product.price_currency!r}; its plans are "
            f"sold in {_listed(sorted({p.currency for p in plans}))}"
        )
    bands = "; ".join(
        f"{p.merchant_product_id}: " + ", ".join(_band(b) for b in p.price_bands[:MAX_LISTED]) for p in in_currency[:MAX_LISTED]
    )
    return (
        f"product_price_amount {product.price_amount} {product.price_currency} is outside every price band of "
        f"category {product.category!r} in {product.price_currency!r} (list prices in {product.price_currency}, in "
        f"minor units, from inclusive to exclusive: {bands})"
    )


def _band(band: PriceBand) -> str:
    high = "" if band.max_price_amount is None else str(band.max_price_amount)
    return f"{band.min_price_amount}-{high}" if high else f"{band.min_price_amount} and up"


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def product_from_query(query: Mapping[str, Any]) -> Product:
    return Product(
        id=query["product_id"],
        category=query["product_category"],
        price_amount=query["product_price_amount"],
        price_currency=query["product_price_currency"],
        title=query.get("product_title"),
        brand=query.get("product_brand"),
    )
