"""App protection conditional launch. Pure: the policies that apply, the threat level the
partner reported (if its app-protection toggle for the platform is on) in; allow, block or wipe
with the reason out.

Rules (Intune's "Max allowed device threat level" conditional launch setting):
- A policy applies when it targets the app (by package id / bundle id), is built for the
  platform and is assigned to a group of the user (or to all licensed users).
- `maximumAllowedDeviceThreatLevel` `notConfigured` does not check the threat level.
- A reported level above the maximum takes the policy's `mobileThreatDefenseRemediationAction`
  (`block` or `wipe`; `warn` allows with a warning).
- No level available (the partner's app-protection toggle is off for the platform, or it has not
  reported this user) blocks, never wipes: deny by default, destroy only on evidence.
- With several policies the strongest action wins: wipe > block > allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stockade.core.model import ThreatLevel
from stockade.mdm.catalog import is_metadata, is_unset
from stockade.mdm.model import AppProtectionPolicy


class LaunchAction(StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    BLOCK = "block"
    WIPE = "wipe"

    @property
    def rank(self) -> int:
        return list(LaunchAction).index(self)


@dataclass(frozen=True)
class LaunchDecision:
    action: LaunchAction
    reason: str
    policy_ids: tuple[str, ...]


def decide_launch(
    policies: list[AppProtectionPolicy],
    threat_level: ThreatLevel | None,
    partner_enabled: bool,
    source: str,
) -> LaunchDecision:
    if not policies:
        return LaunchDecision(
            LaunchAction.ALLOW, "no app protection policy applies to this user and app", ()
        )
    outcomes: list[tuple[LaunchAction, str, str]] = []
    for policy in policies:
        maximum = policy.maximum_allowed_device_threat_level
        if maximum is None:
            outcomes.append(
                (LaunchAction.ALLOW, f"{policy.display_name}: threat level not checked", policy.id)
            )
            continue
        if not partner_enabled:
            outcomes.append(
                (
                    LaunchAction.BLOCK,
                    f"{policy.display_name}: no threat level available: the threat-defense "
                    "connector's app protection is off for this platform",
                    policy.id,
                )
            )
        elif threat_level is None:
            outcomes.append(
                (
                    LaunchAction.BLOCK,
                    f"{policy.display_name}: the threat-defense partner has not reported a "
                    "threat level for this user",
                    policy.id,
                )
            )
        elif threat_level.rank > maximum.rank:
            outcomes.append(
                (
                    LaunchAction(policy.mobile_threat_defense_remediation_action),
                    f"{policy.display_name}: {source} threat level {threat_level.value} is above "
                    f"the allowed {maximum.value}",
                    policy.id,
                )
            )
        else:
            outcomes.append(
                (
                    LaunchAction.ALLOW,
                    f"{policy.display_name}: {source} threat level {threat_level.value} is at or "
                    f"under {maximum.value}",
                    policy.id,
                )
            )
    worst = max((o[0] for o in outcomes), key=_rank)
    reasons = [o[1] for o in outcomes if o[0] is worst]
    return LaunchDecision(worst, "; ".join(reasons), tuple(o[2] for o in outcomes))


def _rank(action: LaunchAction) -> int:
    return action.rank


APP_POLICY_METADATA = {
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "version",
    "roleScopeTagIds",
    "displayName",
    "description",
    "assignments",
    "apps",
    "deploymentSummary",
    "isAssigned",
    "deployedAppCount",
    "maximumAllowedDeviceThreatLevel",
    "mobileThreatDefenseRemediationAction",
}
LEVELS = {"notconfigured": None, **{t.value: t for t in ThreatLevel}}
REMEDIATIONS = ("block", "wipe", "warn")


@dataclass(frozen=True)
class ParsedAppPolicy:
    display_name: str | None
    description: str | None
    maximum: ThreatLevel | str | None
    """A level, None (notConfigured) or "" when the body leaves it out."""
    remediation: str | None
    apps: tuple[str, ...] | None
    unsupported: dict[str, object]
    problems: tuple[tuple[str, str], ...]


def parse_app_policy(raw: dict[str, object]) -> ParsedAppPolicy:
    """Read a Graph managed app protection body; (field, message) problems, never raises."""
    problems: list[tuple[str, str]] = []
    name = raw.get("displayName")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        problems.append(("displayName", "displayName must be 1 to 200 characters"))
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(("description", "description must be a string"))
    maximum: ThreatLevel | str | None = ""
    if "maximumAllowedDeviceThreatLevel" in raw:
        value = str(raw["maximumAllowedDeviceThreatLevel"]).lower()
        if value not in LEVELS:
            problems.append(
                (
                    "maximumAllowedDeviceThreatLevel",
                    "maximumAllowedDeviceThreatLevel must be one of notConfigured, "
                    + ", ".join(t.value for t in ThreatLevel),
                )
            )
        else:
            maximum = LEVELS[value]
    remediation = raw.get("mobileThreatDefenseRemediationAction")
    if remediation is not None:
        remediation = str(remediation).lower()
        if remediation not in REMEDIATIONS:
            problems.append(
                (
                    "mobileThreatDefenseRemediationAction",
                    "mobileThreatDefenseRemediationAction must be one of "
                    + ", ".join(REMEDIATIONS),
                )
            )
    apps = parse_apps(raw["apps"], problems) if "apps" in raw else None
    unsupported = {
        k: v
        for k, v in raw.items()
        if k not in APP_POLICY_METADATA and not is_metadata(k) and not is_unset(v)
    }
    return ParsedAppPolicy(
        name if isinstance(name, str) else None,
        description if isinstance(description, str) else None,
        maximum,
        remediation if isinstance(remediation, str) else None,
        apps,
        unsupported,
        tuple(problems),
    )


def parse_apps(raw: object, problems: list[tuple[str, str]]) -> tuple[str, ...]:
    """Graph `managedMobileApp` list: `{"mobileAppIdentifier": {"packageId"|"bundleId": ...}}`,
    or plain ids."""
    if not isinstance(raw, list):
        problems.append(("apps", "apps must be a list"))
        return ()
    out: list[str] = []
    for i, item in enumerate(raw):
        ident = item.get("mobileAppIdentifier") if isinstance(item, dict) else None
        app = (
            item
            if isinstance(item, str)
            else (ident.get("packageId") or ident.get("bundleId"))
            if isinstance(ident, dict)
            else None
        )
        if not isinstance(app, str) or not app.strip():
            problems.append(
                (f"apps[{i}]", "each app needs mobileAppIdentifier.packageId or .bundleId")
            )
            continue
        out.append(app.strip())
    return tuple(dict.fromkeys(out))
