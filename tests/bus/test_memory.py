"""In-process bus: synchronous delivery by exact event type, failures isolated and counted."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from stockade.bus.memory import InProcessBus
from stockade.core.events import (
    AccessPolicyChanged,
    DeviceComplianceChanged,
    DomainEvent,
)

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class SpecialPolicyChanged(AccessPolicyChanged):
    """A subclass, to check that delivery is by exact type."""


def policy_changed(policy_id: str = "p1") -> AccessPolicyChanged:
    return AccessPolicyChanged(tenant_id="t1", occurred_at=NOW, policy_id=policy_id)


def compliance_changed() -> DeviceComplianceChanged:
    return DeviceComplianceChanged(
        tenant_id="t1",
        occurred_at=NOW,
        device_id="d1",
        compliance_state="noncompliant",
        previous="compliant",
    )


def test_publish_delivers_to_every_handler_of_the_type_in_order() -> None:
    bus = InProcessBus()
    seen: list[tuple[str, DomainEvent]] = []
    bus.subscribe(AccessPolicyChanged, lambda e: seen.append(("first", e)))
    bus.subscribe(AccessPolicyChanged, lambda e: seen.append(("second", e)))
    event = policy_changed()
    bus.publish(event)
    assert seen == [("first", event), ("second", event)]
    assert bus.failures == 0


def test_delivery_is_synchronous() -> None:
    bus = InProcessBus()
    seen: list[DomainEvent] = []
    bus.subscribe(AccessPolicyChanged, seen.append)
    bus.publish(policy_changed())
    assert len(seen) == 1  # already there when publish returns


def test_other_event_types_are_not_delivered() -> None:
    bus = InProcessBus()
    seen: list[DomainEvent] = []
    bus.subscribe(AccessPolicyChanged, seen.append)
    bus.publish(compliance_changed())
    assert seen == []


def test_delivery_is_by_exact_type_not_subclass() -> None:
    bus = InProcessBus()
    base_seen: list[DomainEvent] = []
    sub_seen: list[DomainEvent] = []
    bus.subscribe(AccessPolicyChanged, base_seen.append)
    bus.subscribe(SpecialPolicyChanged, sub_seen.append)
    special = SpecialPolicyChanged(tenant_id="t1", occurred_at=NOW, policy_id="p1")
    bus.publish(special)
    assert base_seen == []
    assert sub_seen == [special]


def test_handlers_on_domain_event_base_do_not_see_subclasses() -> None:
    bus = InProcessBus()
    seen: list[DomainEvent] = []
    bus.subscribe(DomainEvent, seen.append)
    bus.publish(policy_changed())
    assert seen == []


def test_publish_without_subscribers_is_a_no_op() -> None:
    bus = InProcessBus()
    bus.publish(policy_changed())
    assert bus.failures == 0


def test_failing_handler_does_not_stop_others_nor_raise(caplog: pytest.LogCaptureFixture) -> None:
    bus = InProcessBus()
    seen: list[DomainEvent] = []

    def broken(event: DomainEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(AccessPolicyChanged, broken)
    bus.subscribe(AccessPolicyChanged, seen.append)
    event = policy_changed()
    with caplog.at_level(logging.ERROR, logger="stockade.bus.memory"):
        bus.publish(event)  # does not raise
    assert seen == [event]
    assert bus.failures == 1
    assert any("AccessPolicyChanged" in r.getMessage() for r in caplog.records)


def test_failures_are_counted_per_failed_delivery() -> None:
    bus = InProcessBus()

    def broken(event: DomainEvent) -> None:
        raise ValueError("bad")

    bus.subscribe(AccessPolicyChanged, broken)
    bus.subscribe(AccessPolicyChanged, broken)
    bus.publish(policy_changed("p1"))
    bus.publish(policy_changed("p2"))
    assert bus.failures == 4


def test_handler_subscribing_during_publish_does_not_break_delivery() -> None:
    bus = InProcessBus()
    seen: list[str] = []

    def subscribes_another(event: DomainEvent) -> None:
        seen.append("first")
        bus.subscribe(AccessPolicyChanged, lambda e: seen.append("late"))

    bus.subscribe(AccessPolicyChanged, subscribes_another)
    bus.publish(policy_changed())
    assert seen == ["first"]
    assert bus.failures == 0
