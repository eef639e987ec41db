"""What a request may do that the real API does not document, accepted here (or, with
--strict, refused) and named by the conformance report. Each is noted on the request's
journal entry."""

BEARER_HEADER = "bearer_header"  # the guide's "Bearer: <key>" instead of the docs' "Authorization: Bearer <key>"
ORDERS_URL = "orders_url"  # an order event posted to the guide's /sandbox/orders (the docs publish /sandbox/events)
NO_VERSION = "no_version"  # no Hakuna-Version header: the real API falls back to its oldest version (docs)
INTEGRAL_NUMBER = "integral_number"  # an integer written with a fraction (2.0): read as 2 (the simulator's rule)
