"""MDM records with Intune's (Microsoft Graph) vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stockade.core.model import Platform, ThreatLevel


class ComplianceState(StrEnum):
    UNKNOWN = "unknown"
    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"


class SettingState(StrEnum):
    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"
    NOT_APPLICABLE = "notApplicable"


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


POLICY_PLATFORMS: dict[str, Platform] = {
    "#microsoft.graph.windows10CompliancePolicy": Platform.WINDOWS,
    "#microsoft.graph.androidCompliancePolicy": Platform.ANDROID,
    "#microsoft.graph.iosCompliancePolicy": Platform.IOS,
}

ONBOARDING_PROFILE_TYPE = "#microsoft.graph.windowsDefenderAdvancedThreatProtectionConfiguration"


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
    display_name: str
    description: str
    device_threat_protection_enabled: bool
    device_threat_protection_required_security_level: ThreatLevel
    created_at: datetime
    modified_at: datetime
    group_ids: tuple[str, ...] = ()

    @property
    def platform(self) -> Platform:
        return POLICY_PLATFORMS[self.odata_type]


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
    platform: Platform
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

    @property
    def operating_system(self) -> str:
        return {Platform.WINDOWS: "Windows", Platform.ANDROID: "Android", Platform.IOS: "iOS"}[
            self.platform
        ]


@dataclass(frozen=True)
class EnrollmentToken:
    id: str
    display_name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    use_count: int
