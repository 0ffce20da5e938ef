"""The compliance settings we support, and how a Graph policy body (or an Intune export) becomes
a policy. Pure: JSON in, a parsed policy or a list of problems out.

Intune exports carry every property of the policy type, most at their "not configured" value
(`false`, `null`, `[]`, `"deviceDefault"`, `"unavailable"`, ...), plus read-only properties
(`id`, `createdDateTime`, `version`, `@odata.*`). Those are accepted and dropped. Enum values are
matched case-insensitively and stored in Graph's casing. A property that is actively set but
not supported is a problem naming it, unless the caller imports anyway: then it is kept as
"unsupported", shown as not evaluated and reported on every read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from stockade.core.model import Platform
from stockade.mdm.model import ActionType, ScheduledAction


class Kind(StrEnum):
    REQUIRE = "require"  # a boolean; true means "require what the fact says"
    MIN_VERSION = "minVersion"
    MAX_VERSION = "maxVersion"
    MIN_INT = "minInt"  # the device value must be at least the setting
    MAX_INT = "maxInt"  # the device value must be set and at most the setting
    PASSWORD_TYPE = "passwordType"
    THREAT_LEVEL = "threatLevel"
    EVALUATION_TYPE = "evaluationType"
    SWITCH = "switch"  # enables another setting; not evaluated itself


@dataclass(frozen=True)
class SettingSpec:
    name: str
    kind: Kind
    fact: str
    """The device fact (from check-in) the setting is compared with."""
    expect_fact: bool = True
    """For REQUIRE: the fact value that satisfies the setting."""
    values: tuple[str, ...] = ()
    """For enums: Graph's values, in Graph's casing."""
    not_configured: tuple[Any, ...] = (None, False)
    describes: str = ""


PASSWORD_TYPES = (
    "deviceDefault",
    "any",
    "lowSecurityBiometric",
    "required",
    "numeric",
    "numericComplex",
    "alphabetic",
    "alphanumeric",
    "alphanumericWithSymbols",
)
PASSWORD_STRENGTH = {
    "any": 0,
    "lowSecurityBiometric": 0,
    "required": 0,
    "numeric": 1,
    "numericComplex": 2,
    "alphabetic": 3,
    "alphanumeric": 4,
    "alphanumericWithSymbols": 5,
}
THREAT_LEVELS = ("unavailable", "secured", "low", "medium", "high", "notSet")
THREAT_NOT_CONFIGURED = (None, "unavailable", "notSet")


def _require(name: str, fact: str, describes: str, expect: bool = True) -> SettingSpec:
    return SettingSpec(name, Kind.REQUIRE, fact, expect, describes=describes)


def _specs() -> dict[str, SettingSpec]:
    specs = [
        SettingSpec("osMinimumVersion", Kind.MIN_VERSION, "osVersion", describes="OS version"),
        SettingSpec("osMaximumVersion", Kind.MAX_VERSION, "osVersion", describes="OS version"),
        _require("storageRequireEncryption", "isEncrypted", "storage encryption"),
        _require("bitLockerEnabled", "bitLockerEnabled", "BitLocker"),
        _require("secureBootEnabled", "secureBootEnabled", "Secure Boot"),
        _require("codeIntegrityEnabled", "codeIntegrityEnabled", "code integrity"),
        _require("tpmRequired", "tpmPresent", "a TPM"),
        _require("antivirusRequired", "antivirusEnabled", "an antivirus"),
        _require("antiSpywareRequired", "antiSpywareEnabled", "an antispyware"),
        _require("activeFirewallRequired", "firewallEnabled", "an active firewall"),
        _require("defenderEnabled", "defenderEnabled", "Microsoft Defender antimalware"),
        _require("rtpEnabled", "realTimeProtectionEnabled", "real-time protection"),
        _require(
            "signatureOutOfDate", "signatureUpdateOverdue", "up-to-date signatures", expect=False
        ),
        _require("securityBlockJailbrokenDevices", "jailBroken", "not jailbroken", expect=False),
        _require(
            "securityRequireSafetyNetAttestationBasicIntegrity",
            "safetyNetBasicIntegrity",
            "Play Integrity basic integrity",
        ),
        _require(
            "securityRequireSafetyNetAttestationCertifiedDevice",
            "safetyNetCertifiedDevice",
            "a certified device",
        ),
        SettingSpec(
            "securityRequiredAndroidSafetyNetEvaluationType",
            Kind.EVALUATION_TYPE,
            "safetyNetEvaluationType",
            values=("basic", "hardwareBacked"),
            not_configured=(None, "basic"),
            describes="integrity evaluation type",
        ),
        SettingSpec(
            "deviceThreatProtectionEnabled", Kind.SWITCH, "", describes="device threat protection"
        ),
        SettingSpec(
            "deviceThreatProtectionRequiredSecurityLevel",
            Kind.THREAT_LEVEL,
            "threatLevel",
            values=THREAT_LEVELS,
            not_configured=THREAT_NOT_CONFIGURED,
            describes="device threat level",
        ),
        SettingSpec(
            "advancedThreatProtectionRequiredSecurityLevel",
            Kind.THREAT_LEVEL,
            "threatLevel",
            values=THREAT_LEVELS,
            not_configured=THREAT_NOT_CONFIGURED,
            describes="machine risk score",
        ),
    ]
    for prefix, noun in (("password", "Password"), ("passcode", "Passcode")):
        specs += [
            _require(f"{prefix}Required", "passwordSet", "a password"),
            _require(f"{prefix}BlockSimple", "passwordBlockSimple", "no simple passwords"),
            SettingSpec(
                f"{prefix}MinimumLength",
                Kind.MIN_INT,
                "passwordMinimumLength",
                describes="password length",
            ),
            SettingSpec(
                f"{prefix}RequiredType",
                Kind.PASSWORD_TYPE,
                "passwordType",
                values=PASSWORD_TYPES,
                not_configured=(None, "deviceDefault"),
                describes="password type",
            ),
            SettingSpec(
                f"{prefix}MinutesOfInactivityBeforeLock",
                Kind.MAX_INT,
                "passwordMinutesOfInactivityBeforeLock",
                describes="minutes of inactivity before lock",
            ),
            SettingSpec(
                f"{prefix}ExpirationDays",
                Kind.MAX_INT,
                "passwordExpirationDays",
                describes="password expiration days",
            ),
            SettingSpec(
                f"{prefix}Previous{noun}BlockCount",
                Kind.MIN_INT,
                "passwordPreviousPasswordBlockCount",
                describes="previous passwords blocked",
            ),
        ]
    specs.append(
        SettingSpec(
            "passwordPreviousPasswordCountToBlock",
            Kind.MIN_INT,
            "passwordPreviousPasswordBlockCount",
            describes="previous passwords blocked",
        )
    )
    return {s.name: s for s in specs}


SETTINGS: dict[str, SettingSpec] = _specs()

_COMMON = {
    "osMinimumVersion",
    "osMaximumVersion",
    "deviceThreatProtectionEnabled",
    "deviceThreatProtectionRequiredSecurityLevel",
    "advancedThreatProtectionRequiredSecurityLevel",
}
_PASSWORD = {
    "passwordRequired",
    "passwordMinimumLength",
    "passwordRequiredType",
    "passwordMinutesOfInactivityBeforeLock",
    "passwordExpirationDays",
    "passwordPreviousPasswordBlockCount",
}
_ANDROID = (
    _COMMON
    | _PASSWORD
    | {
        "passwordBlockSimple",
        "storageRequireEncryption",
        "securityBlockJailbrokenDevices",
        "securityRequireSafetyNetAttestationBasicIntegrity",
        "securityRequireSafetyNetAttestationCertifiedDevice",
        "securityRequiredAndroidSafetyNetEvaluationType",
    }
)

POLICY_TYPES: dict[str, tuple[Platform, frozenset[str]]] = {
    "#microsoft.graph.windows10CompliancePolicy": (
        Platform.WINDOWS,
        frozenset(
            _COMMON
            | _PASSWORD
            | {
                "passwordBlockSimple",
                "storageRequireEncryption",
                "bitLockerEnabled",
                "secureBootEnabled",
                "codeIntegrityEnabled",
                "tpmRequired",
                "antivirusRequired",
                "antiSpywareRequired",
                "activeFirewallRequired",
                "defenderEnabled",
                "rtpEnabled",
                "signatureOutOfDate",
            }
        ),
    ),
    "#microsoft.graph.androidCompliancePolicy": (Platform.ANDROID, frozenset(_ANDROID)),
    "#microsoft.graph.androidWorkProfileCompliancePolicy": (Platform.ANDROID, frozenset(_ANDROID)),
    "#microsoft.graph.androidDeviceOwnerCompliancePolicy": (
        Platform.ANDROID,
        frozenset(
            (_ANDROID - {"passwordPreviousPasswordBlockCount", "securityBlockJailbrokenDevices"})
            | {"passwordPreviousPasswordCountToBlock"}
        ),
    ),
    "#microsoft.graph.iosCompliancePolicy": (
        Platform.IOS,
        frozenset(
            _COMMON
            | {
                "passcodeRequired",
                "passcodeBlockSimple",
                "passcodeMinimumLength",
                "passcodeRequiredType",
                "passcodeMinutesOfInactivityBeforeLock",
                "passcodeExpirationDays",
                "passcodePreviousPasscodeBlockCount",
                "securityBlockJailbrokenDevices",
            }
        ),
    ),
}

# Read-only or descriptive properties found in exports; accepted and not treated as settings.
METADATA = {
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "version",
    "roleScopeTagIds",
    "displayName",
    "description",
    "assignments",
    "scheduledActionsForRule",
    "deviceStatuses",
    "userStatuses",
    "deviceStatusOverview",
    "userStatusOverview",
    "deviceSettingStateSummaries",
}
# Generic "not configured" values of Graph properties we do not evaluate.
_UNSET_STRINGS = {"", "notconfigured", "devicedefault", "unavailable", "notset", "none", "unknown"}

ACTION_TYPES = {a.value.lower(): a for a in ActionType}
UNSUPPORTED_ACTIONS = {"wipe", "removeresourceaccessprofiles"}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass(frozen=True)
class ParsedPolicy:
    odata_type: str
    display_name: str
    description: str
    settings: dict[str, Any]
    """Supported settings that are actively set, values in Graph's casing."""
    unsupported: dict[str, Any]
    scheduled_actions: tuple[ScheduledAction, ...]
    problems: tuple[Problem, ...]

    @property
    def platform(self) -> Platform:
        return POLICY_TYPES[self.odata_type][0]


