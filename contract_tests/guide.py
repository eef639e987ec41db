"""The vendor integration guide's examples ("ERP + E-commerce integration"), verbatim.

Tests send these exactly as the guide writes them: its `Bearer:` header, its
`/sandbox/orders` URL for every POST, its bodies and its ids.
"""

from __future__ import annotations

from typing import Any

API_KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
GUIDE_HEADERS = {"Bearer": API_KEY, "Content-Type": "application/json"}
GUIDE_POST_URL = "/sandbox/orders"
SESSION = "f4f78677-31ea-4fea-9d91-5fdd91119aa8"

PLAN_QUERY: dict[str, Any] = {
    "product_id": "prd-iphone14",
    "product_category": "smartphones",
    "product_title": "iPhone 14",
    "product_brand": "Apple",
    "product_price_amount": 112900,
    "product_price_currency": "eur",
    "user_session_id": SESSION,
}

PLAN_RESPONSE: dict[str, Any] = {
    "product": {
        "id": "prd-iphone14",
        "category": "smartphones",
        "title": "iPhone 14",
        "brand": "Apple",
        "price_amount": 112900,
        "price_currency": "eur",
    },
    "plans": [
        {
            "merchant_product_id": "pl-prd-hakuna",
            "price_amount": 1200,
            "price_currency": "eur",
            "product_reference": "prd-iphone14",
            "title": {"de": "1 Jahr Garantieerweiterung"},
            "insurance_details_url": "https://hellohakuna.com/plan-details",
        }
    ],
}

CART_CONNECTIONS_RESPONSE: dict[str, Any] = {
    "cart_id": "cart-123",
    "plan_connections": [{"product_line_item_id": "line-item-id-3311", "plan_line_item_id": "line-item-id-3322"}],
}

# Sent verbatim (with the guide's whitespace) where a test needs the exact bytes.
CART_UPDATE_TEXT = """{
  "cart_id": "cart-123",
  "user_session_id": "f4f78677-31ea-4fea-9d91-5fdd91119aa8",
  "cart_currency": "eur",
  "line_items": [
    {
      "id": "line-item-id-3311",
      "quantity": 1,
      "price_amount": 20000,
      "product_id": "prd-iphone14",
      "product_title": "iPhone 14",
      "product_brand": "Apple"
    },
    {
      "id": "line-item-id-3322",
      "quantity": 1,
      "price_amount": 2000,
      "product_id": "pl-prd-hakuna",
      "product_title": "Hakuna.care protection",
      "product_brand": "Hakuna",
      "custom_properties": {
        "product_reference": "prd-iphone14"
      }
    },
    {
      "id": "line-item-id-4411",
      "quantity": 1,
      "price_amount": 1200,
      "product_id": "prd-bb-32",
      "product_title": "Silikon Case iPhone 14",
      "product_brand": "Apple"
    }
  ]
}"""

# "what cart management action you would need to take if the quantity of the protected
# product line-item-3311 was increased to 2"
CART_QUANTITY_TWO_RESPONSE: dict[str, Any] = {
    "cart_id": "cart-123",
    "user_session_id": "f4f78677-31ea-4fea-9d91-5fdd91119aa8",
    "actions": [{"type": "update_line_item", "payload": {"line_item_id": "line-item-id-3322", "line_item_quantity": 2}}],
}

CHECKOUT_TEXT = """{
  "cart_id": "cart-123",
  "user_session_id": "f4f78677-31ea-4fea-9d91-5fdd91119aa8",
  "order_id": "ord-123"
}"""

CHECKOUT_RESPONSE: dict[str, Any] = {
    "cart_id": "cart-123",
    "user_session_id": "f4f78677-31ea-4fea-9d91-5fdd91119aa8",
    "order_id": "ord-123",
}

ORDER_PLACED_TEXT = """{
  "type": "order_placed",
  "payload": {
    "order_id": "ord-123",
    "placed_at": "2022-02-20T00:00:00.000Z",
    "order_currency": "eur",
    "cart_id": "cart-123",
    "customer": {
      "first_name": "Max",
      "last_name": "Mustermann",
      "email": "max.mustermann@example.com"
    },
    "customer_billing_address": {
      "address_line_1": "Musterstrasse",
      "address_line_2": "1",
      "city": "Musterstadt",
      "country": "de",
      "zip": "123456"
    },
    "line_items": [
      {
        "id": "line-item-id-3311",
        "quantity": 1,
        "price_amount": 112900,
        "product_id": "prd-iphone14",
        "product_title": "iPhone 14",
        "product_brand": "Apple"
      },
      {
        "id": "line-item-id-3322",
        "quantity": 1,
        "price_amount": 1200,
        "product_id": "pl-prd-hakuna",
        "product_title": "1 Jahr Garantieerweiterung",
        "product_brand": "Hakuna",
        "custom_properties": {
          "product_reference": "prd-iphone14"
        }
      },
      {
        "id": "line-item-id-4411",
        "quantity": 1,
        "price_amount": 1200,
        "product_id": "prd-bb-32",
        "product_title": "Silicone Case iPhone 14",
        "product_brand": "Apple"
      }
    ]
  }
}"""

FULFILLMENT_TEXT = """{
  "type": "order_fulfillment_added",
  "payload": {
    "order_id": "ord-123",
    "fulfillment_line_items": [
      {
        "line_item_id": "line-item-id-3311",
        "quantity": 1,
        "fulfilled_at": "2022-02-21T12:51:14.158Z"
      },
      {
        "line_item_id": "line-item-id-4411",
        "quantity": 1,
        "fulfilled_at": "2022-02-21T12:51:14.158Z"
      }     
    ]
  }
}"""

REFUND_TEXT = """{
  "type": "order_refund_added",
  "payload": {
    "order_id": "ord-123",
    "refund_line_items": [
      {
        "line_item_id": "line-item-id-3311",
        "quantity": 1,
        "refunded_at": "2022-02-21T12:51:14.158Z"
      },
      {
        "line_item_id": "line-item-id-3322",
        "quantity": 1,
        "refunded_at": "2022-02-21T12:51:14.158Z"
      },
      {
        "line_item_id": "line-item-id-4411",
        "quantity": 1,
        "refunded_at": "2022-02-21T12:51:14.158Z"
      }     
    ]
  }
}"""

CANCELLATION_TEXT = """{
  "type": "order_cancelled",
  "payload": {
    "order_id": "ord-123",
    "cancelled_at": "2022-02-20T15:00:00.000Z"
  }
}"""
