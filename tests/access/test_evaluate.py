"""The conditional access evaluator: which policies apply, what they grant, and why."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from stockade.access.evaluate import evaluate_access
from stockade.access.model import (
    THREAT_DEFENSE_APP,
    AccessPolicy,
    AccessStatus,
    AlertSummary,
    Conditions,
    Control,
    Decision,
    DevicePosture,
    PolicyResult,
    PolicyState,
    SignInRequest,
)

APP = "corporate-wiki"
USER = "user-alice"
GROUP = "group-finance"


def make_conditions(**overrides: Any) -> Conditions:
    return replace(
        Conditions(include_users=("All",), include_applications=("All",)),
        **overrides,
    )


def make_policy(**overrides: Any) -> AccessPolicy:
    conditions = overrides.pop("conditions", None) or make_conditions()
    policy = AccessPolicy(
        id="policy-1",
        display_name="Require compliant device",
        state=PolicyState.ENABLED,
        conditions=conditions,
        controls=(Control.COMPLIANT_DEVICE,),
        operator="OR",
    )
    return replace(policy, **overrides)


def make_device(**overrides: Any) -> DevicePosture:
    device = DevicePosture(
        device_id="device-1",
        display_name="ALICE-LAPTOP",
        platform="windows",
        is_compliant=True,
        compliance_state="compliant",
    )
    return replace(device, **overrides)


def make_noncompliant_device(**overrides: Any) -> DevicePosture:
    defaults: dict[str, Any] = {
        "is_compliant": False,
        "compliance_state": "noncompliant",
        "noncompliant_settings": (
            {
                "policy": "Risk at or under Medium",
                "setting": "deviceThreatProtectionRequiredSecurityLevel",
                "reason": "device threat level high is above the allowed medium",
            },
        ),
        "threat_level": "high",
        "active_alerts": (
            AlertSummary("alert-1", "Office macro spawned a shell", "high"),
            AlertSummary("alert-2", "Reverse shell", "medium"),
        ),
    }
    return make_device(**{**defaults, **overrides})


def make_request(**overrides: Any) -> SignInRequest:
    request = SignInRequest(
        user_id=USER,
        user_principal_name="alice@example.test",
        group_ids=frozenset({GROUP}),
        app_id=APP,
        device=make_device(),
    )
    return replace(request, **overrides)


def decide(request: SignInRequest, *policies: AccessPolicy) -> Decision:
    return evaluate_access(request, policies)


def only_result(decision: Decision) -> PolicyResult:
    (outcome,) = decision.policies
    return outcome.result


# no policy, or none applying


def test_no_policies_is_not_applied_and_allowed() -> None:
    decision = decide(make_request())
    assert decision.allowed
    assert decision.status is AccessStatus.NOT_APPLIED
    assert decision.policies == ()
    assert decision.reasons == ("no enforced policy applies",)


def test_enforced_policy_not_applying_is_not_applied_and_allowed() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,), conditions=make_conditions(include_users=("someone-else",))
    )
    decision = decide(make_request(), policy)
    assert decision.allowed
    assert decision.status is AccessStatus.NOT_APPLIED
    assert only_result(decision) is PolicyResult.NOT_APPLIED


# users


def test_users_all_applies() -> None:
    decision = decide(make_request(), make_policy())
    assert only_result(decision) is PolicyResult.SUCCESS
    assert decision.allowed
    assert decision.status is AccessStatus.SUCCESS


def test_user_included_by_id() -> None:
    policy = make_policy(conditions=make_conditions(include_users=(USER,)))
    assert only_result(decide(make_request(), policy)) is PolicyResult.SUCCESS


def test_user_included_by_group() -> None:
    policy = make_policy(conditions=make_conditions(include_users=(), include_groups=(GROUP,)))
    assert only_result(decide(make_request(), policy)) is PolicyResult.SUCCESS


def test_user_not_included_is_not_applied_with_reason() -> None:
    policy = make_policy(
        conditions=make_conditions(include_users=("user-bob",), include_groups=("group-hr",))
    )
    decision = decide(make_request(), policy)
    assert only_result(decision) is PolicyResult.NOT_APPLIED
    assert decision.policies[0].reasons == ("users: the user is not included",)


@pytest.mark.parametrize(
    "conditions",
    [
        make_conditions(exclude_users=(USER,)),
        make_conditions(exclude_groups=(GROUP,)),
        make_conditions(include_users=(USER,), exclude_users=(USER,)),
        make_conditions(include_users=(), include_groups=(GROUP,), exclude_groups=(GROUP,)),
        make_conditions(include_users=(USER,), exclude_groups=(GROUP,)),
    ],
    ids=["all-minus-user", "all-minus-group", "id-minus-id", "group-minus-group", "id-minus-group"],
)
def test_exclusion_wins_over_inclusion(conditions: Conditions) -> None:
    policy = make_policy(controls=(Control.BLOCK,), conditions=conditions)
    decision = decide(make_request(), policy)
    assert decision.allowed
    assert only_result(decision) is PolicyResult.NOT_APPLIED
    (reason,) = decision.policies[0].reasons
    assert reason.startswith("users: ") and reason.endswith(" is excluded")


def test_policy_naming_no_users_never_applies() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,),
        conditions=make_conditions(include_users=(), include_groups=()),
    )
    decision = decide(make_request(), policy)
    assert decision.allowed
    assert only_result(decision) is PolicyResult.NOT_APPLIED


def test_user_without_groups_is_not_included_by_a_group_condition() -> None:
    policy = make_policy(conditions=make_conditions(include_users=(), include_groups=(GROUP,)))
    decision = decide(make_request(group_ids=frozenset()), policy)
    assert only_result(decision) is PolicyResult.NOT_APPLIED


# applications


def test_application_included_by_id() -> None:
    policy = make_policy(conditions=make_conditions(include_applications=(APP,)))
    assert only_result(decide(make_request(), policy)) is PolicyResult.SUCCESS


def test_application_not_included_is_not_applied() -> None:
    policy = make_policy(conditions=make_conditions(include_applications=("payroll",)))
    decision = decide(make_request(), policy)
    assert only_result(decision) is PolicyResult.NOT_APPLIED
    assert decision.policies[0].reasons == (f"applications: {APP} is not included",)


def test_application_exclusion_wins_over_all() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,), conditions=make_conditions(exclude_applications=(APP,))
    )
    decision = decide(make_request(), policy)
    assert decision.allowed
    assert decision.policies[0].reasons == (f"applications: {APP} is excluded",)


def test_policy_naming_no_applications_never_applies() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,), conditions=make_conditions(include_applications=())
    )
    assert decide(make_request(), policy).allowed


# platforms


def test_without_platform_condition_any_platform_and_no_device_match() -> None:
    policy = make_policy(controls=(Control.BLOCK,))
    for device in (make_device(platform="android"), make_device(platform="iOS"), None):
        decision = decide(make_request(device=device), policy)
        assert only_result(decision) is PolicyResult.FAILURE


def test_platform_included() -> None:
    policy = make_policy(conditions=make_conditions(include_platforms=("windows",)))
    assert only_result(decide(make_request(), policy)) is PolicyResult.SUCCESS


def test_platform_not_included_is_not_applied() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,), conditions=make_conditions(include_platforms=("windows",))
    )
    decision = decide(make_request(device=make_device(platform="android")), policy)
    assert decision.allowed
    assert decision.policies[0].reasons == ("platforms: android is not included",)


def test_platform_match_ignores_case() -> None:
    policy = make_policy(conditions=make_conditions(include_platforms=("ios",)))
    request = make_request(device=make_device(platform="iOS"))
    assert only_result(decide(request, policy)) is PolicyResult.SUCCESS


def test_platform_all_includes_every_platform() -> None:
    policy = make_policy(conditions=make_conditions(include_platforms=("all",)))
    request = make_request(device=make_device(platform="android"))
    assert only_result(decide(request, policy)) is PolicyResult.SUCCESS


def test_platform_exclusion_wins_over_all() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,),
        conditions=make_conditions(include_platforms=("all",), exclude_platforms=("iOS",)),
    )
    decision = decide(make_request(device=make_device(platform="iOS")), policy)
    assert decision.allowed
    assert decision.policies[0].reasons == ("platforms: ios is excluded",)
    other = decide(make_request(device=make_device(platform="windows")), policy)
    assert not other.allowed


def test_platform_condition_without_device_is_unknown_platform() -> None:
    policy = make_policy(
        controls=(Control.BLOCK,), conditions=make_conditions(include_platforms=("windows",))
    )
    decision = decide(make_request(device=None), policy)
    assert only_result(decision) is PolicyResult.NOT_APPLIED
    assert decision.policies[0].reasons == ("platforms: unknown platform is not included",)


# grant controls


def test_block_always_fails_even_for_a_compliant_device() -> None:
    policy = make_policy(display_name="Block all", controls=(Control.BLOCK,))
    decision = decide(make_request(), policy)
    assert not decision.allowed
    assert decision.status is AccessStatus.FAILURE
    assert only_result(decision) is PolicyResult.FAILURE
    assert decision.reasons == ("policy 'Block all' -> block: access is blocked",)


def test_compliant_device_is_satisfied_by_a_compliant_device() -> None:
    decision = decide(make_request(), make_policy())
    assert decision.allowed
    assert decision.reasons == ("every applicable policy is satisfied",)
    assert decision.details == ()


def test_compliant_device_fails_without_a_device() -> None:
    decision = decide(make_request(device=None), make_policy())
    assert not decision.allowed
    assert len(decision.reasons) == 1
    assert "the request carries no managed device" in decision.reasons[0]


def test_compliant_device_fails_for_a_noncompliant_device() -> None:
    decision = decide(make_request(device=make_noncompliant_device()), make_policy())
    assert not decision.allowed
    assert decision.status is AccessStatus.FAILURE


def test_compliant_device_fails_for_an_unknown_compliance_state() -> None:
    device = make_device(is_compliant=False, compliance_state="unknown")
    decision = decide(make_request(device=device), make_policy())
    assert not decision.allowed
    assert "is unknown" in decision.reasons[0]


def test_operator_or_needs_one_satisfied_control() -> None:
    policy = make_policy(controls=(Control.BLOCK, Control.COMPLIANT_DEVICE), operator="OR")
    assert decide(make_request(), policy).allowed
    assert not decide(make_request(device=make_noncompliant_device()), policy).allowed


def test_operator_and_needs_every_control() -> None:
    policy = make_policy(controls=(Control.BLOCK, Control.COMPLIANT_DEVICE), operator="AND")
    decision = decide(make_request(), policy)
    assert not decision.allowed
    assert decision.reasons == ("policy 'Require compliant device' -> block: access is blocked",)


def test_operator_and_with_every_control_satisfied_allows() -> None:
    policy = make_policy(controls=(Control.COMPLIANT_DEVICE,), operator="AND")
    assert decide(make_request(), policy).allowed


def test_outcome_lists_the_enforced_controls() -> None:
    policy = make_policy(controls=(Control.BLOCK, Control.COMPLIANT_DEVICE))
    (outcome,) = decide(make_request(), policy).policies
    assert outcome.enforced_controls == ("block", "compliantDevice")


# policy states


@pytest.mark.parametrize(
    ("controls", "device", "conditions", "expected"),
    [
        ((Control.COMPLIANT_DEVICE,), make_device(), None, PolicyResult.REPORT_ONLY_SUCCESS),
        ((Control.BLOCK,), make_device(), None, PolicyResult.REPORT_ONLY_FAILURE),
        (
            (Control.COMPLIANT_DEVICE,),
            make_noncompliant_device(),
            None,
            PolicyResult.REPORT_ONLY_FAILURE,
        ),
        (
            (Control.BLOCK,),
            make_device(),
            make_conditions(include_users=("user-bob",)),
            PolicyResult.REPORT_ONLY_NOT_APPLIED,
        ),
    ],
    ids=["success", "block", "noncompliant", "not-applied"],
)
def test_report_only_is_recorded_and_never_denies(
    controls: tuple[Control, ...],
    device: DevicePosture,
    conditions: Conditions | None,
    expected: PolicyResult,
) -> None:
    policy = make_policy(state=PolicyState.REPORT_ONLY, controls=controls, conditions=conditions)
    decision = decide(make_request(device=device), policy)
    assert only_result(decision) is expected
    assert decision.allowed
    assert decision.status is AccessStatus.NOT_APPLIED
    assert decision.details == ()


def test_report_only_failure_does_not_hide_an_enforced_success() -> None:
    report_only = make_policy(id="ro", state=PolicyState.REPORT_ONLY, controls=(Control.BLOCK,))
    enforced = make_policy(id="enf")
    decision = decide(make_request(), report_only, enforced)
    assert decision.allowed
    assert decision.status is AccessStatus.SUCCESS
    assert [o.result for o in decision.policies] == [
        PolicyResult.REPORT_ONLY_FAILURE,
        PolicyResult.SUCCESS,
    ]


def test_disabled_policy_is_not_enabled_and_never_denies() -> None:
    policy = make_policy(state=PolicyState.DISABLED, controls=(Control.BLOCK,))
    decision = decide(make_request(), policy)
    (outcome,) = decision.policies
    assert outcome.result is PolicyResult.NOT_ENABLED
    assert outcome.enforced_controls == ()
    assert outcome.reasons == ()
    assert decision.allowed
    assert decision.status is AccessStatus.NOT_APPLIED


# several policies and the reason chain


def test_any_enforced_failure_denies() -> None:
    ok = make_policy(id="ok", display_name="Compliant device")
    block = make_policy(id="block", display_name="Block", controls=(Control.BLOCK,))
    decision = decide(make_request(), ok, block)
    assert not decision.allowed
    assert decision.status is AccessStatus.FAILURE
    assert [o.policy_id for o in decision.policies] == ["ok", "block"]
    assert decision.reasons == ("policy 'Block' -> block: access is blocked",)


def test_denial_reason_chain_names_setting_threat_level_and_alerts() -> None:
    device = make_noncompliant_device()
    decision = decide(make_request(device=device), make_policy())
    assert not decision.allowed
    (reason,) = decision.reasons
    assert reason.startswith(
        "policy 'Require compliant device' -> compliantDevice: device ALICE-LAPTOP is noncompliant"
    )
    assert (
        "Risk at or under Medium -> deviceThreatProtectionRequiredSecurityLevel: "
        "device threat level high is above the allowed medium"
    ) in reason
    assert "threat level high" in reason
    assert "2 active alerts" in reason
    assert "Office macro spawned a shell (high)" in reason
    assert "Reverse shell (medium)" in reason
    # the order of the chain: policy -> control -> setting -> threat level -> alerts
    positions = [
        reason.index("compliantDevice"),
        reason.index("deviceThreatProtectionRequiredSecurityLevel"),
        reason.index("threat level high"),
        reason.index("active alerts"),
    ]
    assert positions == sorted(positions)


def test_denial_details_carry_the_device_settings_and_alerts() -> None:
    device = make_noncompliant_device()
    policy = make_policy()
    (detail,) = decide(make_request(device=device), policy).details
    assert detail["policyId"] == policy.id
    assert detail["control"] == "compliantDevice"
    assert detail["device"] == {"id": "device-1", "displayName": "ALICE-LAPTOP"}
    assert detail["complianceState"] == "noncompliant"
    assert detail["threatLevel"] == "high"
    assert list(detail["settings"]) == list(device.noncompliant_settings)
    assert [a["title"] for a in detail["alerts"]] == [
        "Office macro spawned a shell",
        "Reverse shell",
    ]


def test_noncompliant_device_without_threat_data_says_only_what_it_knows() -> None:
    device = make_noncompliant_device(noncompliant_settings=(), threat_level=None, active_alerts=())
    decision = decide(make_request(device=device), make_policy())
    assert not decision.allowed
    assert decision.reasons == (
        "policy 'Require compliant device' -> compliantDevice: device ALICE-LAPTOP is noncompliant",
    )


# classic policies


def test_classic_policy_never_applies_to_other_apps() -> None:
    classic = make_policy(classic=True, controls=(Control.BLOCK,), connector_id="c1")
    decision = decide(make_request(app_id=APP), classic)
    assert decision.allowed
    assert only_result(decision) is PolicyResult.NOT_APPLIED
    assert decision.policies[0].reasons == (
        "classic policy: protects the threat-defense endpoints only",
    )


def test_classic_policy_applies_to_the_threat_defense_app() -> None:
    classic = make_policy(classic=True, connector_id="c1")
    request = make_request(app_id=THREAT_DEFENSE_APP, device=make_noncompliant_device())
    decision = decide(request, classic)
    assert not decision.allowed
    assert only_result(decision) is PolicyResult.FAILURE
