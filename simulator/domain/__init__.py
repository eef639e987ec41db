"""The rules of the vendor's API as plain Python: plan matching, carts and their reconciliation,
checkouts, orders and protections, idempotency, faults. No I/O, no HTTP; errors are data."""
