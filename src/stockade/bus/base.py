"""The bus contract.

How to implement a bus:
1. `subscribe(event_type, handler)` registers a handler for that exact event class.
2. `publish(event)` delivers the event to every handler of its class; the publisher calls it
   only after its own transaction committed.
3. A failing handler must not stop delivery to the others, nor fail the publisher (whose change
   is already committed); it is logged and counted in `failures` (`/metrics`).

The in-process bus delivers once, synchronously, and does not retry: what a failed handler or a
crash between commit and publish misses is repaired by reconciliation (the connector pushes
every machine's level again periodically; compliance is re-evaluated at every check-in). A
durable bus (NATS JetStream) with at-least-once delivery is the scale-out path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from stockade.core.events import DomainEvent

E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[DomainEvent], None]


class Bus(Protocol):
    failures: int

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None: ...

    def publish(self, event: DomainEvent) -> None: ...
