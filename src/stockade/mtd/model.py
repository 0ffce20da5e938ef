"""MTD records, named after the Defender API's machine, alert and incident entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stockade.core.model import RiskScore, Severity


class AlertStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "inProgress"
    RESOLVED = "resolved"

    @property
    def active(self) -> bool:
        return self is not AlertStatus.RESOLVED


class Classification(StrEnum):
    """Defender alert and incident `classification`."""

    UNKNOWN = "unknown"
    TRUE_POSITIVE = "truePositive"
    INFORMATIONAL_EXPECTED_ACTIVITY = "informationalExpectedActivity"
    FALSE_POSITIVE = "falsePositive"


class Determination(StrEnum):
    """Defender alert and incident `determination`."""

    UNKNOWN = "unknown"
    APT = "apt"
    MALWARE = "malware"
    SECURITY_PERSONNEL = "securityPersonnel"
    SECURITY_TESTING = "securityTesting"
    UNWANTED_SOFTWARE = "unwantedSoftware"
    MULTI_STAGED_ATTACK = "multiStagedAttack"
    COMPROMISED_ACCOUNT = "compromisedAccount"
    PHISHING = "phishing"
    MALICIOUS_USER_ACTIVITY = "maliciousUserActivity"
    NOT_MALICIOUS = "notMalicious"
    NOT_ENOUGH_DATA_TO_VALIDATE = "notEnoughDataToValidate"
    CONFIRMED_ACTIVITY = "confirmedActivity"
    LINE_OF_BUSINESS_APPLICATION = "lineOfBusinessApplication"
    OTHER = "other"


class IncidentStatus(StrEnum):
    ACTIVE = "active"
    RESOLVED = "resolved"
    REDIRECTED = "redirected"
    """Merged into another incident (`redirectIncidentId`), as Defender does."""


class DetectionSource(StrEnum):
    """Defender `detectionSource` of an alert: what raised it."""

    CUSTOM_DETECTION = "customDetection"
    """A Sigma rule over the machine's telemetry."""
    MOBILE_THREAT_DEFENSE = "mobileThreatDefense"
    """A finding reported by the threat-defense app of an Android or iOS device."""


@dataclass(frozen=True)
class Machine:
    id: str
    aad_device_id: str
    computer_dns_name: str
    os_platform: str
    """`Windows10`, `Windows11`, `Android` or `iOS` (Defender `osPlatform`)."""
    os_version: str
    risk_score: RiskScore
    risk_sequence: int
    first_seen: datetime
    last_seen: datetime
    user_id: str | None = None
    """The directory device's registered owner as read when the sensor authenticated; not
    stored (ownership lives in the directory), None when not read."""

    @property
    def is_mobile(self) -> bool:
        return self.os_platform in ("Android", "iOS")


@dataclass(frozen=True)
class AlertComment:
    comment: str
    created_by: str
    created_time: datetime


@dataclass(frozen=True)
class Alert:
    id: str
    machine_id: str
    rule_id: str
    title: str
    description: str
    severity: Severity
    status: AlertStatus
    category: str
    mitre_techniques: tuple[str, ...]
    first_event_time: datetime
    last_event_time: datetime
    created_at: datetime
    resolved_at: datetime | None
    evidence_count: int = 0
    evidence: tuple[dict[str, Any], ...] = field(default=())
    classification: Classification | None = None
    determination: Determination | None = None
    assigned_to: str | None = None
    incident_id: str | None = None
    user_id: str | None = None
    """The machine's user (the directory device's registered owner) when the alert was raised."""
    detection_source: DetectionSource = DetectionSource.CUSTOM_DETECTION
    updated_at: datetime | None = None
    comments: tuple[AlertComment, ...] = field(default=())


@dataclass(frozen=True)
class UserRef:
    id: str
    user_principal_name: str


@dataclass(frozen=True)
class Incident:
    id: str
    name: str
    severity: Severity
    """The highest severity of its alerts."""
    status: IncidentStatus
    classification: Classification | None
    determination: Determination | None
    assigned_to: str | None
    created_time: datetime
    last_update_time: datetime
    redirect_incident_id: str | None = None
    alerts: tuple[Alert, ...] = field(default=())
    devices: tuple[Machine, ...] = field(default=())
    users: tuple[UserRef, ...] = field(default=())


@dataclass(frozen=True)
class Triage:
    """A triage change to an alert or an incident; None leaves a field as it is."""

    status: AlertStatus | None = None
    classification: Classification | None = None
    determination: Determination | None = None
    assigned_to: str | None = None
    unassign: bool = False
    """Clear `assignedTo` (the request set it to null)."""
    comment: str | None = None


class FindingType(StrEnum):
    """What the threat-defense app of an Android or iOS device reports."""

    JAILBROKEN = "jailbroken"
    """iOS: the device is jailbroken."""
    ROOTED = "rooted"
    """Android: the device is rooted."""
    MALICIOUS_APP = "maliciousApp"
    POTENTIALLY_UNWANTED_APP = "potentiallyUnwantedApp"
    PHISHING_SITE_BLOCKED = "phishingSiteBlocked"
    ROGUE_WIFI = "rogueWifi"
    MALICIOUS_CERTIFICATE = "maliciousCertificate"
    UNSUPPORTED_OS_VERSION = "unsupportedOsVersion"


@dataclass(frozen=True)
class MobileFinding:
    finding_type: FindingType
    detected_time: datetime | None
    details: dict[str, str]
    """The finding's own fields (`packageId`, `sha256`, `url`, ...), as reported."""
    finding_id: str | None = None
    """The app's id for the finding: a redelivered finding with the same id is not counted
    again."""
