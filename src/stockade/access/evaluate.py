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
# module constants: enum member lookups cost a descriptor call each on the hot path
_SUCCESS = PolicyResult.SUCCESS
_FAILURE = PolicyResult.FAILURE
_NOT_APPLIED = PolicyResult.NOT_APPLIED


def evaluate_access(request: SignInRequest, policies: Iterable[AccessPolicy]) -> Decision:
    """Evaluate once; callers deciding many sign-ins keep a `PolicySet` instead."""
    return PolicySet(policies).evaluate(request)


class PolicySet:
    """A tenant's policies, indexed by target application for fast decisions.

    Most policies name a few applications, so for a sign-in to app X only the policies that
    include X (or All) are evaluated; the others' `notApplied` outcomes are computed once per
    application and reused. Conditions are checked in a fixed order, applications first, so
    the indexed path and `first_unmatched_condition` (What If) report the same reason.
    """

    def __init__(self, policies: Iterable[AccessPolicy]) -> None:
        self.policies = tuple(policies)
        self._controls = [_controls(p) for p in self.policies]
        self._compiled = [_Compiled(p.conditions) for p in self.policies]
        self._prefixes = [
            tuple(f"policy '{p.display_name}' -> {c.value}" for c in p.controls)
            for p in self.policies
        ]
        # who each policy includes, inverted, so a sign-in finds the policies that include its
        # user with a few set unions instead of testing every candidate
        self._all_users: set[int] = set()
        self._by_member: dict[str, set[int]] = {}
        for i, c in enumerate(self._compiled):
            if c.users_none:
                continue
            if c.users_all:
                self._all_users.add(i)
            for member in (*c.inc_users, *c.inc_groups, *c.inc_roles):
                self._by_member.setdefault(member, set()).add(i)
        self._enforced = [p.state is PolicyState.ENABLED for p in self.policies]
        self._report_only = [p.state is PolicyState.REPORT_ONLY for p in self.policies]
        self._any_app: list[int] = []
        self._by_app: dict[str, list[int]] = {}
        for i, p in enumerate(self.policies):
            if p.state is PolicyState.DISABLED or p.conditions.targets_unobservable:
                continue
            if ALL in p.conditions.include_applications:
                self._any_app.append(i)
            else:
                for app in p.conditions.include_applications:
                    self._by_app.setdefault(app, []).append(i)
        self._templates: dict[str, tuple[list[PolicyOutcome | None], list[int]]] = {}
        # notApplied outcomes repeat: one object per (policy, reason), reused across sign-ins
        self._missed: dict[tuple[int, str], PolicyOutcome] = {}
        self._granted: dict[
            tuple[Any, ...], tuple[bool, tuple[str, ...], Any, tuple[str, ...]]
        ] = {}

    def _template(self, app_id: str) -> tuple[list[PolicyOutcome | None], list[int]]:
        """Outcomes of the policies that cannot apply to `app_id`, and the candidates' indexes."""
        cached = self._templates.get(app_id)
        if cached is not None:
            return cached
        candidates = sorted(
            i
            for i in (*self._any_app, *self._by_app.get(app_id, ()))
            if app_id not in self.policies[i].conditions.exclude_applications
            and not (self.policies[i].classic and app_id != THREAT_DEFENSE_APP)
        )
        chosen = set(candidates)
        template: list[PolicyOutcome | None] = []
        for i, p in enumerate(self.policies):
            if i in chosen:
                template.append(None)
            elif p.state is PolicyState.DISABLED:
                template.append(
                    PolicyOutcome(p.id, p.display_name, PolicyResult.NOT_ENABLED, (), ())
                )
            else:
                miss = _app_unmatched(p, app_id) or "applications: not included"
                result = PolicyResult.NOT_APPLIED
                if p.state is PolicyState.REPORT_ONLY:
                    result = _REPORT_ONLY[result]
                template.append(
                    PolicyOutcome(
                        p.id, p.display_name, result, _controls(p), (miss,), miss, (), p.unobserved
                    )
                )
        if len(self._templates) > 10_000:  # app ids come from requests: bound the memo
            self._templates.clear()
        self._templates[app_id] = (template, candidates)
        return template, candidates

    def evaluate(self, request: SignInRequest) -> Decision:
        template, candidates = self._template(request.app_id)
        outcomes = list(template)
        details: list[dict[str, Any]] = []
        requirements: list[str] = []
        hard_failure = False
        failures: list[PolicyOutcome] = []
        applied_success = False
        policies, controls, compiled = self.policies, self._controls, self._compiled
        prefixes = self._prefixes
        by_member = self._by_member
        included = set(self._all_users)
        for member in (request.user_id, *request.group_ids, *request.role_ids):
            found = by_member.get(member)
            if found:
                included |= found
        enforced, report_only = self._enforced, self._report_only
        for i in candidates:
            policy = policies[i]
            if i not in included:  # the same reason _unmatched gives, without the work
                miss = (
                    "users: the policy includes no users"
                    if compiled[i].users_none
                    else "users: the user is not included"
                )
            else:
                miss = _unmatched(compiled[i], request)
            needs: tuple[str, ...] = ()
            if miss is not None:
                known = self._missed.get((i, miss))
                if known is None:
                    result = _REPORT_ONLY[_NOT_APPLIED] if report_only[i] else _NOT_APPLIED
                    known = PolicyOutcome(
                        policy.id,
                        policy.display_name,
                        result,
                        controls[i],
                        (miss,),
                        miss,
                        (),
                        policy.unobserved,
                    )
                    if len(self._missed) > 100_000:  # reasons can name addresses: bound it
                        self._missed.clear()
                    self._missed[(i, miss)] = known
                outcomes[i] = known
                continue
            # a satisfied grant reads the same for every sign-in of the same shape (its reasons
            # name no device): reuse it; failures name the device and are built each time
            device = request.device
            shape = (
                i,
                device is None,
                device.is_compliant if device else False,
                device.trust_type if device else "",
                request.mfa_satisfied,
                request.app_protected,
            )
            granted = self._granted.get(shape)
            if granted is not None:
                ok, reasons, detail, needs = granted
            else:
                ok, reasons, detail, needs = _grant(policy, request, prefixes[i])
                if ok:
                    if len(self._granted) > 100_000:
                        self._granted.clear()
                    self._granted[shape] = (ok, reasons, detail, needs)
            result = _SUCCESS if ok else _FAILURE
            if enforced[i]:
                if ok:
                    applied_success = True
                else:
                    details.extend(detail)
                    if needs:
                        requirements.extend(needs)
                    else:
                        hard_failure = True
            if report_only[i]:
                result = _REPORT_ONLY[result]
            outcome = PolicyOutcome(
                policy.id,
                policy.display_name,
                result,
                controls[i],
                reasons,
                miss,
                needs,
                policy.unobserved,
            )
            outcomes[i] = outcome
            if result is _FAILURE:
                failures.append(outcome)
        final: tuple[PolicyOutcome, ...] = tuple(outcomes)  # type: ignore[arg-type]
        if failures:
            chain = tuple(r for o in failures for r in o.reasons)
            needed = () if hard_failure else tuple(dict.fromkeys(requirements))
            return Decision(False, AccessStatus.FAILURE, final, chain, tuple(details), needed)
        if applied_success:
            return Decision(
                True, AccessStatus.SUCCESS, final, ("every applicable policy is satisfied",)
            )
        return Decision(True, AccessStatus.NOT_APPLIED, final, ("no enforced policy applies",))


