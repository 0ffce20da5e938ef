"""Graph `conditionalAccessPolicy` JSON to the evaluator's model, and back. Pure.

Admins keep policies as Graph JSON (exports, baselines, policy-as-code). Everything Graph
defines is accepted: read-only properties are dropped, and parts Stockade cannot observe are
kept, listed in `unobserved` with how decisions treat them, and never silently allowed:

- user, sign-in, service-principal or insider risk levels; authentication flows; the
  deprecated `times`, `deviceStates`, `devices.includeDevices`: the condition counts as met, so
  the policy applies as if the risk or state were present;
- `users.includeGuestsOrExternalUsers` / `exclude...`: no guest or external users sign in
  here, so they include nobody / exclude nobody;
- `applications.includeUserActions` or `includeAuthenticationContextClassReferences` (without
  applications), `clientApplications`: the policy targets sign-ins never seen here and never
  applies;
- `applications.applicationFilter`: ignored, the policy applies to every included application;
- `grantControls.authenticationStrength`: a requirement the caller meets by asserting
  multi-factor authentication;
- `grantControls.termsOfUse`, `customAuthenticationFactors`: cannot be satisfied here, the
  control fails;
- `sessionControls`: not enforced (sign-in frequency and sessions belong to the proxy or the
  identity provider); no effect on the decision.

A property Graph does not define is refused, naming it.
"""

from __future__ import annotations

from typing import Any

from stockade.access.device_filter import DeviceFilterError, parse_device_filter
from stockade.access.model import (
    AccessPolicy,
    ClientAppType,
    Conditions,
    Control,
    PolicyState,
    Unobserved,
)

READ_ONLY = frozenset(
    {
        "id",
        "templateId",
        "createdDateTime",
        "modifiedDateTime",
        "classic",
        "stockadeNotEnforced",
        "partialEnablementStrategy",
        "deletedDateTime",
    }
)

_KNOWN: dict[str, frozenset[str]] = {
    "": frozenset(
        {"displayName", "state", "conditions", "grantControls", "sessionControls", "description"}
    ),
    "conditions": frozenset(
        {
            "userRiskLevels",
            "signInRiskLevels",
            "servicePrincipalRiskLevels",
            "insiderRiskLevels",
            "clientAppTypes",
            "platforms",
            "locations",
            "times",
            "deviceStates",
            "devices",
            "clientApplications",
            "applications",
            "users",
            "authenticationFlows",
            "agentIdRiskLevels",
        }
    ),
    "conditions.users": frozenset(
        {
            "includeUsers",
            "excludeUsers",
            "includeGroups",
            "excludeGroups",
            "includeRoles",
            "excludeRoles",
            "includeGuestsOrExternalUsers",
            "excludeGuestsOrExternalUsers",
        }
    ),
    "conditions.applications": frozenset(
        {
            "includeApplications",
            "excludeApplications",
            "includeUserActions",
            "includeAuthenticationContextClassReferences",
            "applicationFilter",
            "networkAccess",
            "globalSecureAccess",
        }
    ),
    "conditions.platforms": frozenset({"includePlatforms", "excludePlatforms"}),
    "conditions.locations": frozenset({"includeLocations", "excludeLocations"}),
    "conditions.devices": frozenset(
        {
            "includeDevices",
            "excludeDevices",
            "includeDeviceStates",
            "excludeDeviceStates",
            "deviceFilter",
        }
    ),
    "conditions.devices.deviceFilter": frozenset({"mode", "rule"}),
    "grantControls": frozenset(
        {
            "operator",
            "builtInControls",
            "customAuthenticationFactors",
            "termsOfUse",
            "authenticationStrength",
            "authenticationStrength@odata.context",
        }
    ),
}
PLATFORMS = frozenset({"all", "android", "ios", "windows", "windowsphone", "macos", "linux"})
_AS_MET = "the condition counts as met: the policy applies as if it were present"


