"""Domain events that cross context boundaries, published after the writer's commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from stockade.core.ids import new_id
from stockade.core.model import RiskScore


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    tenant_id: str
    occurred_at: datetime
    event_id: str = field(default_factory=new_id)


@dataclass(frozen=True, kw_only=True)
class MachineRiskChanged(DomainEvent):
    """MTD: a machine's risk level changed (or was first set at onboarding)."""

    machine_id: str
    device_id: str
    """The directory device id (`aadDeviceId` on the machine)."""
    platform: str
    risk_score: RiskScore
    previous: RiskScore | None
    sequence: int
    """Monotonic per machine, so a stale push never overwrites a newer one."""


@dataclass(frozen=True, kw_only=True)
class MachineAlertsChanged(DomainEvent):
    """MTD: alerts of a machine were raised, updated or triaged (its risk may be unchanged)."""

    machine_id: str
    device_id: str


@dataclass(frozen=True, kw_only=True)
class DeviceComplianceChanged(DomainEvent):
    """MDM: a managed device's compliance state changed."""

    device_id: str
    compliance_state: str
    previous: str


@dataclass(frozen=True, kw_only=True)
class AccessPolicyChanged(DomainEvent):
    """Access: policies were created, changed or removed."""

    policy_id: str


@dataclass(frozen=True, kw_only=True)
class DirectoryChanged(DomainEvent):
    """Directory: users, groups, memberships, roles or device registrations changed."""

    object_id: str
    change: str


@dataclass(frozen=True, kw_only=True)
class NamedLocationsChanged(DomainEvent):
    """Access: named locations were created, changed or removed."""