def _controls(policy: AccessPolicy) -> tuple[str, ...]:
    return tuple(c.value for c in policy.controls) + policy.requirements


def first_unmatched_condition(policy: AccessPolicy, req: SignInRequest) -> str | None:
    """None when the policy applies; otherwise the first condition that did not match."""
    return _app_unmatched(policy, req.app_id) or _rest_unmatched(policy, req)


def _app_unmatched(policy: AccessPolicy, app_id: str) -> str | None:
    c = policy.conditions
    if policy.classic and app_id != THREAT_DEFENSE_APP:
        return "classic policy: protects the threat-defense endpoints only"
    if c.targets_unobservable:
        return c.targets_unobservable
    if not (ALL in c.include_applications or app_id in c.include_applications):
        return f"applications: {app_id} is not included"
    if app_id in c.exclude_applications:
        return f"applications: {app_id} is excluded"
    return None


class _Compiled:
    """A policy's conditions as sets and flags, so each check is one set operation."""

    __slots__ = (
        "client_all",
        "client_types",
        "device_filter",
        "exc_groups",
        "exc_locations",
        "exc_platforms",
        "exc_roles",
        "exc_trusted",
        "exc_users",
        "filter_mode",
        "inc_all_locations",
        "inc_groups",
        "inc_locations",
        "inc_platforms",
        "inc_roles",
        "inc_trusted",
        "inc_users",
        "locations_set",
        "platforms_all",
        "platforms_set",
        "users_all",
        "users_none",
    )

    def __init__(self, c: Any) -> None:
        self.users_none = NONE in c.include_users
        self.users_all = ALL in c.include_users
        self.inc_users = frozenset(c.include_users)
        self.inc_groups = frozenset(c.include_groups)
        self.inc_roles = frozenset(c.include_roles)
        self.exc_users = frozenset(c.exclude_users)
        self.exc_groups = frozenset(c.exclude_groups)
        self.exc_roles = frozenset(c.exclude_roles)
        self.client_all = ALL.lower() in c.client_app_types
        self.client_types = frozenset(c.client_app_types)
        self.platforms_set = bool(c.include_platforms)
        self.inc_platforms = frozenset(p.lower() for p in c.include_platforms)
        self.platforms_all = "all" in self.inc_platforms
        self.exc_platforms = frozenset(p.lower() for p in c.exclude_platforms)
        self.locations_set = bool(c.include_locations)
        self.inc_all_locations = ALL in c.include_locations
        self.inc_trusted = "AllTrusted" in c.include_locations
        self.inc_locations = frozenset(c.include_locations)
        self.exc_trusted = "AllTrusted" in c.exclude_locations
        self.exc_locations = frozenset(c.exclude_locations)
        self.device_filter = c.device_filter
        self.filter_mode = c.device_filter_mode


