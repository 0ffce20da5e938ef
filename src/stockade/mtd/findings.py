"""Mobile threat findings: what each kind requires and the alert it raises. Pure.

| findingType | platform | required fields | severity | category |
|---|---|---|---|---|
| `jailbroken` | iOS | - | high | PrivilegeEscalation |
| `rooted` | Android | - | high | PrivilegeEscalation |
| `maliciousApp` | both | `packageId` (Android) or `bundleId` (iOS), `sha256` | high | Malware |
| `maliciousCertificate` | both | `certificateThumbprint` | high | CredentialAccess |
| `potentiallyUnwantedApp` | both | as `maliciousApp` | medium | UnwantedSoftware |
| `rogueWifi` | both | `ssid` | medium | CredentialAccess |
| `unsupportedOsVersion` | both | `osVersion` | medium | SuspiciousActivity |
| `phishingSiteBlocked` | both | `url` | low | InitialAccess |

Why these severities: a jailbroken or rooted device has lost the platform's own protections,
so nothing it reports can be trusted (high, as Defender rates it); a malicious app or a
malicious root certificate means code or an interceptor is already on the device (high). An
unwanted app, a rogue Wi-Fi network and an outdated OS expose the device without proving it is
compromised (medium). A blocked phishing site is a protection that worked: the user is
targeted, the device is not compromised (low).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from stockade.core.model import Severity
from stockade.mtd.model import FindingType, MobileFinding

F = FindingType


@dataclass(frozen=True)
class FindingRule:
    title: str
    description: str
    severity: Severity
    category: str
    mitre_techniques: tuple[str, ...] = ()


FINDING_RULES: dict[FindingType, FindingRule] = {
    F.JAILBROKEN: FindingRule(
        "Jailbroken device",
        "The threat-defense app found this iPhone or iPad jailbroken: the platform's own "
        "protections no longer hold.",
        Severity.HIGH,
        "PrivilegeEscalation",
    ),
    F.ROOTED: FindingRule(
        "Rooted device",
        "The threat-defense app found this Android device rooted: the platform's own "
        "protections no longer hold.",
        Severity.HIGH,
        "PrivilegeEscalation",
    ),
    F.MALICIOUS_APP: FindingRule(
        "Malicious app installed",
        "An app known to be malicious is installed on the device.",
        Severity.HIGH,
        "Malware",
    ),
    F.MALICIOUS_CERTIFICATE: FindingRule(
        "Malicious certificate trusted",
        "A malicious certificate is trusted by the device, so its encrypted traffic can be "
        "intercepted.",
        Severity.HIGH,
        "CredentialAccess",
        ("T1638",),
    ),
    F.POTENTIALLY_UNWANTED_APP: FindingRule(
        "Potentially unwanted app installed",
        "An app classified as potentially unwanted (adware, riskware) is installed.",
        Severity.MEDIUM,
        "UnwantedSoftware",
    ),
    F.ROGUE_WIFI: FindingRule(
        "Connected to a rogue Wi-Fi network",
        "The device joined a Wi-Fi network that impersonates a legitimate one or intercepts "
        "traffic.",
        Severity.MEDIUM,
        "CredentialAccess",
        ("T1638",),
    ),
    F.UNSUPPORTED_OS_VERSION: FindingRule(
        "Operating system below the supported version",
        "The device runs an operating system version below the supported minimum, with known "
        "unpatched vulnerabilities.",
        Severity.MEDIUM,
        "SuspiciousActivity",
    ),
    F.PHISHING_SITE_BLOCKED: FindingRule(
        "Phishing site blocked",
        "Web protection blocked a phishing site the user tried to open.",
        Severity.LOW,
        "InitialAccess",
        ("T1660",),
    ),
}

_PLATFORM_ONLY = {F.JAILBROKEN: "iOS", F.ROOTED: "Android"}
_APP_FINDINGS = {F.MALICIOUS_APP, F.POTENTIALLY_UNWANTED_APP}
_REQUIRED = {
    F.MALICIOUS_CERTIFICATE: "certificateThumbprint",
    F.ROGUE_WIFI: "ssid",
    F.UNSUPPORTED_OS_VERSION: "osVersion",
    F.PHISHING_SITE_BLOCKED: "url",
}
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_THUMBPRINT = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")


def rule_id(finding_type: FindingType) -> str:
    """The alert's `detectorId`: findings of one kind on one machine share an alert."""
    return f"mobile.{finding_type.value}"


def finding_problems(finding: MobileFinding, os_platform: str) -> list[tuple[str, str]]:
    """(field, message) for everything wrong with a finding from a machine of `os_platform`."""
    kind = finding.finding_type
    details = finding.details
    problems: list[tuple[str, str]] = []
    only = _PLATFORM_ONLY.get(kind)
    if only and only != os_platform:
        other = "rooted" if kind is F.JAILBROKEN else "jailbroken"
        problems.append(
            (
                "findingType",
                f"{kind.value} is reported by {only} devices; "
                f"an {os_platform} device reports {other}",
            )
        )
    if kind in _APP_FINDINGS:
        app_field = "bundleId" if os_platform == "iOS" else "packageId"
        if not details.get(app_field):
            problems.append(
                (app_field, f"{kind.value} on {os_platform} needs the app's {app_field}")
            )
        if not _SHA256.match(details.get("sha256", "")):
            problems.append(("sha256", "the app's SHA-256 hash: 64 hexadecimal characters"))
    required = _REQUIRED.get(kind)
    if required and not details.get(required):
        problems.append((required, f"{kind.value} needs {required}"))
    if kind is F.PHISHING_SITE_BLOCKED and details.get("url"):
        parts = urlsplit(details["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(("url", "an absolute http or https URL"))
    thumbprint = details.get("certificateThumbprint")
    if kind is F.MALICIOUS_CERTIFICATE and thumbprint and not _THUMBPRINT.match(thumbprint):
        problems.append(
            ("certificateThumbprint", "SHA-1 (40) or SHA-256 (64) hexadecimal characters")
        )
    return problems