class PolicyDefinitionError(ValueError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def _strip(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in READ_ONLY and not k.startswith("@odata")}


def parse_policy(raw: Any, *, partial: bool = False) -> tuple[dict[str, Any], AccessPolicy]:
    """Validate Graph JSON; returns the stored definition and the model (id left empty).

    With `partial`, top-level properties may be missing (a PATCH body).
    """
    errors: list[dict[str, str]] = []
    if not isinstance(raw, dict):
        raise PolicyDefinitionError([{"field": "(body)", "message": "must be a JSON object"}])
    definition = _strip(raw)
    _check_known(definition, "", errors)
    if not partial:
        for required in ("displayName", "state", "conditions"):
            if required not in definition:
                errors.append({"field": required, "message": "is required"})
    if errors:
        raise PolicyDefinitionError(errors)
    if partial:
        return definition, _placeholder()
    return definition, build_policy(definition)


def _placeholder() -> AccessPolicy:
    return AccessPolicy("", "", PolicyState.DISABLED, Conditions(), (), "OR")


def _check_known(obj: dict[str, Any], path: str, errors: list[dict[str, str]]) -> None:
    known = _KNOWN.get(path)
    if known is None:
        return
    for key, value in obj.items():
        full = f"{path}.{key}" if path else key
        if key.startswith("@odata"):
            continue
        if key not in known:
            errors.append(
                {"field": full, "message": "is not a property of a conditional access policy"}
            )
        elif isinstance(value, dict) and full in _KNOWN:
            _check_known(value, full, errors)


def build_policy(definition: dict[str, Any], *, classic: bool = False) -> AccessPolicy:
    errors: list[dict[str, str]] = []
    unobserved: list[Unobserved] = []

    def strings(obj: Any, key: str, path: str) -> tuple[str, ...]:
        value = (obj or {}).get(key) if isinstance(obj, dict) else None
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append({"field": f"{path}.{key}", "message": "must be a list of strings"})
            return ()
        return tuple(value)

    name = definition.get("displayName")
    if not isinstance(name, str) or not name.strip():
        errors.append({"field": "displayName", "message": "must be a non-empty string"})
    try:
        state = PolicyState(definition.get("state"))
    except ValueError:
        errors.append(
            {"field": "state", "message": f"must be one of {[s.value for s in PolicyState]}"}
        )
        state = PolicyState.DISABLED
    cond = definition.get("conditions") or {}
    if not isinstance(cond, dict):
        errors.append({"field": "conditions", "message": "must be an object"})
        cond = {}
    users = cond.get("users") or {}
    apps = cond.get("applications") or {}
    platforms = cond.get("platforms") or {}
    locations = cond.get("locations") or {}
    devices = cond.get("devices") or {}

    for key in ("userRiskLevels", "signInRiskLevels", "servicePrincipalRiskLevels"):
        if strings(cond, key, "conditions"):
            unobserved.append(Unobserved(f"conditions.{key}", _AS_MET))
    for key in ("insiderRiskLevels", "authenticationFlows", "times", "deviceStates"):
        if cond.get(key):
            unobserved.append(Unobserved(f"conditions.{key}", _AS_MET))
    if strings(devices, "includeDevices", "conditions.devices") or strings(
        devices, "excludeDevices", "conditions.devices"
    ):
        unobserved.append(Unobserved("conditions.devices.includeDevices", _AS_MET))
    if users.get("includeGuestsOrExternalUsers"):
        unobserved.append(
            Unobserved(
                "conditions.users.includeGuestsOrExternalUsers",
                "no guest or external users sign in here: it includes nobody",
            )
        )
    if users.get("excludeGuestsOrExternalUsers"):
        unobserved.append(
            Unobserved(
                "conditions.users.excludeGuestsOrExternalUsers",
                "no guest or external users sign in here: it excludes nobody",
            )
        )
    if apps.get("applicationFilter"):
        unobserved.append(
            Unobserved(
                "conditions.applications.applicationFilter",
                "ignored: the policy applies to every included application",
            )
        )

    targets_unobservable = None
    include_apps = strings(apps, "includeApplications", "conditions.applications")
    if not include_apps and (
        strings(apps, "includeUserActions", "conditions.applications")
        or strings(apps, "includeAuthenticationContextClassReferences", "conditions.applications")
    ):
        targets_unobservable = (
            "applications: the policy targets user actions or authentication contexts, "
            "which are never seen here"
        )
        unobserved.append(
            Unobserved(
                "conditions.applications.includeUserActions", "the policy never applies here"
            )
        )
    if cond.get("clientApplications"):
        targets_unobservable = "clientApplications: workload identities never sign in here"
        unobserved.append(
            Unobserved("conditions.clientApplications", "the policy never applies here")
        )

    client_types = strings(cond, "clientAppTypes", "conditions") or (ClientAppType.ALL.value,)
    valid_types = {t.value for t in ClientAppType}
    for t in client_types:
        if t not in valid_types:
            errors.append({"field": "conditions.clientAppTypes", "message": f"unknown value {t!r}"})
    inc_platforms = strings(platforms, "includePlatforms", "conditions.platforms")
    exc_platforms = strings(platforms, "excludePlatforms", "conditions.platforms")
    for p in (*inc_platforms, *exc_platforms):
        if p.lower() not in PLATFORMS:
            errors.append({"field": "conditions.platforms", "message": f"unknown platform {p!r}"})

    device_filter = None
    mode = None
    raw_filter = devices.get("deviceFilter") if isinstance(devices, dict) else None
    if raw_filter:
        mode = raw_filter.get("mode")
        if mode not in ("include", "exclude"):
            errors.append(
                {
                    "field": "conditions.devices.deviceFilter.mode",
                    "message": "must be include or exclude",
                }
            )
        try:
            device_filter = parse_device_filter(str(raw_filter.get("rule") or ""))
        except DeviceFilterError as exc:
            errors.append({"field": "conditions.devices.deviceFilter.rule", "message": str(exc)})

    grant = definition.get("grantControls") or {}
    controls: list[Control] = []
    for value in strings(grant, "builtInControls", "grantControls"):
        try:
            controls.append(Control(value))
        except ValueError:
            errors.append(
                {"field": "grantControls.builtInControls", "message": f"unknown control {value!r}"}
            )
    operator = grant.get("operator") or "OR"
    if operator not in ("OR", "AND"):
        errors.append({"field": "grantControls.operator", "message": "must be OR or AND"})
    requirements: list[str] = []
    if grant.get("authenticationStrength"):
        strength = grant["authenticationStrength"]
        label = strength.get("displayName") or strength.get("id") or "authenticationStrength"
        requirements.append(f"authenticationStrength:{label}")
        unobserved.append(
            Unobserved(
                "grantControls.authenticationStrength",
                "a requirement the caller meets by asserting multi-factor authentication",
            )
        )
    unenforceable: list[str] = []
    for key in ("termsOfUse", "customAuthenticationFactors"):
        if strings(grant, key, "grantControls"):
            unenforceable.append(key)
            unobserved.append(
                Unobserved(f"grantControls.{key}", "cannot be satisfied here: the control fails")
            )
    if (
        not controls
        and not requirements
        and not unenforceable
        and state is not PolicyState.DISABLED
        and not classic  # the classic rule is enforced by threat defense itself
    ):
        errors.append(
            {
                "field": "grantControls.builtInControls",
                "message": "a policy needs at least one grant control",
            }
        )
    session = definition.get("sessionControls")
    if isinstance(session, dict) and any(v for v in session.values()):
        unobserved.append(
            Unobserved(
                "sessionControls",
                "not enforced: sessions belong to the proxy or identity provider; "
                "no effect on the decision",
            )
        )
    if errors:
        raise PolicyDefinitionError(errors)
    conditions = Conditions(
        include_users=strings(users, "includeUsers", "conditions.users"),
        exclude_users=strings(users, "excludeUsers", "conditions.users"),
        include_groups=strings(users, "includeGroups", "conditions.users"),
        exclude_groups=strings(users, "excludeGroups", "conditions.users"),
        include_roles=strings(users, "includeRoles", "conditions.users"),
        exclude_roles=strings(users, "excludeRoles", "conditions.users"),
        include_applications=include_apps,
        exclude_applications=strings(apps, "excludeApplications", "conditions.applications"),
        include_platforms=inc_platforms,
        exclude_platforms=exc_platforms,
        include_locations=strings(locations, "includeLocations", "conditions.locations"),
        exclude_locations=strings(locations, "excludeLocations", "conditions.locations"),
        client_app_types=client_types,
        device_filter_mode=mode,
        device_filter=device_filter,
        targets_unobservable=targets_unobservable,
    )
    return AccessPolicy(
        id="",
        display_name=str(name),
        state=state,
        conditions=conditions,
        controls=tuple(controls),
        operator=operator,
        requirements=tuple(requirements),
        unenforceable=tuple(unenforceable),
        unobserved=tuple(unobserved),
        definition=definition,
    )


def merge_patch(definition: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Graph PATCH semantics: given properties replace, objects merge one level at a time."""
    merged = dict(definition)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def policy_json(policy: AccessPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        **policy.definition,
        "createdDateTime": policy.created_at,
        "modifiedDateTime": policy.modified_at,
        "classic": policy.classic,
        "stockadeNotEnforced": [
            {"path": u.path, "treatment": u.treatment} for u in policy.unobserved
        ],
    }
