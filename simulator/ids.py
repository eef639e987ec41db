"""Generated ids. With a seed (`hakuna-sim serve --seed N`) every id is reproducible,
so two recorded runs compare line by line; seeded ids keep their documented form
(`evt-` plus a valid uuid4)."""

from __future__ import annotations

import hashlib
import random
import uuid


class IdFactory:
    def __init__(self, seed: int | None = None, scope: str = ""):
        if seed is None:
            self._random: random.Random | None = None
        else:
            # Each tenant draws from its own stream, so parallel tenants stay reproducible.
            digest = hashlib.sha256(f"{seed}:{scope}".encode()).digest()
            self._random = random.Random(int.from_bytes(digest[:8], "big"))

    def uuid4(self) -> str:
        if self._random is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def event_id(self) -> str:
        return "evt-" + self.uuid4()

    def protection_id(self) -> str:
        return "prt-" + self.uuid4()

    def request_id(self) -> str:
        return "req-" + self.uuid4()