def _rest_unmatched(policy: AccessPolicy, req: SignInRequest) -> str | None:
    return _unmatched(_Compiled(policy.conditions), req)


def _unmatched(c: _Compiled, req: SignInRequest) -> str | None:
    # users
    if c.users_none:
        return "users: the policy includes no users"
    if not (
        c.users_all
        or req.user_id in c.inc_users
        or not c.inc_groups.isdisjoint(req.group_ids)
        or not c.inc_roles.isdisjoint(req.role_ids)
    ):
        return "users: the user is not included"
    if req.user_id in c.exc_users:
        return "users: the user is excluded"
    if not c.exc_groups.isdisjoint(req.group_ids):
        return "users: a group of the user is excluded"
    if not c.exc_roles.isdisjoint(req.role_ids):
        return "users: a role of the user is excluded"
    # client app types
    if not c.client_all and req.client_app_type not in c.client_types:
        return f"clientAppTypes: {req.client_app_type} is not included"
    # platforms (only when the policy sets the condition)
    if c.platforms_set:
        platform = (req.device.platform if req.device else "").lower()
        if not c.platforms_all and platform not in c.inc_platforms:
            return f"platforms: {platform or 'unknown platform'} is not included"
        if platform and platform in c.exc_platforms:
            return f"platforms: {platform} is excluded"
    # locations (only when set)
    if c.locations_set:
        here = "an unknown address" if not req.client_ip else req.client_ip
        if not (
            c.inc_all_locations
            or (c.inc_trusted and req.trusted_location)
            or not c.inc_locations.isdisjoint(req.location_ids)
            or not c.inc_locations.isdisjoint(req.unknown_location_ids)
        ):
            return f"locations: {here} is not in an included location"
        if (c.exc_trusted and req.trusted_location) or not c.exc_locations.isdisjoint(
            req.location_ids
        ):
            return f"locations: {here} is in an excluded location"
    # filter for devices
    if c.device_filter is not None:
        props = req.device.filter_properties if req.device else _EMPTY
        hit = c.device_filter.matches(props)
        if c.filter_mode == "include" and not hit:
            return "devices: the device does not match the included filter"
        if c.filter_mode == "exclude" and hit:
            return "devices: the device matches the excluded filter"
    return None


