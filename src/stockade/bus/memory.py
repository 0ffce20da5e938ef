"""In-process bus: handlers run synchronously in the publisher's thread.

Synchronous delivery is what makes the embedded default contain a device within one request:
the ingest call returns after risk, compliance and the access decision cache have all moved.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from stockade.core.events import DomainEvent

log = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Callable[[Any], None]]] = defaultdict(list)
        self.failures = 0

    def subscribe(self, event_type: type[DomainEvent], handler: Callable[[Any], None]) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, event: DomainEvent) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            try:
                handler(event)
            except Exception:
                self.failures += 1
                log.exception("bus handler %r failed on %s", handler, type(event).__name__)
