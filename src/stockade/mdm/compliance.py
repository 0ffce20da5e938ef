"""Compliance evaluation. Pure: a device, its policies, the tenant settings and `now` in; a
result per setting out.

Rules (Intune's):
- Only policies assigned to the device (or its user) and built for its platform apply.
- Every actively set setting is compared with what the device reported at check-in; the result
  keeps the expected and the current value, so a denial can say exactly why.
- A fact the device has not reported fails its setting (deny by default), except the device
  threat level: a device the partner has not reported on yet passes (partner data is not
  required by default, as in Intune).
- A noncompliant policy whose "mark noncompliant" (`block`) action has a grace period is
  `inGracePeriod` until `noncompliant_since + gracePeriodHours`.
- With several policies the device takes the worst state, in Intune's order
  unknown < notApplicable < compliant < inGracePeriod < noncompliant < conflict < error.
- No applicable policy: compliant, or noncompliant with `secureByDefault`.
- A device silent for longer than `deviceComplianceCheckinThresholdDays` is noncompliant.
  Both tenant rules show as Intune's built-in "Default Device Compliance Policy".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from stockade.core.model import ThreatLevel
from stockade.mdm.catalog import PASSWORD_STRENGTH, SETTINGS, Kind, SettingSpec, version_key
from stockade.mdm.model import (
    CompliancePolicy,
    ComplianceResult,
    ComplianceState,
    ManagedDevice,
    PartnerCompliance,
    PolicyResult,
    SettingResult,
    SettingState,
    TenantSettings,
)

THREAT_SETTING = "deviceThreatProtectionRequiredSecurityLevel"
DEFAULT_POLICY_ID = "defaultDeviceCompliancePolicy"
DEFAULT_POLICY_NAME = "Default Device Compliance Policy"


def device_facts(device: ManagedDevice) -> dict[str, Any]:
    return {
        **device.facts,
        "osVersion": device.os_version,
        "threatLevel": device.threat_level.value if device.threat_level else None,
    }


def evaluate_compliance(
    device: ManagedDevice,
    policies: Iterable[CompliancePolicy],
    tenant: TenantSettings,
    now: datetime,
    partner: PartnerCompliance | None = None,
    unsupported_os: bool = False,
) -> ComplianceResult:
    facts = device_facts(device)
    # the connector's word on this platform decides whether the threat level counts at all
    facts["threatPartner"] = partner
    facts["partnerUnsupportedOs"] = unsupported_os
    results = [
        evaluate_policy(p, facts, device.noncompliant_since.get(p.id, now), now)
        for p in policies
        if p.platform == device.platform
    ]
    default = _default_policy(device, bool(results), tenant, now)
    if default is not None:
        results.append(default)
    if not results:
        return ComplianceResult(
            ComplianceState.COMPLIANT,
            (),
            "no compliance policy is assigned; such devices are marked compliant",
        )
    worst = max((r.state for r in results), key=lambda s: s.rank)
    if worst in (ComplianceState.COMPLIANT, ComplianceState.NOT_APPLICABLE):
        return ComplianceResult(worst, tuple(results), "every assigned policy is met")
    reasons = [
        f"{r.display_name}: {s.reason}"
        for r in results
        if r.state is worst
        for s in r.settings
        if s.state in (SettingState.NONCOMPLIANT, SettingState.ERROR)
    ]
    if worst is ComplianceState.IN_GRACE_PERIOD:
        reasons = [
            f"{r.display_name}: in grace period: {s.reason}"
            for r in results
            if r.state is worst
            for s in r.settings
            if s.state is SettingState.NONCOMPLIANT
        ]
    return ComplianceResult(worst, tuple(results), "; ".join(reasons))


def evaluate_policy(
    policy: CompliancePolicy, facts: dict[str, Any], noncompliant_since: datetime, now: datetime
) -> PolicyResult:
    settings = [
        evaluate_setting(SETTINGS[name], expected, facts)
        for name, expected in policy.settings.items()
        if name in SETTINGS and SETTINGS[name].kind is not Kind.SWITCH
    ]
    settings += [
        SettingResult(
            name,
            SettingState.NOT_EVALUATED,
            _text(value),
            None,
            f"{name} is not supported here; it was imported without evaluation",
        )
        for name, value in policy.unsupported.items()
    ]
    states = {s.state for s in settings}
    if SettingState.ERROR in states:
        state = ComplianceState.ERROR
    elif SettingState.NONCOMPLIANT in states:
        grace = timedelta(hours=policy.block_grace_hours)
        state = (
            ComplianceState.IN_GRACE_PERIOD
            if grace and now < noncompliant_since + grace
            else ComplianceState.NONCOMPLIANT
        )
    else:
        state = ComplianceState.COMPLIANT
    return PolicyResult(policy.id, policy.display_name, state, tuple(settings))


def evaluate_setting(spec: SettingSpec, expected: Any, facts: dict[str, Any]) -> SettingResult:
    name = spec.name
    actual = facts.get(spec.fact)
    kind = spec.kind
    if kind is Kind.THREAT_LEVEL:
        return _threat(
            name,
            ThreatLevel(expected),
            actual,
            facts.get("threatPartner"),
            bool(facts.get("partnerUnsupportedOs")),
        )
    if actual is None:
        return SettingResult(
            name,
            SettingState.NONCOMPLIANT,
            _expected_text(spec, expected),
            None,
            f"the device has not reported {spec.fact}",
        )
    if kind is Kind.REQUIRE:
        ok = actual is spec.expect_fact if isinstance(actual, bool) else None
        if ok is None:
            return _error(spec, expected, actual, f"{spec.fact} is not true or false")
        return _result(
            spec,
            expected,
            actual,
            ok,
            f"{spec.describes} is {'in place' if ok else 'missing'} ({spec.fact}={_text(actual)})",
        )
    if kind in (Kind.MIN_VERSION, Kind.MAX_VERSION):
        have, want = version_key(str(actual)), version_key(str(expected))
        if have is None or want is None:
            return _error(spec, expected, actual, f"cannot compare OS version {actual!r}")
        width = max(len(have), len(want))
        have_p, want_p = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = have_p >= want_p if kind is Kind.MIN_VERSION else have_p <= want_p
        word = "minimum" if kind is Kind.MIN_VERSION else "maximum"
        return _result(spec, expected, actual, ok, f"OS version {actual} against {word} {expected}")
    if kind in (Kind.MIN_INT, Kind.MAX_INT):
        if isinstance(actual, bool) or not isinstance(actual, int):
            return _error(spec, expected, actual, f"{spec.fact} is not a number")
        # for a maximum, 0 means "never" (no lock, no expiry), which fails it
        ok = actual >= expected if kind is Kind.MIN_INT else 0 < actual <= expected
        return _result(spec, expected, actual, ok, f"{spec.describes}: {actual} against {expected}")
    if kind is Kind.PASSWORD_TYPE:
        have_rank = PASSWORD_STRENGTH.get(str(actual))
        if have_rank is None:
            return _error(spec, expected, actual, f"unknown password type {actual!r}")
        ok = have_rank >= PASSWORD_STRENGTH.get(expected, 0) and bool(facts.get("passwordSet"))
        return _result(spec, expected, actual, ok, f"password type {actual} against {expected}")
    if kind is Kind.EVALUATION_TYPE:
        ok = actual == expected
        return _result(spec, expected, actual, ok, f"integrity evaluated by {actual}")
    return _error(spec, expected, actual, "unknown setting kind")


def _expected_text(spec: SettingSpec, expected: Any) -> str:
    if spec.kind is Kind.REQUIRE:
        return f"{spec.fact}={_text(spec.expect_fact)}"
    if spec.kind is Kind.MIN_VERSION:
        return f"at least {expected}"
    if spec.kind is Kind.MAX_VERSION:
        return f"at most {expected}"
    if spec.kind is Kind.MIN_INT:
        return f"at least {expected}"
    if spec.kind is Kind.MAX_INT:
        return f"1 to {expected}"
    if spec.kind is Kind.PASSWORD_TYPE:
        return f"{expected} or stronger"
    return str(expected)


def _result(spec: SettingSpec, expected: Any, actual: Any, ok: bool, reason: str) -> SettingResult:
    return SettingResult(
        spec.name,
        SettingState.COMPLIANT if ok else SettingState.NONCOMPLIANT,
        _expected_text(spec, expected),
        _text(actual),
        f"{spec.name}: {reason}",
    )


def _error(spec: SettingSpec, expected: Any, actual: Any, reason: str) -> SettingResult:
    return SettingResult(
        spec.name,
        SettingState.ERROR,
        _expected_text(spec, expected),
        _text(actual),
        f"{spec.name}: {reason}",
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _threat(
    name: str,
    required: ThreatLevel,
    actual: str | None,
    partner: PartnerCompliance | None = None,
    unsupported_os: bool = False,
) -> SettingResult:
    """The device threat level against the policy, as the connector's settings allow:

    - no partner enabled for the platform (toggle off, or connector deleted): not evaluated,
      compliant — the partner's level, even one it pushed earlier, no longer counts;
    - the partner is unresponsive (no heartbeat within its threshold): its level is ignored,
      compliant, so a silent partner cannot keep devices locked out forever;
    - the partner reports the OS as unsupported and `partnerUnsupportedOsVersionBlocked`:
      noncompliant;
    - no level reported yet: noncompliant with `...DeviceBlockedOnMissingPartnerData`, else
      compliant;
    - otherwise compliant while the level is at or under the required one.
    """
    expected = f"at or under {required.value}"
    if partner is not None and not partner.enabled:
        return SettingResult(
            name,
            SettingState.COMPLIANT,
            expected,
            actual,
            "no threat-defense partner is enabled for this platform: the threat level is not "
            "evaluated",
        )
    if partner is not None and not partner.responsive:
        return SettingResult(
            name,
            SettingState.COMPLIANT,
            expected,
            actual,
            "the threat-defense partner is unresponsive: its threat level is ignored",
        )
    if partner is not None and partner.unsupported_os_blocked and unsupported_os:
        return SettingResult(
            name,
            SettingState.NONCOMPLIANT,
            expected,
            actual,
            "the threat-defense partner does not support this OS version",
        )
    if actual is None and partner is not None and partner.blocked_on_missing_data:
        return SettingResult(
            name,
            SettingState.NONCOMPLIANT,
            expected,
            None,
            "the threat-defense partner has not reported on this device yet (blocked on missing "
            "partner data)",
        )
    if actual is None:
        return SettingResult(
            name,
            SettingState.COMPLIANT,
            expected,
            None,
            "the threat-defense partner has not reported a threat level yet",
        )
    level = ThreatLevel(actual)
    if level.rank <= required.rank:
        return SettingResult(
            name,
            SettingState.COMPLIANT,
            expected,
            level.value,
            f"device threat level {level.value} is at or under {required.value}",
        )
    return SettingResult(
        name,
        SettingState.NONCOMPLIANT,
        expected,
        level.value,
        f"device threat level {level.value} is above the allowed {required.value}",
    )


def _default_policy(
    device: ManagedDevice, has_policy: bool, tenant: TenantSettings, now: datetime
) -> PolicyResult | None:
    """Intune's built-in policy: "has a compliance policy assigned" and "is active"."""
    settings: list[SettingResult] = []
    if tenant.secure_by_default:
        settings.append(
            SettingResult(
                "secureByDefault",
                SettingState.COMPLIANT if has_policy else SettingState.NONCOMPLIANT,
                "a compliance policy assigned",
                "assigned" if has_policy else "none",
                "devices with no compliance policy assigned are marked noncompliant"
                if not has_policy
                else "a compliance policy is assigned",
            )
        )
    silent = now - device.last_sync_at
    threshold = timedelta(days=tenant.checkin_threshold_days)
    if silent > threshold:
        settings.append(
            SettingResult(
                "deviceComplianceCheckinThresholdDays",
                SettingState.NONCOMPLIANT,
                f"a check-in within {tenant.checkin_threshold_days} days",
                device.last_sync_at.isoformat(),
                f"the device has not checked in for {silent.days} days "
                f"(compliance status validity period {tenant.checkin_threshold_days} days)",
            )
        )
    if not settings:
        return None
    failing = any(s.state is SettingState.NONCOMPLIANT for s in settings)
    return PolicyResult(
        DEFAULT_POLICY_ID,
        DEFAULT_POLICY_NAME,
        ComplianceState.NONCOMPLIANT if failing else ComplianceState.COMPLIANT,
        tuple(settings),
    )
