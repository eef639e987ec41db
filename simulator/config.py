"""What `hakuna-sim serve` was started with; shared by every tenant."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.matching import Catalog
from simulator.orders import RefundWindows


@dataclass(frozen=True)
class SimConfig:
    catalog: Catalog
    strict: bool = False  # guide quirks and no-match look-ups become errors
    seed: int | None = None  # reproducible generated ids
    refund_windows: RefundWindows = field(default_factory=RefundWindows)
