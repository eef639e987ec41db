"""What `hakuna-sim serve` was started with; shared by every tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.domain.matching import Catalog
from simulator.domain.orders import RefundWindows


@dataclass(frozen=True)
class SimConfig:
    catalog: Catalog
    strict: bool = False  # guide quirks and no-match look-ups become errors
    seed: int | None = None  # reproducible generated ids
    refund_windows: RefundWindows = field(default_factory=RefundWindows)
    faults: tuple[dict[str, Any], ...] = ()  # rule bodies (schemas/sim-faults.json) every key starts with
    rate_limit: float | None = None  # requests a second per key
    magic_values: bool = False  # README "Magic values"
    # Memory bounds (docs/fidelity.md, "Limits"): the least recently used tenants are
    # evicted past `max_tenants`, past `memory_budget` bytes of tracked state in all, or
    # after `tenant_idle_seconds` without a request; one tenant holds at most
    # `tenant_state_limit` bytes of carts, orders and events.
    max_tenants: int = 10_000
    tenant_idle_seconds: float = 24 * 3600
    memory_budget: int = 256 * 1024 * 1024
    tenant_state_limit: int = 64 * 1024 * 1024
    # Shadow mode: every vendor request goes to this API (e.g. the real sandbox) too.
    upstream: str | None = None
    upstream_timeout: float = 10.0
    # A shared server (simulator/web/admin.py): the token that opens server-wide routes
    # (None: they are off), and whether the /__sim surface and the dashboard are served.
    admin_token: str | None = None
    sim_api: bool = True
    # The process's cyclic collector is the server's own (simulator/web/workers.py):
    # paused while reports and snapshots run on worker threads, and kept from what has
    # lived long. `serve` only, never a server inside a user's process.
    own_collector: bool = False
    # What of the process's time those works may take while requests are being answered
    # (simulator/web/workers.py): `serve` leaves the requests three quarters of it.
    background_share: float = 1.0
