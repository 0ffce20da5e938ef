"""Decisions cached per request shape, dropped by events, never aged out by a TTL alone.

Any event that can change a decision (risk, compliance, policy, directory, location changes)
drops the tenant's entries at once, so the next request is evaluated afresh. A long backstop
age (default 10 minutes) only bounds what a missed event could cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class DecisionCache(Generic[V]):
    def __init__(self, max_entries: int = 100_000, backstop_seconds: float = 600.0) -> None:
        self.max_entries = max_entries
        self.backstop = backstop_seconds
        self._entries: dict[str, dict[Hashable, tuple[float, V]]] = {}
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.invalidations = 0

    def get(self, tenant_id: str, key: Hashable) -> V | None:
        entry = self._entries.get(tenant_id, {}).get(key)
        if entry is None or time.monotonic() - entry[0] > self.backstop:
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]

    def put(self, tenant_id: str, key: Hashable, value: V, generation: int) -> None:
        """Store unless the tenant was invalidated since `generation` was read."""
        with self._lock:
            if generation != self.generation(tenant_id):
                return
            entries = self._entries.setdefault(tenant_id, {})
            if len(entries) >= self.max_entries:
                entries.clear()
            entries[key] = (time.monotonic(), value)

    def generation(self, tenant_id: str) -> int:
        return self._generations.get(tenant_id, 0)

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._entries.pop(tenant_id, None)
            self._generations[tenant_id] = self._generations.get(tenant_id, 0) + 1
            self.invalidations += 1
