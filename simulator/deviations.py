"""The guide's quirks: what the guide shows that the real API does not do. The fake
accepts them (or, with --strict, refuses them) and the conformance report names them."""

BEARER_HEADER = "bearer_header"  # "Bearer: <key>" instead of "Authorization: Bearer <key>"
ORDERS_URL = "orders_url"  # every POST to /sandbox/orders
NO_VERSION = "no_version"  # no Hakuna-Version header: the real API falls back to its oldest
