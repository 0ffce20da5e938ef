"""Conditional access vocabulary, after Entra's `conditionalAccessPolicy` and `signIn`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network
from typing import Any, NamedTuple

from stockade.access.device_filter import DeviceFilter


class PolicyState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    REPORT_ONLY = "enabledForReportingButNotEnforced"


class Control(StrEnum):
    BLOCK = "block"
    MFA = "mfa"
    COMPLIANT_DEVICE = "compliantDevice"
    DOMAIN_JOINED_DEVICE = "domainJoinedDevice"
    COMPLIANT_APPLICATION = "compliantApplication"
    APPROVED_APPLICATION = "approvedApplication"
    PASSWORD_CHANGE = "passwordChange"


class ClientAppType(StrEnum):
    ALL = "all"
    BROWSER = "browser"
    MOBILE_AND_DESKTOP = "mobileAppsAndDesktopClients"
    EXCHANGE_ACTIVE_SYNC = "exchangeActiveSync"
    OTHER = "other"


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

ALL = "All"
NONE = "None"


@dataclass(frozen=True)
class Unobserved:
    """A part of an imported policy that Stockade cannot observe, and how decisions treat it."""

    path: str
    treatment: str


@dataclass(frozen=True)
class Conditions:
    include_users: tuple[str, ...] = ()
    exclude_users: tuple[str, ...] = ()
    include_groups: tuple[str, ...] = ()
    exclude_groups: tuple[str, ...] = ()
    include_roles: tuple[str, ...] = ()
    exclude_roles: tuple[str, ...] = ()
    include_applications: tuple[str, ...] = ()
    exclude_applications: tuple[str, ...] = ()
    include_platforms: tuple[str, ...] = ()
    exclude_platforms: tuple[str, ...] = ()
    include_locations: tuple[str, ...] = ()
    exclude_locations: tuple[str, ...] = ()
    client_app_types: tuple[str, ...] = (ClientAppType.ALL.value,)
    device_filter_mode: str | None = None
    device_filter: DeviceFilter | None = None
    targets_unobservable: str | None = None
    """Set when the policy targets only things never seen here (user actions, workload
    identities): it then never applies, and this says why."""


@dataclass(frozen=True)
class AccessPolicy:
    id: str
    display_name: str
    state: PolicyState
    conditions: Conditions
    controls: tuple[Control, ...]
    operator: str  # OR | AND
    requirements: tuple[str, ...] = ()
    """Grant requirements only the caller can satisfy (authentication strength)."""
    unenforceable: tuple[str, ...] = ()
    """Grant controls no caller can satisfy here (terms of use, custom factors)."""
    unobserved: tuple[Unobserved, ...] = ()
    definition: dict[str, Any] = field(default_factory=dict, compare=False)
    """The policy as Graph JSON, as stored and returned."""
    classic: bool = False
    connector_id: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


@dataclass(frozen=True)
class NamedLocation:
    id: str
    display_name: str
    is_trusted: bool
    ranges: tuple[IPv4Network | IPv6Network, ...]
    countries: tuple[str, ...] = ()
    """A country location cannot be observed here (no geolocation): policies treat an
    address as inside it when including, and never as inside it when excluding."""
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
    trust_type: str = ""
    operating_system_version: str = ""
    noncompliant_settings: tuple[dict[str, Any], ...] = ()
    threat_level: str | None = None
    active_alerts: tuple[AlertSummary, ...] = ()
    extension_attributes: dict[str, str] = field(default_factory=dict, compare=False)

    @cached_property
    def filter_properties(self) -> dict[str, Any]:
        """The device as Entra's filter-for-devices rule language sees it."""
        return {
            "deviceId": self.device_id,
            "displayName": self.display_name,
            "operatingSystem": self.platform,
            "operatingSystemVersion": self.operating_system_version,
            "trustType": self.trust_type,
            "isCompliant": self.is_compliant,
            **self.extension_attributes,
        }


@dataclass(frozen=True)
class SignInRequest:
    user_id: str
    user_principal_name: str
    group_ids: frozenset[str]
    app_id: str
    device: DevicePosture | None
    role_ids: frozenset[str] = frozenset()
    client_app_type: str = ClientAppType.BROWSER.value
    client_ip: str | None = None
    location_ids: frozenset[str] = frozenset()
    """Named locations the client address falls in."""
    unknown_location_ids: frozenset[str] = frozenset()
    """Locations whose membership cannot be known (country locations, ids defined elsewhere):
    an include of one counts as met, an exclude never does, so nothing is silently allowed."""
    trusted_location: bool = False
    mfa_satisfied: bool = False
    app_protected: bool = False
    """The client app is protected by an app protection policy (reported by the caller)."""


class PolicyOutcome(NamedTuple):
    """One policy's result for one sign-in (a tuple: decisions build a hundred of these)."""

    policy_id: str
    display_name: str
    result: PolicyResult
    enforced_controls: tuple[str, ...]
    reasons: tuple[str, ...]
    unmatched_condition: str | None = None
    requirements: tuple[str, ...] = ()
    unobserved: tuple[Unobserved, ...] = ()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: AccessStatus
    policies: tuple[PolicyOutcome, ...]
    reasons: tuple[str, ...]
    """The reason chain of the decision: policy -> control -> setting -> threat level -> alerts."""
    details: tuple[dict[str, Any], ...] = field(default=())
    requirements: tuple[str, ...] = ()
    """What the caller could still satisfy to be allowed (e.g. `mfa`); empty when any policy
    fails for a reason no sign-in step can fix."""
