"""Typed request and response bodies of the Hakuna API, as pydantic models.

They follow `schemas/` (the published contract); `tests/test_models.py` proves the two
agree on generated documents. Responses are closed (`extra="forbid"`) and strict, so a
server that adds, drops or mistypes a field fails validation instead of passing unseen.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    model_validator,
)

from simulator.contract import schemas


@cache
def _codes(definition: str) -> frozenset[str]:
    return frozenset(schemas.documents()["common.json"]["$defs"][definition]["enum"])


def _in(definition: str, what: str):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if value not in _codes(definition):
            raise ValueError(f"must be {what}")
        return value

    return check


def _rfc3339(value: str) -> str:
    if not schemas.is_rfc3339(value):
        raise ValueError("must be an RFC 3339 timestamp")
    return value


Id = Annotated[StrictStr, Field(min_length=1)]
Amount = Annotated[StrictInt, Field(ge=0)]
Quantity = Annotated[StrictInt, Field(ge=1)]
Currency = Annotated[StrictStr, AfterValidator(_in("currency", "a lower-case ISO 4217 code"))]
Country = Annotated[StrictStr, AfterValidator(_in("country", "a lower-case ISO 3166-1 alpha-2 code"))]
Timestamp = Annotated[StrictStr, AfterValidator(_rfc3339)]
Email = Annotated[StrictStr, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


WIRE = {"wire": True}  # validation context of documents read from JSON


class Body(BaseModel):
    """A response body: closed and strict, as its schema."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _optional_is_not_nullable(cls, data: Any, info: ValidationInfo) -> Any:
        # On the wire, the schemas let an optional field be left out, never be null (only
        # required fields such as an order's cancelled_at are nullable). In Python, None
        # means "left out", so the rule holds for documents read with WIRE only.
        if info.context == WIRE and isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if value is None and field is not None and not field.is_required():
                    raise ValueError(f"{name} may be left out, but not null")
        return data


class Request(Body):
    """A request body: unknown fields are ignored, as the API ignores them."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


# -- requests ---------------------------------------------------------------------------


class PlanQuery(Request):
    product_id: Id
    product_category: Id
    product_price_amount: Amount
    product_price_currency: Currency
    user_session_id: Id
    product_title: StrictStr | None = None
    product_brand: StrictStr | None = None


class CustomProperties(Request):
    product_reference: Id | None = None


class LineItem(Request):
    id: Id
    quantity: Quantity
    price_amount: Amount
    product_id: Id
    product_title: StrictStr | None = None
    product_brand: StrictStr | None = None
    custom_properties: CustomProperties | None = None


class CartUpdate(Request):
    cart_id: Id
    user_session_id: Id
    cart_currency: Currency
    line_items: list[LineItem]


class Checkout(Request):
    cart_id: Id
    user_session_id: Id
    order_id: Id


class Customer(Request):
    first_name: Id
    last_name: Id
    email: Email


class BillingAddress(Request):
    address_line_1: Id
    address_line_2: StrictStr | None = None
    city: Id
    country: Country
    zip: Id


class OrderPlacedPayload(Request):
    order_id: Id
    placed_at: Timestamp
    order_currency: Currency
    cart_id: Id | None = None
    customer: Customer
    customer_billing_address: BillingAddress
    line_items: Annotated[list[LineItem], Field(min_length=1)]


class FulfilledLine(Request):
    line_item_id: Id
    quantity: Quantity
    fulfilled_at: Timestamp


class RefundedLine(Request):
    line_item_id: Id
    quantity: Quantity
    refunded_at: Timestamp


class FulfillmentPayload(Request):
    order_id: Id
    fulfillment_line_items: Annotated[list[FulfilledLine], Field(min_length=1)]


class RefundPayload(Request):
    order_id: Id
    refund_line_items: Annotated[list[RefundedLine], Field(min_length=1)]


class CancellationPayload(Request):
    order_id: Id
    cancelled_at: Timestamp


class OrderPlaced(Request):
    type: Literal["order_placed"] = "order_placed"
    payload: OrderPlacedPayload


class OrderFulfillmentAdded(Request):
    type: Literal["order_fulfillment_added"] = "order_fulfillment_added"
    payload: FulfillmentPayload


class OrderRefundAdded(Request):
    type: Literal["order_refund_added"] = "order_refund_added"
    payload: RefundPayload


class OrderCancelled(Request):
    type: Literal["order_cancelled"] = "order_cancelled"
    payload: CancellationPayload


Event = Annotated[OrderPlaced | OrderFulfillmentAdded | OrderRefundAdded | OrderCancelled, Field(discriminator="type")]


# -- responses --------------------------------------------------------------------------


class OfferedProduct(Body):
    id: Id
    category: Id
    title: StrictStr | None = None
    brand: StrictStr | None = None
    price_amount: Amount
    price_currency: Currency


class Plan(Body):
    merchant_product_id: Id
    price_amount: Amount
    price_currency: Currency
    product_reference: Id
    title: Annotated[dict[str, StrictStr], Field(min_length=1)]
    insurance_details_url: StrictStr


class PlanOffer(Body):
    product: OfferedProduct
    plans: list[Plan]


class UpdateLineItemPayload(Body):
    line_item_id: Id
    line_item_quantity: Quantity


class RemoveLineItemPayload(Body):
    line_item_id: Id


class UpdateLineItem(Body):
    type: Literal["update_line_item"]
    payload: UpdateLineItemPayload


class RemoveLineItem(Body):
    type: Literal["remove_line_item"]
    payload: RemoveLineItemPayload


CartAction = Annotated[UpdateLineItem | RemoveLineItem, Field(discriminator="type")]


class CartActions(Body):
    cart_id: Id
    user_session_id: Id
    actions: list[CartAction]


class PlanConnection(Body):
    product_line_item_id: Id
    plan_line_item_id: Id


class CartConnections(Body):
    cart_id: Id
    plan_connections: list[PlanConnection]


class OrderConnections(Body):
    order_id: Id
    plan_connections: list[PlanConnection]


class EventAccepted(Body):
    event_id: Annotated[StrictStr, Field(pattern=r"^evt-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]


class EventRecord(Body):
    event_id: StrictStr
    type: Literal["order_placed", "order_fulfillment_added", "order_refund_added", "order_cancelled"]
    payload: dict[str, object]
    received_at: Timestamp


class OrderLine(Body):
    id: Id
    product_id: Id
    kind: Literal["product", "plan"]
    quantity: Quantity
    fulfilled_quantity: Annotated[StrictInt, Field(ge=0)]
    refunded_quantity: Annotated[StrictInt, Field(ge=0)]


class Protection(Body):
    protection_id: StrictStr
    plan_line_item_id: Id
    product_line_item_id: Id
    merchant_product_id: Id
    status: Literal["pending", "active", "refunded", "cancelled"]
    starts_at: Timestamp | None
    ends_at: Timestamp | None


class Order(Body):
    order_id: Id
    status: Literal["placed", "cancelled"]
    order_currency: Currency
    cart_id: Id | None
    placed_at: Timestamp
    cancelled_at: Timestamp | None
    line_items: list[OrderLine]
    protections: list[Protection]

    def line(self, line_id: str) -> OrderLine:
        return next(l for l in self.line_items if l.id == line_id)


class ErrorDetail(Body):
    error_code: Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    validation_errors: list[StrictStr]


class ErrorBody(Body):
    error: ErrorDetail


def timestamp(moment: datetime) -> str:
    """An aware datetime as the API writes timestamps."""
    from simulator.domain.timefmt import format_timestamp

    text = format_timestamp(moment)
    assert text is not None
    return text
