"""Checkout linking (docs/contract.md §6): the shop tells Hakuna which order a cart became.

A checkout needs a known cart and that cart's own session. Repeating the same triple is
fine (a retry); the same cart with another order id is refused, and so is an order id
already linked to another cart. From its checkout on, a cart is frozen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from simulator.domain.carts import Cart
from simulator.domain.errors import Refusals, Rules, SimError, not_found


def check_out(
    cart: Cart | None,
    cart_of_order: Mapping[str, str],
    cart_id: str,
    user_session_id: str,
    order_id: str,
    rules: Rules = Refusals,
) -> Cart | None:
    """The cart as checked out as `order_id` (a new object: the stored cart is not
    changed), or None when there is no such cart (tolerated); `cart_of_order` indexes
    which cart each order id came from."""
    refusals = rules()
    if cart is None:
        refusals.refuse(
            not_found(f"no cart {cart_id!r}: send the cart update (POST /sandbox/orders, the guide's URL) before its checkout")
        )
        return None
    if cart.user_session_id != user_session_id:
        refusals.refuse(
            SimError(
                "user_session_mismatch",
                f"user_session_id does not match cart {cart_id!r}: send the session id of the cart's last update",
            )
        )
    if cart.order_id is not None and cart.order_id != order_id:
        refusals.refuse(
            SimError(
                "cart_checked_out",
                f"cart {cart_id!r} was already checked out as order {cart.order_id!r}; a cart becomes one order",
            )
        )
    other = cart_of_order.get(order_id)
    if other is not None and other != cart_id:
        refusals.refuse(
            SimError(
                "order_already_linked", f"order {order_id!r} is already linked to cart {other!r}; an order comes from one cart"
            )
        )
    return dataclasses.replace(cart, order_id=order_id)
