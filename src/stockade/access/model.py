"""Conditional access vocabulary, after Entra's `conditionalAccessPolicy` and `signIn`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class PolicyState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    REPORT_ONLY = "enabledForReportingButNotEnforced"


class Control(StrEnum):
    BLOCK = "block"
    COMPLIANT_DEVICE = "compliantDevice"


class PolicyResult(StrEnum):
    """`appliedConditionalAccessPolicies[].result`."""

    SUCCESS = "success"
    FAILURE = "failure"
    NOT_APPLIED = "notApplied"
    NOT_ENABLED = "notEnabled"
    REPORT_ONLY_SUCCESS = "reportOnlySuccess"
    REPORT_ONLY_FAILURE = "reportOnlyFailure"
    REPORT_ONLY_NOT_APPLIED = "reportOnlyNotApplied"


class AccessStatus(StrEnum):
    """`signIn.conditionalAccessStatus`."""

    SUCCESS = "success"
    FAILURE = "failure"
    NOT_APPLIED = "notApplied"


THREAT_DEFENSE_APP = "stockade-threat-defense"
"""The application id classic access policies protect: the MTD endpoints themselves."""


@dataclass(frozen=True)
class Conditions:
    include_users: tuple[str, ...] = ()
    exclude_users: tuple[str, ...] = ()
    include_groups: tuple[str, ...] = ()
    exclude_groups: tuple[str, ...] = ()
    include_applications: tuple[str, ...] = ()
    exclude_applications: tuple[str, ...] = ()
    include_platforms: tuple[str, ...] = ()
    exclude_platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessPolicy:
    id: str
    display_name: str
    state: PolicyState
    conditions: Conditions
    controls: tuple[Control, ...]
    operator: str  # OR | AND
    classic: bool = False
    connector_id: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True)
class AlertSummary:
    id: str
    title: str
    severity: str


@dataclass(frozen=True)
class DevicePosture:
    """What the evaluator knows of the device a request comes from."""

    device_id: str
    display_name: str
    platform: str
    is_compliant: bool
    compliance_state: str
    noncompliant_settings: tuple[dict[str, Any], ...] = ()
    threat_level: str | None = None
    active_alerts: tuple[AlertSummary, ...] = ()


@dataclass(frozen=True)
class SignInRequest:
    user_id: str
    user_principal_name: str
    group_ids: frozenset[str]
    app_id: str
    device: DevicePosture | None
    client_ip: str | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    policy_id: str
    display_name: str
    result: PolicyResult
    enforced_controls: tuple[str, ...]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: AccessStatus
    policies: tuple[PolicyOutcome, ...]
    reasons: tuple[str, ...]
    """The reason chain of the decision: policy -> control -> setting -> threat level -> alerts."""
    details: tuple[dict[str, Any], ...] = field(default=())