_Check = tuple[bool, str, dict[str, Any], str | None]


def _grant(
    policy: AccessPolicy, req: SignInRequest, prefixes: tuple[str, ...]
) -> tuple[bool, tuple[str, ...], list[dict[str, Any]], tuple[str, ...]]:
    checks = [
        _control(policy, c, req, pre) for c, pre in zip(policy.controls, prefixes, strict=True)
    ]
    if policy.requirements or policy.unenforceable:  # imported policies only: rare
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
        return True, (f"policy '{policy.display_name}': no grant control",), [], ()
    satisfied = [c for c in checks if c[0]]
    if policy.operator == "OR" and satisfied:
        return True, tuple(c[1] for c in satisfied), [], ()
    failed = [c for c in checks if not c[0]]
    if not failed:
        return True, tuple(c[1] for c in satisfied), [], ()
    if policy.operator == "OR":
        # any one control would do: what the caller can still do is any requirement listed
        needs = tuple(c[3] for c in failed if c[3])
    else:
        needs = tuple(c[3] for c in failed if c[3]) if all(c[3] for c in failed) else ()
    return False, tuple(c[1] for c in failed), [c[2] for c in failed], needs


def _failed(
    policy: AccessPolicy,
    control: Control,
    reason: str,
    requirement: str | None = None,
    **extra: Any,
) -> _Check:
    detail = {"policyId": policy.id, "policy": policy.display_name, "control": control.value}
    return False, reason, {**detail, **extra}, requirement


def _control(policy: AccessPolicy, control: Control, req: SignInRequest, prefix: str) -> _Check:
    if control is Control.BLOCK:
        return _failed(policy, control, f"{prefix}: access is blocked")
    if control is Control.MFA:
        if req.mfa_satisfied:
            return True, f"{prefix}: performed", _EMPTY, None
        return _failed(policy, control, f"{prefix}: multi-factor authentication is required", "mfa")
    if control is Control.PASSWORD_CHANGE:
        return _failed(
            policy, control, f"{prefix}: a password change is required", "passwordChange"
        )
    if control in (Control.COMPLIANT_APPLICATION, Control.APPROVED_APPLICATION):
        if req.app_protected:
            return True, f"{prefix}: the client app is protected", _EMPTY, None
        return _failed(
            policy,
            control,
            f"{prefix}: the client app is not protected by an app protection policy",
        )
    device = req.device
    if device is None:
        return _failed(policy, control, f"{prefix}: the request carries no managed device")
    which = {"device": {"id": device.device_id, "displayName": device.display_name}}
    if control is Control.DOMAIN_JOINED_DEVICE:
        if device.trust_type == "ServerAd":
            return True, f"{prefix}: the device is hybrid-joined", _EMPTY, None
        return _failed(
            policy,
            control,
            f"{prefix}: device {device.display_name} is not hybrid-joined "
            f"(trust type {device.trust_type or 'unknown'})",
            **which,
        )
    if device.is_compliant:
        return True, f"{prefix}: the device is compliant", _EMPTY, None
    parts = [f"{prefix}: device {device.display_name} is {device.compliance_state}"]
    for s in device.noncompliant_settings:
        parts.append(f"{s['policy']} -> {s['setting']}: {s['reason']}")
    if device.threat_level:
        parts.append(f"threat level {device.threat_level}")
    if device.active_alerts:
        titles = ", ".join(f"{a.title} ({a.severity})" for a in device.active_alerts)
        parts.append(f"{len(device.active_alerts)} active alerts: {titles}")
    return _failed(
        policy,
        control,
        " -> ".join(parts),
        **which,
        complianceState=device.compliance_state,
        settings=list(device.noncompliant_settings),
        threatLevel=device.threat_level,
        alerts=[
            {"id": a.id, "title": a.title, "severity": a.severity} for a in device.active_alerts
        ],
    )
