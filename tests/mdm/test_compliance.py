"""Compliance evaluation (pure) and the Windows release read from an OS version."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from stockade.core.model import Platform, ThreatLevel
from stockade.mdm.catalog import platform_of_policy
from stockade.mdm.compliance import THREAT_SETTING, evaluate_compliance
from stockade.mdm.model import (
    CompliancePolicy,
    ComplianceResult,
    ComplianceState,
    ManagedDevice,
    SettingState,
    TenantSettings,
)
from stockade.mdm.service import windows_release

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
WINDOWS_POLICY = "#microsoft.graph.windows10CompliancePolicy"
ANDROID_POLICY = "#microsoft.graph.androidCompliancePolicy"
IOS_POLICY = "#microsoft.graph.iosCompliancePolicy"


def make_policy(**overrides: Any) -> CompliancePolicy:
    enabled = overrides.pop("device_threat_protection_enabled", True)
    level = overrides.pop("device_threat_protection_required_security_level", ThreatLevel.MEDIUM)
    odata_type = overrides.pop("odata_type", WINDOWS_POLICY)
    policy = CompliancePolicy(
        id="policy-1",
        odata_type=odata_type,
        platform=platform_of_policy(odata_type),
        display_name="Risk at or under Medium",
        description="",
        settings={THREAT_SETTING: level.value} if enabled else {},
        created_at=NOW,
        modified_at=NOW,
    )
    return replace(policy, **overrides)


def make_device(**overrides: Any) -> ManagedDevice:
    device = ManagedDevice(
        id="device-1",
        azure_ad_device_id="aad-1",
        device_name="WIN-001",
        platform=Platform.WINDOWS,
        os_version="10.0.22631",
        join_type=None,
        user_id="user-1",
        user_principal_name="alex@contoso.example",
        enrolled_at=NOW,
        last_sync_at=NOW,
        compliance_state=ComplianceState.UNKNOWN,
        threat_level=None,
        threat_sequence=0,
        threat_updated_at=None,
    )
    return replace(device, **overrides)


def evaluate(
    platform: Platform, level: ThreatLevel | None, policies: Any, **device: Any
) -> ComplianceResult:
    return evaluate_compliance(
        make_device(platform=platform, threat_level=level, **device),
        policies,
        TenantSettings(),
        NOW,
    )


# applicability


def test_no_policy_is_compliant_with_the_documented_reason() -> None:
    result = evaluate(Platform.WINDOWS, ThreatLevel.HIGH, [])
    assert result.state is ComplianceState.COMPLIANT
    assert result.policies == ()
    assert result.reason == "no compliance policy is assigned; such devices are marked compliant"


def test_policies_of_other_platforms_do_not_apply() -> None:
    android = make_policy(odata_type=ANDROID_POLICY, id="android")
    ios = make_policy(odata_type=IOS_POLICY, id="ios")
    result = evaluate(Platform.WINDOWS, ThreatLevel.HIGH, [android, ios])
    assert result.state is ComplianceState.COMPLIANT
    assert result.policies == ()
    assert "no compliance policy is assigned" in result.reason


@pytest.mark.parametrize(
    ("platform", "odata_type"),
    [
        (Platform.WINDOWS, WINDOWS_POLICY),
        (Platform.ANDROID, ANDROID_POLICY),
        (Platform.IOS, IOS_POLICY),
    ],
)
def test_policy_of_the_device_platform_applies(platform: Platform, odata_type: str) -> None:
    policies = [
        make_policy(id="windows", odata_type=WINDOWS_POLICY),
        make_policy(id="android", odata_type=ANDROID_POLICY),
        make_policy(id="ios", odata_type=IOS_POLICY),
    ]
    result = evaluate(platform, ThreatLevel.HIGH, policies)
    assert [p.policy_id for p in result.policies] == [
        p.id for p in policies if p.odata_type == odata_type
    ]
    assert result.state is ComplianceState.NONCOMPLIANT


# the threat level setting


def test_threat_level_above_required_is_noncompliant_naming_expected_and_actual() -> None:
    policy = make_policy(device_threat_protection_required_security_level=ThreatLevel.LOW)
    result = evaluate(Platform.WINDOWS, ThreatLevel.HIGH, [policy])
    assert result.state is ComplianceState.NONCOMPLIANT
    (policy_result,) = result.policies
    assert policy_result.policy_id == policy.id
    assert policy_result.display_name == policy.display_name
    assert policy_result.state is ComplianceState.NONCOMPLIANT
    (setting,) = policy_result.settings
    assert setting.setting == THREAT_SETTING == "deviceThreatProtectionRequiredSecurityLevel"
    assert setting.state is SettingState.NONCOMPLIANT
    assert setting.expected == "at or under low"
    assert setting.actual == "high"
    assert "high" in setting.reason
    assert "low" in setting.reason
    assert result.reason.startswith(f"{policy.display_name}: ")
    assert setting.reason in result.reason


@pytest.mark.parametrize("level", list(ThreatLevel))
def test_threat_level_equal_to_required_is_compliant(level: ThreatLevel) -> None:
    policy = make_policy(device_threat_protection_required_security_level=level)
    result = evaluate(Platform.WINDOWS, level, [policy])
    assert result.state is ComplianceState.COMPLIANT
    (setting,) = result.policies[0].settings
    assert setting.state is SettingState.COMPLIANT
    assert setting.actual == level.value


@pytest.mark.parametrize(
    ("required", "actual", "state"),
    [
        (ThreatLevel.SECURED, ThreatLevel.SECURED, ComplianceState.COMPLIANT),
        (ThreatLevel.SECURED, ThreatLevel.LOW, ComplianceState.NONCOMPLIANT),
        (ThreatLevel.LOW, ThreatLevel.SECURED, ComplianceState.COMPLIANT),
        (ThreatLevel.LOW, ThreatLevel.MEDIUM, ComplianceState.NONCOMPLIANT),
        (ThreatLevel.MEDIUM, ThreatLevel.LOW, ComplianceState.COMPLIANT),
        (ThreatLevel.MEDIUM, ThreatLevel.HIGH, ComplianceState.NONCOMPLIANT),
        (ThreatLevel.HIGH, ThreatLevel.HIGH, ComplianceState.COMPLIANT),
    ],
)
def test_threat_levels_are_ordered_secured_low_medium_high(
    required: ThreatLevel, actual: ThreatLevel, state: ComplianceState
) -> None:
    policy = make_policy(device_threat_protection_required_security_level=required)
    assert evaluate(Platform.WINDOWS, actual, [policy]).state is state


def test_no_threat_level_reported_is_compliant_on_that_setting() -> None:
    policy = make_policy(device_threat_protection_required_security_level=ThreatLevel.SECURED)
    result = evaluate(Platform.WINDOWS, None, [policy])
    assert result.state is ComplianceState.COMPLIANT
    (setting,) = result.policies[0].settings
    assert setting.state is SettingState.COMPLIANT
    assert setting.actual is None
    assert setting.expected == "at or under secured"
    assert setting.reason == "the threat-defense partner has not reported a threat level yet"


def test_threat_protection_disabled_does_not_evaluate_the_setting() -> None:
    policy = make_policy(
        device_threat_protection_enabled=False,
        device_threat_protection_required_security_level=ThreatLevel.SECURED,
    )
    result = evaluate(Platform.WINDOWS, ThreatLevel.HIGH, [policy])
    assert result.state is ComplianceState.COMPLIANT
    (policy_result,) = result.policies
    assert policy_result.state is ComplianceState.COMPLIANT
    assert all(s.setting != THREAT_SETTING for s in policy_result.settings)


# several policies


def test_noncompliant_if_any_applicable_policy_is() -> None:
    lenient = make_policy(
        id="lenient",
        display_name="Lenient",
        device_threat_protection_required_security_level=ThreatLevel.HIGH,
    )
    strict = make_policy(
        id="strict",
        display_name="Strict",
        device_threat_protection_required_security_level=ThreatLevel.LOW,
    )
    result = evaluate(Platform.WINDOWS, ThreatLevel.MEDIUM, [lenient, strict])
    assert result.state is ComplianceState.NONCOMPLIANT
    states = {p.policy_id: p.state for p in result.policies}
    assert states == {
        "lenient": ComplianceState.COMPLIANT,
        "strict": ComplianceState.NONCOMPLIANT,
    }
    assert "Strict" in result.reason
    assert "Lenient" not in result.reason


def test_reason_names_every_failing_policy() -> None:
    a = make_policy(id="a", display_name="Policy A")
    b = make_policy(
        id="b",
        display_name="Policy B",
        device_threat_protection_required_security_level=ThreatLevel.SECURED,
    )
    result = evaluate(Platform.WINDOWS, ThreatLevel.HIGH, [a, b])
    assert result.state is ComplianceState.NONCOMPLIANT
    assert "Policy A: " in result.reason
    assert "Policy B: " in result.reason


def test_compliant_when_every_applicable_policy_is_met() -> None:
    policies = [make_policy(id="a"), make_policy(id="b")]
    result = evaluate(Platform.WINDOWS, ThreatLevel.LOW, policies)
    assert result.state is ComplianceState.COMPLIANT
    assert len(result.policies) == 2
    assert result.reason == "every assigned policy is met"


def test_accepts_any_iterable_such_as_a_generator() -> None:
    policies = (make_policy(id=str(i)) for i in range(2))
    result = evaluate(Platform.WINDOWS, ThreatLevel.HIGH, policies)
    assert result.state is ComplianceState.NONCOMPLIANT
    assert len(result.policies) == 2


# windows_release


@pytest.mark.parametrize(
    ("os_version", "release"),
    [
        ("10", "10"),
        ("11", "11"),
        ("10.0", "10"),
        ("10.0.19045", "10"),
        ("10.0.19045.4291", "10"),
        ("10.0.21999", "10"),
        ("10.0.22000", "11"),
        ("10.0.22631", "11"),
        ("10.0.22631.3447", "11"),
        ("11.0.22631", "11"),
    ],
)
def test_windows_release(os_version: str, release: str) -> None:
    assert windows_release(os_version) == release


@pytest.mark.parametrize(
    "os_version",
    [
        "",
        "7",
        "8.1",
        "6.3.9600",
        "12",
        "10.1",
        "10.0.",
        "10.0.abc",
        "Windows 10",
        " 10",
        "10.0.19045.4291.1",
        "1O",
    ],
)
def test_windows_release_refuses_other_strings(os_version: str) -> None:
    assert windows_release(os_version) is None


@pytest.mark.parametrize(
    "os_version",
    [
        "10\n",
        "10.0.22631\n",
        "10.0.\uff12\uff12\uff16\uff13\uff11",  # fullwidth digits
        "10.0.\u0662\u0662\u0666\u0663\u0661",  # Arabic-Indic digits
    ],
)
def test_windows_release_refuses_newlines_and_non_ascii_digits(os_version: str) -> None:
    assert windows_release(os_version) is None
