"""Ids the importer makes itself. Pure apart from the clock and randomness."""

from __future__ import annotations

import secrets
import time


class Uuids:
    """Time-ordered UUIDs (the version 7 layout, with a counter in the last 48 bits): ids made
    one after another sort one after another, so the primary-key index they go into grows at its
    right edge instead of being written all over, which keeps a bulk load fast."""

    def __init__(self) -> None:
        millis = time.time_ns() // 1_000_000
        head = f"{millis & (2**48 - 1):012x}"
        rand_a = secrets.randbits(12)
        rand_b = 0x8000 | secrets.randbits(14)
        self._prefix = f"{head[:8]}-{head[8:]}-7{rand_a:03x}-{rand_b:04x}-"
        self._count = secrets.randbits(20)

    def next(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:012x}"
