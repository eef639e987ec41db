"""Generated ids. With a seed (`hakuna-sim serve --seed N`) every id is reproducible,
so two recorded runs compare line by line; seeded ids keep their documented form
(`evt-` plus a valid uuid4)."""

from __future__ import annotations

import hashlib
import os
import random

_VERSION_4 = 0x4 << 76
_VARIANT_RFC4122 = 0x8 << 60
_CLEAR = ~((0xF << 76) | (0xC << 60))


# Unseeded ids: one generator for the process, seeded by the operating system. Ids need
# to be unique, not secret, and this costs a tenth of reading os.urandom per id.
_UNSEEDED = random.Random(os.urandom(32))


class IdFactory:
    """Ids for one tenant. Unseeded, they come from one generator the process shares,
    with no state per tenant; seeded, from a counter hashed with the seed and the
    tenant's key (a few bytes of state), so thousands of tenants cost next to nothing."""

    __slots__ = ("_prefix", "_count")

    def __init__(self, seed: int | None = None, scope: str = ""):
        self._prefix = None if seed is None else f"{seed}:{scope}:".encode()
        self._count = 0

    @property
    def generated(self) -> int:
        """How many seeded ids were drawn (what a restart must go on from)."""
        return self._count

    def go_on_from(self, count: int) -> None:
        self._count = count

    def _bits(self) -> int:
        if self._prefix is None:
            return _UNSEEDED.getrandbits(128)
        self._count += 1
        digest = hashlib.sha256(self._prefix + str(self._count).encode()).digest()
        return int.from_bytes(digest[:16], "big")

    def uuid4(self) -> str:
        """A version-4 (random) UUID, formatted as uuid.UUID formats one."""
        n = (self._bits() & _CLEAR) | _VERSION_4 | _VARIANT_RFC4122
        h = f"{n:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def event_id(self) -> str:
        return "evt-" + self.uuid4()

    def protection_id(self) -> str:
        return "prt-" + self.uuid4()

    def request_id(self) -> str:
        return "req-" + self.uuid4()
