"""MDM records with Intune's (Microsoft Graph) vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stockade.core.model import Platform, ThreatLevel


class DevicePlatform(StrEnum):
    """Platforms a device can enroll as: the shared `Platform` ones plus Linux, which only
    device management knows (the reference agent runs on it; threat defense has no Linux
    toggle on the connector yet). Values equal `Platform`'s, so the two compare equal."""

    WINDOWS = "windows"
    ANDROID = "android"
    IOS = "iOS"
    LINUX = "linux"


class ComplianceState(StrEnum):
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "notApplicable"
    COMPLIANT = "compliant"
    IN_GRACE_PERIOD = "inGracePeriod"
    NONCOMPLIANT = "noncompliant"
    CONFLICT = "conflict"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Intune's order for "the worst of several policies" (conflict sits just below error)."""
        return _STATE_ORDER.index(self)


_STATE_ORDER = list(ComplianceState)


class SettingState(StrEnum):
    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"
    NOT_APPLICABLE = "notApplicable"
    CONFLICT = "conflict"
    ERROR = "error"
    NOT_EVALUATED = "notEvaluated"
    """Imported anyway but not supported here: shown, never counted."""


class ActionType(StrEnum):
    """`deviceComplianceActionItem.actionType` values we act on."""

    NO_ACTION = "noAction"
    BLOCK = "block"
    NOTIFICATION = "notification"
    PUSH_NOTIFICATION = "pushNotification"
    REMOTE_LOCK = "remoteLock"
    RETIRE = "retire"


@dataclass(frozen=True)
class ScheduledAction:
    action_type: ActionType
    grace_period_hours: int
    notification_template_id: str | None = None
    cc: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionTimer:
    """One scheduled action for one noncompliance episode of a device under a policy."""

    id: str
    device_id: str
    policy_id: str
    action: ScheduledAction
    episode: datetime
    due_at: datetime
    fired_at: datetime | None = None
    result: str | None = None


@dataclass(frozen=True)
class DeviceCommand:
    """Something queued for the device's agent (Graph `deviceActionResult.actionName`)."""

    id: str
    device_id: str
    action_name: str
    payload: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class LocalizedMessage:
    locale: str
    subject: str
    message_template: str
    is_default: bool


@dataclass(frozen=True)
class NotificationTemplate:
    """Graph `notificationMessageTemplate` with its `localizedNotificationMessages`."""

    id: str
    display_name: str
    default_locale: str
    messages: tuple[LocalizedMessage, ...]
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    """Graph `auditEvent` (deviceManagement/auditEvents), kept for device actions."""

    id: str
    activity_at: datetime
    activity: str
    actor: dict[str, Any]
    resources: tuple[dict[str, Any], ...]
    result: str


APP_PROTECTION_TYPES: dict[str, Platform] = {
    "#microsoft.graph.androidManagedAppProtection": Platform.ANDROID,
    "#microsoft.graph.iosManagedAppProtection": Platform.IOS,
}
ALL_LICENSED_USERS = "allLicensedUsers"


@dataclass(frozen=True)
class AppProtectionPolicy:
    """Graph `androidManagedAppProtection` / `iosManagedAppProtection` (the MTD part)."""

    id: str
    odata_type: str
    display_name: str
    description: str
    maximum_allowed_device_threat_level: ThreatLevel | None
    """None is Graph's `notConfigured`."""
    mobile_threat_defense_remediation_action: str
    """`block`, `wipe` or `warn`."""
    apps: tuple[str, ...]
    """Package ids (Android) or bundle ids (iOS) the policy protects."""
    created_at: datetime
    modified_at: datetime
    unsupported: dict[str, Any] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    """Group ids, or `allLicensedUsers`."""
    version: int = 1

    @property
    def platform(self) -> Platform:
        return APP_PROTECTION_TYPES[self.odata_type]


@dataclass(frozen=True)
class TenantSettings:
    """Graph `deviceManagementSettings`."""

    secure_by_default: bool = False
    """Mark devices with no compliance policy assigned as noncompliant."""
    checkin_threshold_days: int = 30
    """`deviceComplianceCheckinThresholdDays`: a device silent for longer is noncompliant."""


class JoinType(StrEnum):
    AZURE_AD_JOINED = "azureADJoined"
    HYBRID_AZURE_AD_JOINED = "hybridAzureADJoined"
    AZURE_AD_REGISTERED = "azureADRegistered"

    @property
    def trust_type(self) -> str:
        """Entra `device.trustType` for this join."""
        return {
            JoinType.AZURE_AD_JOINED: "AzureAd",
            JoinType.HYBRID_AZURE_AD_JOINED: "ServerAd",
            JoinType.AZURE_AD_REGISTERED: "Workplace",
        }[self]


