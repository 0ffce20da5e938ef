"""Enumerations shared by several contexts.

Values are the wire names used by Microsoft Graph / the Defender API, so admins recognise them.
"""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    WINDOWS = "windows"
    ANDROID = "android"
    IOS = "iOS"


class Severity(StrEnum):
    """Alert severity (Defender `alert.severity`)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.INFORMATIONAL: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
}


class RiskScore(StrEnum):
    """Machine risk (Defender `machine.riskScore`)."""

    NONE = "None"
    INFORMATIONAL = "Informational"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


class ThreatLevel(StrEnum):
    """Device threat level as device management knows it (Intune `deviceThreatProtectionLevel`).

    Ordered: secured < low < medium < high.
    """

    SECURED = "secured"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _THREAT_RANK[self]


_THREAT_RANK = {
    ThreatLevel.SECURED: 0,
    ThreatLevel.LOW: 1,
    ThreatLevel.MEDIUM: 2,
    ThreatLevel.HIGH: 3,
}
