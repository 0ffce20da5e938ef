"""The conditional access evaluator. Pure: a sign-in and the tenant's policies in, a decision out.

Semantics (Entra's):
- A policy applies when its users, applications and platform conditions all match. A policy
  whose users condition names nobody never applies.
- Every applicable enabled policy must be satisfied; `block` always fails; with operator OR one
  satisfied control is enough, with AND all must be.
- Report-only policies are evaluated and recorded (`reportOnly*`), never enforced.
- Disabled policies are recorded as `notEnabled`.
- The request is allowed when no enforced policy fails. With no enforced policy applying, the
  status is `notApplied`.
- Classic policies protect only the threat-defense endpoints; they never apply to other apps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stockade.access.model import (
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


def evaluate_access(request: SignInRequest, policies: Iterable[AccessPolicy]) -> Decision:
    outcomes: list[PolicyOutcome] = []
    details: list[dict[str, Any]] = []
    for policy in policies:
        if policy.state is PolicyState.DISABLED:
            outcomes.append(
                PolicyOutcome(policy.id, policy.display_name, PolicyResult.NOT_ENABLED, (), ())
            )
            continue
        miss = _first_unmatched_condition(policy, request)
        if miss is not None:
            result = PolicyResult.NOT_APPLIED
            reasons: tuple[str, ...] = (miss,)
        else:
            ok, reasons, detail = _grant(policy, request)
            result = PolicyResult.SUCCESS if ok else PolicyResult.FAILURE
            if not ok and policy.state is PolicyState.ENABLED:
                details.extend(detail)
        if policy.state is PolicyState.REPORT_ONLY:
            result = _REPORT_ONLY[result]
        outcomes.append(
            PolicyOutcome(
                policy.id,
                policy.display_name,
                result,
                tuple(c.value for c in policy.controls),
                reasons,
            )
        )
    failures = [o for o in outcomes if o.result is PolicyResult.FAILURE]
    if failures:
        chain = tuple(r for o in failures for r in o.reasons)
        return Decision(False, AccessStatus.FAILURE, tuple(outcomes), chain, tuple(details))
    if any(o.result is PolicyResult.SUCCESS for o in outcomes):
        reasons = ("every applicable policy is satisfied",)
        return Decision(True, AccessStatus.SUCCESS, tuple(outcomes), reasons)
    return Decision(
        True, AccessStatus.NOT_APPLIED, tuple(outcomes), ("no enforced policy applies",)
    )


def _first_unmatched_condition(policy: AccessPolicy, req: SignInRequest) -> str | None:
    c = policy.conditions
    if policy.classic and req.app_id != THREAT_DEFENSE_APP:
        return "classic policy: protects the threat-defense endpoints only"
    # users
    user_in = (
        "All" in c.include_users
        or req.user_id in c.include_users
        or bool(req.group_ids & set(c.include_groups))
    )
    if not user_in:
        return "users: the user is not included"
    if req.user_id in c.exclude_users or req.group_ids & set(c.exclude_groups):
        return "users: the user is excluded"
    # applications
    if not ("All" in c.include_applications or req.app_id in c.include_applications):
        return f"applications: {req.app_id} is not included"
    if req.app_id in c.exclude_applications:
        return f"applications: {req.app_id} is excluded"
    # platforms (only when the policy sets the condition)
    if c.include_platforms:
        platform = (req.device.platform if req.device else "").lower()
        included = {p.lower() for p in c.include_platforms}
        if "all" not in included and platform not in included:
            return f"platforms: {platform or 'unknown platform'} is not included"
        if platform and platform in {p.lower() for p in c.exclude_platforms}:
            return f"platforms: {platform} is excluded"
    return None


def _grant(
    policy: AccessPolicy, req: SignInRequest
) -> tuple[bool, tuple[str, ...], list[dict[str, Any]]]:
    results = [_control(policy, control, req) for control in policy.controls]
    if not results:
        return True, (f"{policy.display_name}: no grant control",), []
    satisfied = [r for r in results if r[0]]
    ok = bool(satisfied) if policy.operator == "OR" else len(satisfied) == len(results)
    if ok:
        return True, tuple(r[1] for r in satisfied), []
    failed = [r for r in results if not r[0]]
    return False, tuple(r[1] for r in failed), [r[2] for r in failed]


def _control(
    policy: AccessPolicy, control: Control, req: SignInRequest
) -> tuple[bool, str, dict[str, Any]]:
    detail: dict[str, Any] = {
        "policyId": policy.id,
        "policy": policy.display_name,
        "control": control.value,
    }
    prefix = f"policy '{policy.display_name}' -> {control.value}"
    if control is Control.BLOCK:
        return False, f"{prefix}: access is blocked", detail
    device = req.device
    if device is None:
        return False, f"{prefix}: the request carries no managed device", detail
    detail["device"] = {"id": device.device_id, "displayName": device.display_name}
    if device.is_compliant:
        return True, f"{prefix}: device {device.display_name} is compliant", detail
    parts = [f"{prefix}: device {device.display_name} is {device.compliance_state}"]
    settings = []
    for s in device.noncompliant_settings:
        parts.append(f"{s['policy']} -> {s['setting']}: {s['reason']}")
        settings.append(s)
    if device.threat_level:
        parts.append(f"threat level {device.threat_level}")
    if device.active_alerts:
        titles = ", ".join(f"{a.title} ({a.severity})" for a in device.active_alerts)
        parts.append(f"{len(device.active_alerts)} active alerts: {titles}")
    detail.update(
        complianceState=device.compliance_state,
        settings=settings,
        threatLevel=device.threat_level,
        alerts=[
            {"id": a.id, "title": a.title, "severity": a.severity} for a in device.active_alerts
        ],
    )
    return False, " -> ".join(parts), detail