ONBOARDING_PROFILE_TYPE = "#microsoft.graph.windowsDefenderAdvancedThreatProtectionConfiguration"
ANDROID_MTD_APP_CONFIG_TYPE = "#microsoft.graph.androidManagedStoreAppConfiguration"

# the settings an admin may set on each profile type, with their defaults
PROFILE_SETTINGS: dict[str, dict[str, Any]] = {
    ONBOARDING_PROFILE_TYPE: {
        "allowSampleSharing": True,
        "enableExpeditedTelemetryReporting": False,
    },
    ANDROID_MTD_APP_CONFIG_TYPE: {
        "packageId": "com.stockade.mtd",
        "antiPhishingEnabled": True,
        "vpnEnabled": True,
    },
}
# platforms a profile type applies to; other devices report it as notApplicable
PROFILE_PLATFORMS: dict[str, frozenset[Platform]] = {
    ONBOARDING_PROFILE_TYPE: frozenset(DevicePlatform),
    ANDROID_MTD_APP_CONFIG_TYPE: frozenset({Platform.ANDROID}),
}


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    ERROR = "error"
    NOT_APPLICABLE = "notApplicable"


@dataclass(frozen=True)
class SettingResult:
    setting: str
    state: SettingState
    expected: str
    actual: str | None
    reason: str


@dataclass(frozen=True)
class PolicyResult:
    policy_id: str
    display_name: str
    state: ComplianceState
    settings: tuple[SettingResult, ...]


@dataclass(frozen=True)
class ComplianceResult:
    state: ComplianceState
    policies: tuple[PolicyResult, ...]
    reason: str


@dataclass(frozen=True)
class CompliancePolicy:
    id: str
    odata_type: str
    platform: Platform
    display_name: str
    description: str
    settings: dict[str, Any]
    """Supported settings that are actively set (see catalog.py), in Graph's casing."""
    created_at: datetime
    modified_at: datetime
    unsupported: dict[str, Any] = field(default_factory=dict)
    """Imported anyway: stored, shown as not evaluated, reported on every read."""
    scheduled_actions: tuple[ScheduledAction, ...] = ()
    group_ids: tuple[str, ...] = ()
    version: int = 1

    @property
    def block_grace_hours(self) -> int:
        return next(
            (a.grace_period_hours for a in self.scheduled_actions if a.action_type == "block"), 0
        )


@dataclass(frozen=True)
class DeviceConfiguration:
    id: str
    odata_type: str
    display_name: str
    settings: dict[str, Any]
    created_at: datetime
    modified_at: datetime
    group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManagedDevice:
    id: str
    azure_ad_device_id: str
    device_name: str
    platform: DevicePlatform
    os_version: str
    join_type: JoinType | None
    user_id: str
    user_principal_name: str
    enrolled_at: datetime
    last_sync_at: datetime
    compliance_state: ComplianceState
    threat_level: ThreatLevel | None
    threat_sequence: int
    threat_updated_at: datetime | None
    compliance: ComplianceResult | None = field(default=None)
    facts: dict[str, Any] = field(default_factory=dict)
    """What the device reported at check-in (see `DeviceFacts` in api.py)."""
    noncompliant_since: dict[str, datetime] = field(default_factory=dict)
    """Per policy id: when the current noncompliance began (grace periods count from it)."""
    management_state: str = "managed"
    """Graph `managementState`: managed, retirePending, retireIssued, wipePending, ..."""

    @property
    def operating_system(self) -> str:
        return OPERATING_SYSTEMS[self.platform]


OPERATING_SYSTEMS = {
    DevicePlatform.WINDOWS: "Windows",
    DevicePlatform.ANDROID: "Android",
    DevicePlatform.IOS: "iOS",
    DevicePlatform.LINUX: "Linux",
}


@dataclass(frozen=True)
class EnrollmentToken:
    id: str
    display_name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    use_count: int


@dataclass(frozen=True)
class PartnerCompliance:
    """What the threat-defense connector says about a platform, for compliance.

    Set by the connector; the device threat-level setting is evaluated only while a partner is
    enabled for the platform and responsive.
    """

    enabled: bool
    responsive: bool = True
    blocked_on_missing_data: bool = False
    unsupported_os_blocked: bool = False
