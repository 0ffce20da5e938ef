"""The connector, named after Graph's `mobileThreatDefenseConnector`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from stockade.core.model import Platform, RiskScore, ThreatLevel

STOCKADE_PARTNER_ID = "5b0f9d5e-6a3c-4d3f-9c2e-57a4c4e0d1a7"
"""The connector id of Stockade's own threat defense (one partner per tenant for now)."""


class PartnerState(StrEnum):
    NOT_SET_UP = "notSetUp"
    UNAVAILABLE = "unavailable"
    AVAILABLE = "available"
    ENABLED = "enabled"
    UNRESPONSIVE = "unresponsive"
    ERROR = "error"


@dataclass(frozen=True)
class Connector:
    id: str
    partner_state: PartnerState
    windows_enabled: bool
    android_enabled: bool
    ios_enabled: bool
    android_mam_enabled: bool
    ios_mam_enabled: bool
    unresponsiveness_threshold_days: int
    last_heartbeat: datetime | None
    created_at: datetime
    windows_blocked_on_missing_data: bool = False
    android_blocked_on_missing_data: bool = False
    ios_blocked_on_missing_data: bool = False
    unsupported_os_blocked: bool = False
    remote: bool = False
    """A partner in another deployment (or another product) that pushes over the partner API;
    the built-in partner is this deployment's own threat defense."""

    def blocked_on_missing_data(self, platform: Platform) -> bool:
        return {
            Platform.WINDOWS: self.windows_blocked_on_missing_data,
            Platform.ANDROID: self.android_blocked_on_missing_data,
            Platform.IOS: self.ios_blocked_on_missing_data,
        }.get(platform, False)

    def enabled_for(self, platform: Platform) -> bool:
        return {
            Platform.WINDOWS: self.windows_enabled,
            Platform.ANDROID: self.android_enabled,
            Platform.IOS: self.ios_enabled,
        }[platform]


# The oldest OS versions Stockade's own threat defense supports; older ones are reported to
# device management as unsupported (which `partnerUnsupportedOsVersionBlocked` can block).
MIN_SUPPORTED_OS: dict[str, tuple[int, ...]] = {
    "Windows10": (10, 0, 17763),
    "Windows11": (10, 0, 22000),
    "Android": (9,),
    "iOS": (15,),
}


def os_supported(os_platform: str, os_version: str) -> bool:
    minimum = MIN_SUPPORTED_OS.get(os_platform)
    if minimum is None:
        return True
    parts: list[int] = []
    for piece in os_version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        return False
    if len(parts) == 1 and os_platform.startswith("Windows"):
        return parts[0] >= 10  # "10" / "11" as enrollment reports them
    return tuple(parts) >= minimum


def threat_level_for(risk: RiskScore) -> ThreatLevel:
    """Machine risk to device threat level: None and Informational are `secured`.

    Informational alerts are worth a look but are not a threat to the device's posture.
    """
    return {
        RiskScore.NONE: ThreatLevel.SECURED,
        RiskScore.INFORMATIONAL: ThreatLevel.SECURED,
        RiskScore.LOW: ThreatLevel.LOW,
        RiskScore.MEDIUM: ThreatLevel.MEDIUM,
        RiskScore.HIGH: ThreatLevel.HIGH,
    }[risk]


def platform_of(os_platform: str) -> Platform | None:
    """Defender `osPlatform` to the management platform."""
    lowered = os_platform.lower()
    if lowered.startswith("windows"):
        return Platform.WINDOWS
    if lowered == "android":
        return Platform.ANDROID
    if lowered in {"ios", "ipados"}:
        return Platform.IOS
    return None


@dataclass(frozen=True)
class PartnerLink:
    """Threat defense side: where this tenant's device management lives, in another
    deployment, and the connector credential it gave us."""

    mdm_url: str
    connector_id: str
    secret: str
    created_at: datetime
    last_push_at: datetime | None = None
    last_error: str | None = None

    def __repr__(self) -> str:  # keep the secret out of logs
        return f"PartnerLink(mdm_url={self.mdm_url!r}, connector_id={self.connector_id!r})"