def is_metadata(key: str) -> bool:
    return key in METADATA or "@odata." in key or key.startswith("@")


def is_unset(value: Any) -> bool:
    if value is None or value is False or value == [] or value == {}:
        return True
    return isinstance(value, str) and value.strip().lower() in _UNSET_STRINGS


def _canonical(spec: SettingSpec, value: Any) -> tuple[Any, str | None]:
    """(canonical value, problem message or None)."""
    kind = spec.kind
    if kind in (Kind.REQUIRE, Kind.SWITCH):
        if not isinstance(value, bool):
            return None, "must be true or false"
        return value, None
    if kind in (Kind.MIN_VERSION, Kind.MAX_VERSION):
        if value is None:
            return None, None
        if not isinstance(value, str) or version_key(value) is None:
            return None, "must be a version like 10.0.19045 or 14"
        return value.strip(), None
    if kind in (Kind.MIN_INT, Kind.MAX_INT):
        if value is None:
            return None, None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            return None, "must be a whole number between 0 and 65535"
        return value, None
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"must be one of {', '.join(spec.values)}"
    for allowed in spec.values:
        if allowed.lower() == value.strip().lower():
            return allowed, None
    return None, f"must be one of {', '.join(spec.values)}"


def version_key(version: str) -> tuple[int, ...] | None:
    """`10.0.22631.2861` -> (10, 0, 22631, 2861); None if it is not a dotted version."""
    parts = version.strip().split(".")
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def parse_policy(raw: dict[str, Any], *, odata_type: str | None = None) -> ParsedPolicy:
    """Read a Graph compliance policy body. `odata_type` fixes the type (PATCH of a policy)."""
    problems: list[Problem] = []
    kind = odata_type or raw.get("@odata.type")
    if not isinstance(kind, str) or kind not in POLICY_TYPES:
        return ParsedPolicy(
            "",
            "",
            "",
            {},
            {},
            (),
            (
                Problem(
                    "@odata.type",
                    f"@odata.type {kind!r} is not supported; use one of " + ", ".join(POLICY_TYPES),
                ),
            ),
        )
    if odata_type and raw.get("@odata.type") not in (None, odata_type):
        problems.append(Problem("@odata.type", "@odata.type of a policy cannot change"))
    supported = POLICY_TYPES[kind][1]
    display_name = raw.get("displayName")
    if not isinstance(display_name, str) or not display_name.strip():
        problems.append(Problem("displayName", "displayName is required"))
        display_name = ""
    elif len(display_name) > 200:
        problems.append(Problem("displayName", "displayName is at most 200 characters"))
    description = raw.get("description") or ""
    if not isinstance(description, str):
        problems.append(Problem("description", "description must be a string"))
        description = ""

    settings: dict[str, Any] = {}
    unsupported: dict[str, Any] = {}
    for key, value in raw.items():
        if is_metadata(key):
            continue
        spec = SETTINGS.get(key)
        if spec is not None and key in supported:
            canonical, message = _canonical(spec, value)
            if message:
                problems.append(Problem(key, f"{key} {message}"))
                continue
            if canonical in spec.not_configured:
                continue
            settings[key] = canonical
        elif not is_unset(value):
            unsupported[key] = value
    # the threat level only counts when threat protection is switched on
    if not settings.pop("deviceThreatProtectionEnabled", False):
        settings.pop("deviceThreatProtectionRequiredSecurityLevel", None)
    actions = parse_actions(raw.get("scheduledActionsForRule"), problems)
    return ParsedPolicy(
        kind,
        display_name,
        description,
        settings,
        unsupported,
        actions,
        tuple(problems),
    )


