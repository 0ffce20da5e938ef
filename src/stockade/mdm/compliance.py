"""Compliance evaluation. Pure: a device, its policies and facts in; a result per setting out.

Rules (Intune's, as far as the foundation goes):
- Only policies assigned to the device (or its user) and built for its platform apply.
- No applicable policy: the device is **compliant** (Intune's default for "mark devices with no
  compliance policy assigned as").
- `deviceThreatProtectionEnabled` with `deviceThreatProtectionRequiredSecurityLevel` L: the
  device is compliant while its threat level (pushed by the threat-defense partner) is at or
  below L, in the order secured < low < medium < high. A device for which the partner has not
  reported yet is compliant on this setting (partner data is not required by default).
- A device is noncompliant if any applicable policy is; the result keeps every setting, with
  what was expected and what was found, so a denial can say exactly why.
"""

from __future__ import annotations

from collections.abc import Iterable

from stockade.core.model import Platform, ThreatLevel
from stockade.mdm.model import (
    CompliancePolicy,
    ComplianceResult,
    ComplianceState,
    PolicyResult,
    SettingResult,
    SettingState,
)

THREAT_SETTING = "deviceThreatProtectionRequiredSecurityLevel"


def evaluate_compliance(
    platform: Platform,
    threat_level: ThreatLevel | None,
    policies: Iterable[CompliancePolicy],
) -> ComplianceResult:
    results = tuple(_evaluate_policy(p, threat_level) for p in policies if p.platform is platform)
    if not results:
        return ComplianceResult(
            ComplianceState.COMPLIANT,
            (),
            "no compliance policy is assigned; such devices are marked compliant",
        )
    failing = [r for r in results if r.state is ComplianceState.NONCOMPLIANT]
    if failing:
        reasons = [
            f"{r.display_name}: {s.reason}"
            for r in failing
            for s in r.settings
            if s.state is SettingState.NONCOMPLIANT
        ]
        return ComplianceResult(ComplianceState.NONCOMPLIANT, results, "; ".join(reasons))
    return ComplianceResult(ComplianceState.COMPLIANT, results, "every assigned policy is met")


def _evaluate_policy(policy: CompliancePolicy, threat_level: ThreatLevel | None) -> PolicyResult:
    settings: list[SettingResult] = []
    if policy.device_threat_protection_enabled:
        settings.append(
            _threat_setting(policy.device_threat_protection_required_security_level, threat_level)
        )
    state = (
        ComplianceState.NONCOMPLIANT
        if any(s.state is SettingState.NONCOMPLIANT for s in settings)
        else ComplianceState.COMPLIANT
    )
    return PolicyResult(policy.id, policy.display_name, state, tuple(settings))


def _threat_setting(required: ThreatLevel, actual: ThreatLevel | None) -> SettingResult:
    expected = f"at or under {required.value}"
    if actual is None:
        return SettingResult(
            THREAT_SETTING,
            SettingState.COMPLIANT,
            expected,
            None,
            "the threat-defense partner has not reported a threat level yet",
        )
    if actual.rank <= required.rank:
        return SettingResult(
            THREAT_SETTING,
            SettingState.COMPLIANT,
            expected,
            actual.value,
            f"device threat level {actual.value} is at or under {required.value}",
        )
    return SettingResult(
        THREAT_SETTING,
        SettingState.NONCOMPLIANT,
        expected,
        actual.value,
        f"device threat level {actual.value} is above the allowed {required.value}",
    )
