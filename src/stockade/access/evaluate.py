"""The conditional access evaluator. Pure: a sign-in and the tenant's policies in, a decision out.

Semantics (Entra's):
- A policy applies when every condition it sets matches: users (users, groups, roles), target
  applications, platforms, locations, client app types, and the filter for devices. A policy
  whose users condition names nobody never applies.
- Every applicable enabled policy must be satisfied; `block` always fails; with operator OR one
  satisfied control is enough, with AND all must be.
- `mfa` (and an imported authentication strength) is satisfied only when the caller says the
  user performed it; otherwise it is returned as a requirement the caller may still meet.
- Report-only policies are evaluated and recorded (`reportOnly*`), never enforced; disabled
  policies are recorded as `notEnabled`.
- The request is allowed when no enforced policy fails; with none applying it is `notApplied`.
- Classic policies protect only the threat-defense endpoints; they never apply to other apps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stockade.access.model import (
    ALL,
    NONE,
    THREAT_DEFENSE_APP,
    AccessPolicy,
    AccessStatus,
    Control,
    Decision,
    PolicyOutcome,
    PolicyResult,
    PolicyState,
    SignInRequest,
)

_REPORT_ONLY = {
    PolicyResult.SUCCESS: PolicyResult.REPORT_ONLY_SUCCESS,
    PolicyResult.FAILURE: PolicyResult.REPORT_ONLY_FAILURE,
    PolicyResult.NOT_APPLIED: PolicyResult.REPORT_ONLY_NOT_APPLIED,
}
_EMPTY: dict[str, Any] = {}


def evaluate_access(request: SignInRequest, policies: Iterable[AccessPolicy]) -> Decision:
    outcomes: list[PolicyOutcome] = []
    details: list[dict[str, Any]] = []
    requirements: list[str] = []
    hard_failure = False
    for policy in policies:
        if policy.state is PolicyState.DISABLED:
            outcomes.append(
                PolicyOutcome(policy.id, policy.display_name, PolicyResult.NOT_ENABLED, (), ())
            )
            continue
        miss = first_unmatched_condition(policy, request)
        needs: tuple[str, ...] = ()
        if miss is not None:
            result = PolicyResult.NOT_APPLIED
            reasons: tuple[str, ...] = (miss,)
        else:
            ok, reasons, detail, needs = _grant(policy, request)
            result = PolicyResult.SUCCESS if ok else PolicyResult.FAILURE
            if not ok and policy.state is PolicyState.ENABLED:
                details.extend(detail)
                if needs:
                    requirements.extend(needs)
                else:
                    hard_failure = True
        if policy.state is PolicyState.REPORT_ONLY:
            result = _REPORT_ONLY[result]
        outcomes.append(
            PolicyOutcome(
                policy.id,
                policy.display_name,
                result,
                tuple(c.value for c in policy.controls) + policy.requirements,
                reasons,
                miss,
                needs,
                policy.unobserved,
            )
        )
    failures = [o for o in outcomes if o.result is PolicyResult.FAILURE]
    if failures:
        chain = tuple(r for o in failures for r in o.reasons)
        needed = () if hard_failure else tuple(dict.fromkeys(requirements))
        return Decision(False, AccessStatus.FAILURE, tuple(outcomes), chain, tuple(details), needed)
    if any(o.result is PolicyResult.SUCCESS for o in outcomes):
        reasons = ("every applicable policy is satisfied",)
        return Decision(True, AccessStatus.SUCCESS, tuple(outcomes), reasons)
    return Decision(
        True, AccessStatus.NOT_APPLIED, tuple(outcomes), ("no enforced policy applies",)
    )


def first_unmatched_condition(policy: AccessPolicy, req: SignInRequest) -> str | None:
    """None when the policy applies; otherwise the first condition that did not match."""
    c = policy.conditions
    if policy.classic and req.app_id != THREAT_DEFENSE_APP:
        return "classic policy: protects the threat-defense endpoints only"
    if c.targets_unobservable:
        return c.targets_unobservable
    # users
    if NONE in c.include_users:
        return "users: the policy includes no users"
    user_in = (
        ALL in c.include_users
        or req.user_id in c.include_users
        or not req.group_ids.isdisjoint(c.include_groups)
        or not req.role_ids.isdisjoint(c.include_roles)
    )
    if not user_in:
        return "users: the user is not included"
    if req.user_id in c.exclude_users:
        return "users: the user is excluded"
    if not req.group_ids.isdisjoint(c.exclude_groups):
        return "users: a group of the user is excluded"
    if not req.role_ids.isdisjoint(c.exclude_roles):
        return "users: a role of the user is excluded"
    # applications
    if not (ALL in c.include_applications or req.app_id in c.include_applications):
        return f"applications: {req.app_id} is not included"
    if req.app_id in c.exclude_applications:
        return f"applications: {req.app_id} is excluded"
    # client app types
    if ALL.lower() not in c.client_app_types and req.client_app_type not in c.client_app_types:
        return f"clientAppTypes: {req.client_app_type} is not included"
    # platforms (only when the policy sets the condition)
    if c.include_platforms:
        platform = (req.device.platform if req.device else "").lower()
        included = {p.lower() for p in c.include_platforms}
        if "all" not in included and platform not in included:
            return f"platforms: {platform or 'unknown platform'} is not included"
        if platform and platform in {p.lower() for p in c.exclude_platforms}:
            return f"platforms: {platform} is excluded"
    # locations (only when set)
    if c.include_locations:
        here = "an unknown address" if not req.client_ip else req.client_ip
        if not (
            ALL in c.include_locations
            or ("AllTrusted" in c.include_locations and req.trusted_location)
            or not req.location_ids.isdisjoint(c.include_locations)
            or not req.unknown_location_ids.isdisjoint(c.include_locations)
        ):
            return f"locations: {here} is not in an included location"
        if ("AllTrusted" in c.exclude_locations and req.trusted_location) or (
            not req.location_ids.isdisjoint(c.exclude_locations)
        ):
            return f"locations: {here} is in an excluded location"
    # filter for devices
    if c.device_filter is not None:
        props = req.device.filter_properties() if req.device else _EMPTY
        hit = c.device_filter.matches(props)
        if c.device_filter_mode == "include" and not hit:
            return "devices: the device does not match the included filter"
        if c.device_filter_mode == "exclude" and hit:
            return "devices: the device matches the excluded filter"
    return None


_Check = tuple[bool, str, dict[str, Any], str | None]


def _grant(
    policy: AccessPolicy, req: SignInRequest
) -> tuple[bool, tuple[str, ...], list[dict[str, Any]], tuple[str, ...]]:
    checks = [_control(policy, control, req) for control in policy.controls]
    prefix = f"policy '{policy.display_name}'"
    for requirement in policy.requirements:
        ok = req.mfa_satisfied
        checks.append(
            (
                ok,
                f"{prefix} -> {requirement}: " + ("performed" if ok else "not performed"),
                {"policyId": policy.id, "policy": policy.display_name, "control": requirement},
                None if ok else requirement,
            )
        )
    for control in policy.unenforceable:
        checks.append(
            (
                False,
                f"{prefix} -> {control}: cannot be satisfied here",
                {"policyId": policy.id, "policy": policy.display_name, "control": control},
                None,
            )
        )
    if not checks:
        return True, (f"{prefix}: no grant control",), [], ()
    satisfied = [c for c in checks if c[0]]
    failed = [c for c in checks if not c[0]]
    ok = bool(satisfied) if policy.operator == "OR" else not failed
    if ok:
        return True, tuple(c[1] for c in satisfied), [], ()
    if policy.operator == "OR":
        # any one control would do: what the caller can still do is any requirement listed
        needs = tuple(c[3] for c in failed if c[3])
    else:
        needs = tuple(c[3] for c in failed if c[3]) if all(c[3] for c in failed) else ()
    return False, tuple(c[1] for c in failed), [c[2] for c in failed], needs


def _control(policy: AccessPolicy, control: Control, req: SignInRequest) -> _Check:
    detail: dict[str, Any] = {
        "policyId": policy.id,
        "policy": policy.display_name,
        "control": control.value,
    }
    prefix = f"policy '{policy.display_name}' -> {control.value}"
    if control is Control.BLOCK:
        return False, f"{prefix}: access is blocked", detail, None
    if control is Control.MFA:
        if req.mfa_satisfied:
            return True, f"{prefix}: performed", detail, None
        return False, f"{prefix}: multi-factor authentication is required", detail, "mfa"
    if control is Control.PASSWORD_CHANGE:
        return False, f"{prefix}: a password change is required", detail, "passwordChange"
    if control in (Control.COMPLIANT_APPLICATION, Control.APPROVED_APPLICATION):
        if req.app_protected:
            return True, f"{prefix}: the client app is protected", detail, None
        return (
            False,
            f"{prefix}: the client app is not protected by an app protection policy",
            detail,
            None,
        )
    device = req.device
    if device is None:
        return False, f"{prefix}: the request carries no managed device", detail, None
    detail["device"] = {"id": device.device_id, "displayName": device.display_name}
    if control is Control.DOMAIN_JOINED_DEVICE:
        if device.trust_type == "ServerAd":
            return True, f"{prefix}: device {device.display_name} is hybrid-joined", detail, None
        return (
            False,
            f"{prefix}: device {device.display_name} is not hybrid-joined "
            f"(trust type {device.trust_type or 'unknown'})",
            detail,
            None,
        )
    if device.is_compliant:
        return True, f"{prefix}: device {device.display_name} is compliant", detail, None
    parts = [f"{prefix}: device {device.display_name} is {device.compliance_state}"]
    for s in device.noncompliant_settings:
        parts.append(f"{s['policy']} -> {s['setting']}: {s['reason']}")
    if device.threat_level:
        parts.append(f"threat level {device.threat_level}")
    if device.active_alerts:
        titles = ", ".join(f"{a.title} ({a.severity})" for a in device.active_alerts)
        parts.append(f"{len(device.active_alerts)} active alerts: {titles}")
    detail.update(
        complianceState=device.compliance_state,
        settings=list(device.noncompliant_settings),
        threatLevel=device.threat_level,
        alerts=[
            {"id": a.id, "title": a.title, "severity": a.severity} for a in device.active_alerts
        ],
    )
    return False, " -> ".join(parts), detail, None