def unsupported_problems(parsed: ParsedPolicy) -> list[Problem]:
    return [
        Problem(k, f"{k} is set ({v!r}) but not supported for {parsed.odata_type}")
        for k, v in parsed.unsupported.items()
    ]


def parse_actions(raw: Any, problems: list[Problem]) -> tuple[ScheduledAction, ...]:
    """`scheduledActionsForRule`: a list of rules, each with `scheduledActionConfigurations`.

    The "mark noncompliant" (`block`) action cannot be removed: it is added with no grace period
    when missing.
    """
    field = "scheduledActionsForRule"
    actions: list[ScheduledAction] = []
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append(Problem(field, f"{field} must be a list"))
        raw = []
    for i, rule in enumerate(raw):
        configs = rule.get("scheduledActionConfigurations") if isinstance(rule, dict) else None
        if not isinstance(configs, list):
            problems.append(Problem(f"{field}[{i}]", "needs scheduledActionConfigurations"))
            continue
        for j, config in enumerate(configs):
            where = f"{field}[{i}].scheduledActionConfigurations[{j}]"
            if not isinstance(config, dict):
                problems.append(Problem(where, "must be an object"))
                continue
            action = ACTION_TYPES.get(str(config.get("actionType", "")).lower())
            if action is None or action is ActionType.NO_ACTION:
                name = str(config.get("actionType"))
                if name.lower() in UNSUPPORTED_ACTIONS:
                    problems.append(
                        Problem(f"{where}.actionType", f"actionType {name} is not supported")
                    )
                elif action is None:
                    problems.append(
                        Problem(
                            f"{where}.actionType",
                            "actionType must be one of " + ", ".join(a.value for a in ActionType),
                        )
                    )
                continue
            hours = config.get("gracePeriodHours", 0)
            if isinstance(hours, bool) or not isinstance(hours, int) or not 0 <= hours <= 8760:
                problems.append(
                    Problem(f"{where}.gracePeriodHours", "gracePeriodHours must be 0 to 8760")
                )
                continue
            template = config.get("notificationTemplateId") or None
            if template in ("00000000-0000-0000-0000-000000000000",):
                template = None
            cc = config.get("notificationMessageCCList") or []
            if not isinstance(cc, list) or not all(isinstance(x, str) for x in cc):
                problems.append(
                    Problem(f"{where}.notificationMessageCCList", "must be a list of addresses")
                )
                cc = []
            actions.append(ScheduledAction(action, hours, template, tuple(cc)))
    if not any(a.action_type is ActionType.BLOCK for a in actions):
        actions.insert(0, ScheduledAction(ActionType.BLOCK, 0, None, ()))
    elif sum(a.action_type is ActionType.BLOCK for a in actions) > 1:
        problems.append(Problem(field, "only one block (mark noncompliant) action is allowed"))
    return tuple(actions)


def platform_of_policy(odata_type: str) -> Platform:
    return POLICY_TYPES[odata_type][0]
