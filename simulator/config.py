"""What `hakuna-sim serve` was started with; shared by every tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.matching import Catalog
from simulator.orders import RefundWindows


@dataclass(frozen=True)
class SimConfig:
    catalog: Catalog
    strict: bool = False  # guide quirks and no-match look-ups become errors
    seed: int | None = None  # reproducible generated ids
    refund_windows: RefundWindows = field(default_factory=RefundWindows)
    faults: tuple[dict[str, Any], ...] = ()  # rule bodies (schemas/sim-faults.json) every key starts with
    rate_limit: float | None = None  # requests a second per key
    magic_values: bool = False  # README "Magic values"
