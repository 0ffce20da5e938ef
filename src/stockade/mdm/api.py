"""Device management HTTP API: Graph `deviceManagement` resources plus the device endpoints."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from ipaddress import ip_address
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Body as JsonBody
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, StrictBool, StrictInt

from stockade.core.errors import InvalidInput, NotFound, Unauthenticated
from stockade.core.model import Platform, ThreatLevel
from stockade.directory.device_ca import signing_request_ok
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import bearer, device, public, require, services
from stockade.http.schema import Body, collection
from stockade.mdm.catalog import POLICY_TYPES, SETTINGS, Kind
from stockade.mdm.model import (
    ALL_LICENSED_USERS,
    OPERATING_SYSTEMS,
    AppProtectionPolicy,
    CompliancePolicy,
    ComplianceResult,
    ComplianceState,
    DeviceCommand,
    DeviceConfiguration,
    DevicePlatform,
    LocalizedMessage,
    ManagedDevice,
    NotificationTemplate,
)
from stockade.mdm.service import policy_body
from stockade.services import Services

router = APIRouter(prefix="/api", tags=["device management"])

_PARTNER_STATE = {
    None: "unknown",
    ThreatLevel.SECURED: "secured",
    ThreatLevel.LOW: "lowSeverity",
    ThreatLevel.MEDIUM: "mediumSeverity",
    ThreatLevel.HIGH: "highSeverity",
}


def compliance_json(result: ComplianceResult | None) -> list[dict[str, Any]]:
    if result is None:
        return []
    return [
        {
            "id": p.policy_id,
            "displayName": p.display_name,
            "state": p.state.value,
            "settingStates": [
                {
                    "setting": s.setting,
                    "settingName": s.setting,
                    "state": s.state.value,
                    "expectedValue": s.expected,
                    "currentValue": s.actual,
                    "reason": s.reason,
                }
                for s in p.settings
            ],
        }
        for p in result.policies
    ]


def managed_device_json(d: ManagedDevice) -> dict[str, Any]:
    return {
        "id": d.id,
        "deviceName": d.device_name,
        "operatingSystem": d.operating_system,
        "osVersion": d.os_version,
        "azureADDeviceId": d.azure_ad_device_id,
        "joinType": d.join_type.value if d.join_type else None,
        "userId": d.user_id,
        "userPrincipalName": d.user_principal_name,
        "enrolledDateTime": d.enrolled_at,
        "lastSyncDateTime": d.last_sync_at,
        "managementAgent": "mdm",
        "complianceState": d.compliance_state.value,
        "complianceReason": d.compliance.reason if d.compliance else None,
        "deviceThreatLevel": d.threat_level.value if d.threat_level else None,
        "partnerReportedThreatState": _PARTNER_STATE[d.threat_level],
        "threatLevelUpdatedDateTime": d.threat_updated_at,
        "managementState": d.management_state,
        "isEncrypted": d.facts.get("isEncrypted"),
        "jailBroken": _tri(d.facts.get("jailBroken")),
        "deviceHealthAttestationState": {
            "secureBoot": _enabled(d.facts.get("secureBootEnabled")),
            "bitLockerStatus": _enabled(d.facts.get("bitLockerEnabled")),
            "codeIntegrity": _enabled(d.facts.get("codeIntegrityEnabled")),
            "tpmVersion": "present" if d.facts.get("tpmPresent") else None,
        },
        "windowsProtectionState": {
            "malwareProtectionEnabled": d.facts.get("defenderEnabled"),
            "realTimeProtectionEnabled": d.facts.get("realTimeProtectionEnabled"),
            "signatureUpdateOverdue": d.facts.get("signatureUpdateOverdue"),
        },
        "deviceFacts": d.facts,
    }


def command_json(c: DeviceCommand) -> dict[str, Any]:
    """Graph `deviceActionResult`."""
    return {
        "id": c.id,
        "actionName": c.action_name,
        "actionState": "pending" if c.delivered_at is None else "done",
        "startDateTime": c.created_at,
        "lastUpdatedDateTime": c.delivered_at or c.created_at,
        **({"payload": c.payload} if c.payload else {}),
    }


def template_json(t: NotificationTemplate) -> dict[str, Any]:
    return {
        "id": t.id,
        "displayName": t.display_name,
        "defaultLocale": t.default_locale,
        "lastModifiedDateTime": t.modified_at,
        "localizedNotificationMessages": [
            {
                "id": f"{t.id}_{m.locale}",
                "locale": m.locale,
                "subject": m.subject,
                "messageTemplate": m.message_template,
                "isDefault": m.is_default,
            }
            for m in t.messages
        ],
    }


def _tri(value: Any) -> str:
    return "Unknown" if value is None else ("True" if value else "False")


def _enabled(value: Any) -> str | None:
    return None if value is None else ("enabled" if value else "disabled")


def policy_json(p: CompliancePolicy) -> dict[str, Any]:
    """Graph's shape: every property of the type (unset ones at their "not configured" value),
    plus `unsupportedSettings`, the settings imported anyway and not evaluated."""
    body = policy_body(p)
    defaults = {name: _not_configured(name) for name in sorted(POLICY_TYPES[p.odata_type][1])}
    return {
        "@odata.type": p.odata_type,
        "id": p.id,
        "displayName": p.display_name,
        "description": p.description,
        "createdDateTime": p.created_at,
        "lastModifiedDateTime": p.modified_at,
        "version": p.version,
        **defaults,
        **{k: v for k, v in body.items() if k in defaults},
        "scheduledActionsForRule": body["scheduledActionsForRule"],
        "unsupportedSettings": [
            {"setting": k, "value": v, "state": "notEvaluated"} for k, v in p.unsupported.items()
        ],
        "assignments": _assignments(p.id, p.group_ids),
    }


def _not_configured(name: str) -> Any:
    spec = SETTINGS[name]
    if spec.kind in (Kind.REQUIRE, Kind.SWITCH):
        return False
    if spec.kind is Kind.THREAT_LEVEL:
        return "unavailable"
    if spec.kind is Kind.PASSWORD_TYPE:
        return "deviceDefault"
    if spec.kind is Kind.EVALUATION_TYPE:
        return "basic"
    return None


def configuration_json(c: DeviceConfiguration) -> dict[str, Any]:
    return {
        "@odata.type": c.odata_type,
        "id": c.id,
        "displayName": c.display_name,
        **c.settings,
        "createdDateTime": c.created_at,
        "lastModifiedDateTime": c.modified_at,
        "assignments": _assignments(c.id, c.group_ids),
    }


def _assignments(target_id: str, group_ids: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{target_id}_{g}",
            "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": g},
        }
        for g in group_ids
    ]


class NewEnrollmentToken(Body):
    display_name: str = Field("enrollment", alias="displayName", max_length=200)
    valid_days: int = Field(30, alias="validDays")


class EnrollRequest(Body):
    device_name: str = Field(alias="deviceName", min_length=1, max_length=200)
    platform: str
    os_version: str = Field(alias="osVersion", min_length=1, max_length=64)
    join_type: str | None = Field(None, alias="joinType")
    user_principal_name: str = Field(alias="userPrincipalName", min_length=3)
    facts: DeviceFacts | None = None
    certificate_signing_request: str | None = Field(
        None,
        alias="certificateSigningRequest",
        max_length=16_384,
        description="PEM CSR; the tenant's device CA signs it and the device can then prove "
        "itself to a proxy with a TLS client certificate",
    )


class InstalledApp(Body):
    display_name: str = Field(alias="displayName", min_length=1, max_length=300)
    version: str = Field("", max_length=200)
    publisher: str = Field("", max_length=300)


class DeviceFacts(Body):
    """What a device reports about itself. Names are those the compliance settings compare with
    (docs/mdm-settings.md maps each setting to its fact)."""

    is_encrypted: StrictBool | None = Field(None, alias="isEncrypted")
    bit_locker_enabled: StrictBool | None = Field(None, alias="bitLockerEnabled")
    secure_boot_enabled: StrictBool | None = Field(None, alias="secureBootEnabled")
    code_integrity_enabled: StrictBool | None = Field(None, alias="codeIntegrityEnabled")
    tpm_present: StrictBool | None = Field(None, alias="tpmPresent")
    antivirus_enabled: StrictBool | None = Field(None, alias="antivirusEnabled")
    anti_spyware_enabled: StrictBool | None = Field(None, alias="antiSpywareEnabled")
    firewall_enabled: StrictBool | None = Field(None, alias="firewallEnabled")
    defender_enabled: StrictBool | None = Field(None, alias="defenderEnabled")
    real_time_protection_enabled: StrictBool | None = Field(None, alias="realTimeProtectionEnabled")
    signature_update_overdue: StrictBool | None = Field(None, alias="signatureUpdateOverdue")
    jail_broken: StrictBool | None = Field(None, alias="jailBroken")
    password_set: StrictBool | None = Field(None, alias="passwordSet")
    password_type: str | None = Field(None, alias="passwordType", max_length=40)
    password_minimum_length: StrictInt | None = Field(None, alias="passwordMinimumLength", ge=0)
    password_minutes_of_inactivity_before_lock: StrictInt | None = Field(
        None, alias="passwordMinutesOfInactivityBeforeLock", ge=0
    )
    password_expiration_days: StrictInt | None = Field(None, alias="passwordExpirationDays", ge=0)
    password_previous_password_block_count: StrictInt | None = Field(
        None, alias="passwordPreviousPasswordBlockCount", ge=0
    )
    password_block_simple: StrictBool | None = Field(None, alias="passwordBlockSimple")
    safety_net_basic_integrity: StrictBool | None = Field(None, alias="safetyNetBasicIntegrity")
    safety_net_certified_device: StrictBool | None = Field(None, alias="safetyNetCertifiedDevice")
    safety_net_evaluation_type: str | None = Field(
        None, alias="safetyNetEvaluationType", pattern="^(basic|hardwareBacked)$"
    )
    installed_apps: list[InstalledApp] | None = Field(None, alias="installedApps", max_length=20000)

    def reported(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class CheckInRequest(Body):
    os_version: str | None = Field(None, alias="osVersion", max_length=64)
    facts: DeviceFacts | None = None
    profile_statuses: list[ProfileStatus] = Field(
        default_factory=list, alias="profileStatuses", max_length=500
    )


class LocalizedMessageBody(Body):
    locale: str = Field(min_length=2, max_length=16)
    subject: str = Field(min_length=1, max_length=500)
    message_template: str = Field(alias="messageTemplate", min_length=1, max_length=20000)
    is_default: bool = Field(False, alias="isDefault")

    def model(self) -> LocalizedMessage:
        return LocalizedMessage(self.locale, self.subject, self.message_template, self.is_default)


class NewTemplate(Body):
    display_name: str = Field(alias="displayName", min_length=1, max_length=200)
    default_locale: str = Field("en-us", alias="defaultLocale", max_length=16)
    branding_options: str | None = Field(None, alias="brandingOptions")
    localized_notification_messages: list[LocalizedMessageBody] = Field(
        default_factory=list, alias="localizedNotificationMessages"
    )


class SettingsPatch(Body):
    secure_by_default: bool | None = Field(None, alias="secureByDefault")
    checkin_threshold_days: int | None = Field(None, alias="deviceComplianceCheckinThresholdDays")


class AssignmentTarget(Body):
    odata_type: str = Field("#microsoft.graph.groupAssignmentTarget", alias="@odata.type")
    group_id: str = Field(alias="groupId")


class Assignment(Body):
    id: str | None = None
    target: AssignmentTarget


class AssignRequest(Body):
    assignments: list[Assignment]


class ConfigurationPatch(Body):
    odata_type: str | None = Field(None, alias="@odata.type")
    display_name: str | None = Field(None, alias="displayName", min_length=1, max_length=200)
    allow_sample_sharing: StrictBool | None = Field(None, alias="allowSampleSharing")
    enable_expedited_telemetry_reporting: StrictBool | None = Field(
        None, alias="enableExpeditedTelemetryReporting"
    )
    package_id: str | None = Field(None, alias="packageId", min_length=1, max_length=200)
    anti_phishing_enabled: StrictBool | None = Field(None, alias="antiPhishingEnabled")
    vpn_enabled: StrictBool | None = Field(None, alias="vpnEnabled")


class NewConfiguration(ConfigurationPatch):
    odata_type: str = Field(alias="@odata.type")  # type: ignore[assignment]
    display_name: str = Field(alias="displayName", min_length=1, max_length=200)  # type: ignore[assignment]


class ProfileStatus(Body):
    id: str = Field(min_length=1, max_length=36)
    status: Literal["succeeded", "error"]
    error_description: str | None = Field(None, alias="errorDescription", max_length=2000)


# enrollment tokens
@router.get("/deviceManagement/enrollmentTokens")
def list_enrollment_tokens(
    p: AdminPrincipal = require(Permission.MDM_WRITE), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection(
        [
            {
                "id": t.id,
                "displayName": t.display_name,
                "createdDateTime": t.created_at,
                "expirationDateTime": t.expires_at,
                "revokedDateTime": t.revoked_at,
                "useCount": t.use_count,
            }
            for t in s.mdm.list_enrollment_tokens(p.tenant_id)
        ]
    )


@router.post("/deviceManagement/enrollmentTokens", status_code=201)
def create_enrollment_token(
    body: NewEnrollmentToken,
    p: AdminPrincipal = require(Permission.MDM_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    token, credential = s.mdm.create_enrollment_token(
        p.tenant_id, body.display_name, body.valid_days
    )
    return {
        "id": token.id,
        "displayName": token.display_name,
        "expirationDateTime": token.expires_at,
        "token": str(credential),
        "enrollUrl": f"{s.settings.effective_public_url}/api/enrollment/enroll",
    }


@router.delete("/deviceManagement/enrollmentTokens/{token_id}", status_code=204)
def revoke_enrollment_token(
    token_id: str,
    p: AdminPrincipal = require(Permission.MDM_WRITE),
    s: Services = Depends(services),
) -> None:
    s.mdm.revoke_enrollment_token(p.tenant_id, token_id)


# device endpoints
@router.post(
    "/enrollment/enroll",
    status_code=201,
    dependencies=[public("authenticated by the enrollment token in the bearer header")],
)
def enroll(
    body: EnrollRequest, raw: str = Depends(bearer), s: Services = Depends(services)
) -> dict[str, Any]:
    csr = body.certificate_signing_request
    if csr is not None and not signing_request_ok(csr):  # refuse before anything is made
        raise InvalidInput(
            "certificateSigningRequest is not a valid PEM signing request",
            field="certificateSigningRequest",
        )
    result = s.mdm.enroll(
        raw,
        device_name=body.device_name,
        platform=body.platform,
        os_version=body.os_version,
        join_type=body.join_type,
        user_principal_name=body.user_principal_name,
        facts=body.facts.reported() if body.facts else None,
    )
    out = {
        "managedDevice": managed_device_json(result.device),
        "deviceCredential": str(result.credential),
        "checkInUrl": f"{s.settings.effective_public_url}/api/enrollment/checkin",
    }
    if csr is not None:
        tenant_id = s.mdm.authenticate_device(str(result.credential))[0]
        device_id = result.device.azure_ad_device_id
        out["deviceCertificate"] = s.directory.issue_device_certificate(tenant_id, device_id, csr)
        out["caCertificate"] = s.directory.device_ca_certificate(tenant_id)
    return out


@router.post("/enrollment/checkin")
def check_in(
    body: CheckInRequest | None = None,
    auth: tuple[str, ManagedDevice] = device(),
    s: Services = Depends(services),
) -> dict[str, Any]:
    tenant_id, dev = auth
    result = s.mdm.check_in(
        tenant_id,
        dev,
        body.os_version if body else None,
        body.facts.reported() if body and body.facts else None,
        [(x.id, x.status, x.error_description) for x in body.profile_statuses] if body else None,
    )
    return {
        "managedDevice": managed_device_json(result.device),
        "profiles": [configuration_json(c) for c in result.profiles],
        "nextCheckInSeconds": result.next_check_in_seconds,
        "deviceActions": [command_json(c) for c in result.commands],
    }


@router.get("/enrollment/deviceActions/wait")
async def wait_for_device_actions(
    wait_seconds: Annotated[int, Query(alias="waitSeconds", ge=0, le=300)] = 60,
    auth: tuple[str, ManagedDevice] = device(),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Held open by the agent: answers as soon as an action (sync now, lock, retire, ...) is
    queued for the device, or after `waitSeconds` with none. The agent then checks in. It reads
    the database, so it works whichever process queued the action."""
    tenant_id, dev = auth
    deadline = time.monotonic() + wait_seconds
    while True:
        pending = await run_in_threadpool(s.mdm.pending_action_count, tenant_id, dev.id)
        if pending or time.monotonic() >= deadline:
            return {"pendingActionCount": pending, "checkInNow": bool(pending)}
        await asyncio.sleep(min(WAIT_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


WAIT_POLL_SECONDS = 0.5


# managed devices
_FILTER = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$")
_FILTERABLE = {
    "complianceState": lambda d: d.compliance_state.value,
    "operatingSystem": lambda d: d.operating_system.lower(),
    "platform": lambda d: d.platform.value.lower(),
    "deviceThreatLevel": lambda d: d.threat_level.value if d.threat_level else "unknown",
    "partnerReportedThreatState": lambda d: _PARTNER_STATE[d.threat_level].lower(),
    "managementState": lambda d: d.management_state.lower(),
    "userPrincipalName": lambda d: d.user_principal_name.lower(),
}


def _filters(params: dict[str, str | None], odata_filter: str | None) -> dict[str, str]:
    wanted = {k: v for k, v in params.items() if v}
    if odata_filter:
        for clause in re.split(r"\s+and\s+", odata_filter.strip()):
            m = _FILTER.match(clause)
            if m is None or m.group(1) not in _FILTERABLE:
                raise InvalidInput(
                    "$filter supports `<property> eq '<value>'` joined by `and`, on "
                    + ", ".join(_FILTERABLE),
                    field="$filter",
                )
            wanted[m.group(1)] = m.group(2)
    return wanted


@router.get("/deviceManagement/managedDevices")
def list_managed_devices(
    complianceState: str | None = None,
    operatingSystem: str | None = None,
    platform: str | None = None,
    deviceThreatLevel: str | None = None,
    filter_: Annotated[str | None, Query(alias="$filter")] = None,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    wanted = _filters(
        {
            "complianceState": complianceState,
            "operatingSystem": operatingSystem,
            "platform": platform,
            "deviceThreatLevel": deviceThreatLevel,
        },
        filter_,
    )
    devices = [
        d
        for d in s.mdm.list_devices(p.tenant_id)
        if all(_FILTERABLE[k](d) == v.lower() or _FILTERABLE[k](d) == v for k, v in wanted.items())
    ]
    return collection([managed_device_json(d) for d in devices], **{"@odata.count": len(devices)})


@router.get("/deviceManagement/managedDeviceOverview")
def managed_device_overview(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    """Graph `managedDeviceOverview`, plus threat-level counts for the dashboard."""
    devices = s.mdm.list_devices(p.tenant_id)
    by_os = Counter(d.platform for d in devices)
    threat = Counter(d.threat_level.value if d.threat_level else "unknown" for d in devices)
    return {
        "enrolledDeviceCount": len(devices),
        "mdmEnrolledCount": len(devices),
        "deviceOperatingSystemSummary": {
            f"{OPERATING_SYSTEMS[plat].lower()}Count": by_os.get(plat, 0) for plat in DevicePlatform
        },
        "deviceThreatLevelSummary": {
            level: threat.get(level, 0) for level in ["unknown", *ThreatLevel]
        },
    }


@router.get("/deviceManagement/deviceCompliancePolicyDeviceStateSummary")
def compliance_state_summary(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    """Graph `deviceCompliancePolicyDeviceStateSummary`: devices per compliance state."""
    counts = Counter(d.compliance_state for d in s.mdm.list_devices(p.tenant_id))
    names = {
        ComplianceState.UNKNOWN: "unknownDeviceCount",
        ComplianceState.NOT_APPLICABLE: "notApplicableDeviceCount",
        ComplianceState.COMPLIANT: "compliantDeviceCount",
        ComplianceState.IN_GRACE_PERIOD: "inGracePeriodCount",
        ComplianceState.NONCOMPLIANT: "nonCompliantDeviceCount",
        ComplianceState.CONFLICT: "conflictDeviceCount",
        ComplianceState.ERROR: "errorDeviceCount",
    }
    return {name: counts.get(state, 0) for state, name in names.items()}


@router.get("/deviceManagement/settings")
def get_settings(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return _settings_json(s.mdm.get_settings(p.tenant_id))


@router.patch("/deviceManagement/settings")
def patch_settings(
    body: SettingsPatch,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return _settings_json(
        s.mdm.update_settings(p.tenant_id, body.secure_by_default, body.checkin_threshold_days)
    )


def _settings_json(t: Any) -> dict[str, Any]:
    return {
        "secureByDefault": t.secure_by_default,
        "deviceComplianceCheckinThresholdDays": t.checkin_threshold_days,
        "isScheduledActionEnabled": True,
    }


@router.get("/deviceManagement/managedDevices/{device_id}")
def get_managed_device(
    device_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    d = s.mdm.get_device(p.tenant_id, device_id)
    return {
        **managed_device_json(d),
        "deviceCompliancePolicyStates": compliance_json(d.compliance),
        "deviceActionResults": [
            command_json(c) for c in s.mdm.device_commands(p.tenant_id, device_id)
        ],
    }


@router.get("/deviceManagement/managedDevices/{device_id}/deviceCompliancePolicyStates")
def device_compliance_states(
    device_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return collection(compliance_json(s.mdm.get_device(p.tenant_id, device_id).compliance))


# compliance policies
@router.get("/deviceManagement/deviceCompliancePolicies")
def list_policies(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([policy_json(x) for x in s.mdm.list_policies(p.tenant_id)])


ImportFlag = Annotated[
    bool,
    Query(
        alias="importUnsupportedSettings",
        description="store actively set settings we do not support (shown as not evaluated)",
    ),
]


@router.post("/deviceManagement/deviceCompliancePolicies", status_code=201)
def create_policy(
    body: Annotated[dict[str, Any], JsonBody()],
    import_unsupported: ImportFlag = False,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """A Graph compliance policy body or an Intune export (UTF-8 or UTF-16)."""
    policy = s.mdm.create_policy(p.tenant_id, body, import_unsupported=import_unsupported)
    return policy_json(policy)


@router.get("/deviceManagement/deviceCompliancePolicies/{policy_id}")
def get_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return policy_json(s.mdm.get_policy(p.tenant_id, policy_id))


@router.get("/deviceManagement/deviceCompliancePolicies/{policy_id}/deviceStatuses")
def policy_device_statuses(
    policy_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Graph `deviceComplianceDeviceStatus`: each device the policy applies to, and its state."""
    s.mdm.get_policy(p.tenant_id, policy_id)
    out = []
    for d in s.mdm.list_devices(p.tenant_id):
        result = next(
            (
                r
                for r in (d.compliance.policies if d.compliance else ())
                if r.policy_id == policy_id
            ),
            None,
        )
        if result is not None:
            out.append(
                {
                    "id": f"{policy_id}_{d.id}",
                    "deviceDisplayName": d.device_name,
                    "userPrincipalName": d.user_principal_name,
                    "status": result.state.value,
                    "lastReportedDateTime": d.last_sync_at,
                }
            )
    return collection(out, **{"@odata.count": len(out)})


@router.patch("/deviceManagement/deviceCompliancePolicies/{policy_id}")
def patch_policy(
    policy_id: str,
    body: Annotated[dict[str, Any], JsonBody()],
    import_unsupported: ImportFlag = False,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return policy_json(
        s.mdm.update_policy(p.tenant_id, policy_id, body, import_unsupported=import_unsupported)
    )


@router.delete("/deviceManagement/deviceCompliancePolicies/{policy_id}", status_code=204)
def delete_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.mdm.delete_policy(p.tenant_id, policy_id)


@router.post("/deviceManagement/deviceCompliancePolicies/{policy_id}/assign")
def assign_policy(
    policy_id: str,
    body: AssignRequest,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    s.mdm.get_policy(p.tenant_id, policy_id)
    s.mdm.assign(p.tenant_id, policy_id, [a.target.group_id for a in body.assignments])
    return collection(policy_json(s.mdm.get_policy(p.tenant_id, policy_id))["assignments"])


# configuration profiles
@router.get("/deviceManagement/deviceConfigurations")
def list_configurations(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([configuration_json(c) for c in s.mdm.list_configurations(p.tenant_id)])


@router.post("/deviceManagement/deviceConfigurations", status_code=201)
def create_configuration(
    body: NewConfiguration,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    settings = body.model_dump(
        by_alias=True, exclude_none=True, exclude={"odata_type", "display_name"}
    )
    return configuration_json(
        s.mdm.create_configuration(p.tenant_id, body.odata_type, body.display_name, settings)
    )


@router.delete("/deviceManagement/deviceConfigurations/{config_id}", status_code=204)
def delete_configuration(
    config_id: str,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.mdm.delete_configuration(p.tenant_id, config_id)


@router.get("/deviceManagement/deviceConfigurations/{config_id}/deviceStatuses")
def configuration_device_statuses(
    config_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Graph `deviceConfigurationDeviceStatus`: the profile's deployment on each device."""
    rows = s.mdm.deployment_statuses(p.tenant_id, config_id)
    counts = Counter(status.value for _, status, _, _ in rows)
    return collection(
        [
            {
                "id": f"{config_id}_{d.id}",
                "managedDeviceId": d.id,
                "deviceDisplayName": d.device_name,
                "userPrincipalName": d.user_principal_name,
                "platform": d.platform.value,
                "status": status.value,
                "errorDescription": detail,
                "lastReportedDateTime": at,
            }
            for d, status, detail, at in rows
        ],
        **{"@odata.count": len(rows)},
        deviceStatusOverview={
            "pendingCount": counts.get("pending", 0),
            "successCount": counts.get("succeeded", 0),
            "errorCount": counts.get("error", 0),
            "notApplicableCount": counts.get("notApplicable", 0),
        },
    )


@router.get("/deviceManagement/deviceConfigurations/{config_id}")
def get_configuration(
    config_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return configuration_json(s.mdm.get_configuration(p.tenant_id, config_id))


@router.patch("/deviceManagement/deviceConfigurations/{config_id}")
def patch_configuration(
    config_id: str,
    body: ConfigurationPatch,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    settings = body.model_dump(
        by_alias=True, exclude_none=True, exclude={"odata_type", "display_name"}
    )
    return configuration_json(
        s.mdm.update_configuration(p.tenant_id, config_id, body.display_name, settings)
    )


@router.post("/deviceManagement/deviceConfigurations/{config_id}/assign")
def assign_configuration(
    config_id: str,
    body: AssignRequest,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    s.mdm.get_configuration(p.tenant_id, config_id)
    s.mdm.assign(p.tenant_id, config_id, [a.target.group_id for a in body.assignments])
    return collection(
        configuration_json(s.mdm.get_configuration(p.tenant_id, config_id))["assignments"]
    )


# device actions
def _actor(p: AdminPrincipal) -> dict[str, Any]:
    return {"type": "ApiToken", "applicationId": p.token_id, "userRoles": [p.role.value]}


def _device_action(name: str, permission: Permission) -> None:
    def action(
        device_id: str,
        p: AdminPrincipal = require(permission),
        s: Services = Depends(services),
    ) -> None:
        s.mdm.device_action(p.tenant_id, device_id, name, _actor(p))

    router.add_api_route(
        f"/deviceManagement/managedDevices/{{device_id}}/{name}",
        action,
        methods=["POST"],
        status_code=204,
        name=name,
        summary=f"{name}: queued for the device, audited",
    )


_device_action("retire", Permission.MDM_DEVICE_RETIRE)
_device_action("wipe", Permission.MDM_DEVICE_RETIRE)
_device_action("remoteLock", Permission.MDM_WRITE)
_device_action("syncDevice", Permission.MDM_WRITE)


@router.get("/deviceManagement/retireNoncompliantDevices")
def retire_noncompliant_devices(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    """Devices a `retire` action put on the list, for an admin to retire (or not)."""
    rows = s.mdm.retire_list(p.tenant_id)
    return collection(
        [
            {
                "managedDeviceId": d.id,
                "deviceName": d.device_name,
                "userPrincipalName": d.user_principal_name,
                "complianceState": d.compliance_state.value,
                "policyId": policy_id,
                "addedDateTime": added,
            }
            for d, policy_id, added in rows
        ],
        **{"@odata.count": len(rows)},
    )


@router.get("/deviceManagement/auditEvents")
def list_audit_events(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection(
        [
            {
                "id": e.id,
                "displayName": f"{e.activity} ManagedDevice",
                "componentName": "Devices",
                "activity": e.activity,
                "activityDateTime": e.activity_at,
                "activityType": f"{e.activity} ManagedDevice",
                "activityOperationType": "Action",
                "activityResult": e.result,
                "category": "Device",
                "actor": e.actor,
                "resources": list(e.resources),
            }
            for e in s.mdm.audit_events(p.tenant_id)
        ]
    )


# notification message templates
@router.get("/deviceManagement/notificationMessageTemplates")
def list_templates(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([template_json(t) for t in s.mdm.list_templates(p.tenant_id)])


@router.post("/deviceManagement/notificationMessageTemplates", status_code=201)
def create_template(
    body: NewTemplate,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    template = s.mdm.create_template(
        p.tenant_id,
        body.display_name,
        body.default_locale,
        [m.model() for m in body.localized_notification_messages],
    )
    return template_json(template)


@router.get("/deviceManagement/notificationMessageTemplates/{template_id}")
def get_template(
    template_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return template_json(s.mdm.get_template(p.tenant_id, template_id))


@router.delete("/deviceManagement/notificationMessageTemplates/{template_id}", status_code=204)
def delete_template(
    template_id: str,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.mdm.delete_template(p.tenant_id, template_id)


@router.post(
    "/deviceManagement/notificationMessageTemplates/{template_id}/localizedNotificationMessages",
    status_code=201,
)
def add_localized_message(
    template_id: str,
    body: LocalizedMessageBody,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return template_json(s.mdm.add_template_message(p.tenant_id, template_id, body.model()))


# app protection (Graph deviceAppManagement)
APP_POLICIES = "/deviceAppManagement/managedAppPolicies"


def app_policy_json(x: AppProtectionPolicy) -> dict[str, Any]:
    key = "packageId" if x.platform is Platform.ANDROID else "bundleId"
    identifier = (
        "#microsoft.graph.androidMobileAppIdentifier"
        if x.platform is Platform.ANDROID
        else "#microsoft.graph.iosMobileAppIdentifier"
    )
    return {
        "@odata.type": x.odata_type,
        "id": x.id,
        "displayName": x.display_name,
        "description": x.description,
        "createdDateTime": x.created_at,
        "lastModifiedDateTime": x.modified_at,
        "version": str(x.version),
        "maximumAllowedDeviceThreatLevel": (
            x.maximum_allowed_device_threat_level.value
            if x.maximum_allowed_device_threat_level
            else "notConfigured"
        ),
        "mobileThreatDefenseRemediationAction": x.mobile_threat_defense_remediation_action,
        "apps": [
            {"id": f"{app}.{x.id}", "mobileAppIdentifier": {"@odata.type": identifier, key: app}}
            for app in x.apps
        ],
        "isAssigned": bool(x.targets),
        "assignments": [
            {
                "id": f"{x.id}_{t}",
                "target": (
                    {"@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget"}
                    if t == ALL_LICENSED_USERS
                    else {"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": t}
                ),
            }
            for t in x.targets
        ],
        "unsupportedSettings": [
            {"setting": k, "value": v, "state": "notEvaluated"} for k, v in x.unsupported.items()
        ],
    }


class AppAssignmentTarget(Body):
    odata_type: str = Field("#microsoft.graph.groupAssignmentTarget", alias="@odata.type")
    group_id: str | None = Field(None, alias="groupId")


class AppAssignment(Body):
    id: str | None = None
    target: AppAssignmentTarget


class AppAssignRequest(Body):
    assignments: list[AppAssignment]


class TargetAppsRequest(Body):
    apps: list[dict[str, Any] | str]
    app_group_type: str | None = Field(None, alias="appGroupType")


class LaunchRequest(Body):
    app_id: str = Field(alias="appId", min_length=1, max_length=300)
    platform: Literal["android", "iOS"]


@router.get(APP_POLICIES)
def list_app_policies(
    p: AdminPrincipal = require(Permission.MDM_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([app_policy_json(x) for x in s.mdm.list_app_policies(p.tenant_id)])


@router.post(APP_POLICIES, status_code=201)
def create_app_policy(
    body: Annotated[dict[str, Any], JsonBody()],
    import_unsupported: ImportFlag = False,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """`androidManagedAppProtection` or `iosManagedAppProtection`, e.g. from an Intune export."""
    policy = s.mdm.create_app_policy(p.tenant_id, body, import_unsupported=import_unsupported)
    return app_policy_json(policy)


@router.get(APP_POLICIES + "/{policy_id}")
def get_app_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return app_policy_json(s.mdm.get_app_policy(p.tenant_id, policy_id))


@router.patch(APP_POLICIES + "/{policy_id}")
def patch_app_policy(
    policy_id: str,
    body: Annotated[dict[str, Any], JsonBody()],
    import_unsupported: ImportFlag = False,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return app_policy_json(
        s.mdm.update_app_policy(p.tenant_id, policy_id, body, import_unsupported=import_unsupported)
    )


@router.delete(APP_POLICIES + "/{policy_id}", status_code=204)
def delete_app_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.mdm.delete_app_policy(p.tenant_id, policy_id)


@router.post(APP_POLICIES + "/{policy_id}/assign")
def assign_app_policy(
    policy_id: str,
    body: AppAssignRequest,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    targets = []
    for i, a in enumerate(body.assignments):
        if a.target.odata_type.endswith("allLicensedUsersAssignmentTarget"):
            targets.append(ALL_LICENSED_USERS)
        elif a.target.group_id and a.target.odata_type.endswith(".groupAssignmentTarget"):
            targets.append(a.target.group_id)
        else:
            raise InvalidInput(
                "targets are groupAssignmentTarget (with groupId) or "
                "allLicensedUsersAssignmentTarget",
                field=f"assignments[{i}].target",
            )
    s.mdm.assign_app_policy(p.tenant_id, policy_id, targets)
    return collection(app_policy_json(s.mdm.get_app_policy(p.tenant_id, policy_id))["assignments"])


@router.post(APP_POLICIES + "/{policy_id}/targetApps", status_code=204)
def target_apps(
    policy_id: str,
    body: TargetAppsRequest,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.mdm.target_apps(p.tenant_id, policy_id, list(body.apps))


@router.post(
    "/deviceAppManagement/conditionalLaunch",
    dependencies=[public("the user is asserted by a trusted proxy, as for forward auth")],
)
def conditional_launch(
    body: LaunchRequest,
    request: Request,
    tenant: str = Query(..., description="tenant id or name"),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Called by a protected app at launch and at its periodic check: allow, block or wipe.

    The signed-in user comes from `STOCKADE_FORWARD_AUTH_USER_HEADER`, set by the auth proxy in
    front (only from `STOCKADE_TRUSTED_PROXIES`); an enrolled device may add its credential in
    `X-Stockade-Device`.
    """
    found = s.directory.find_tenant(tenant)
    if found is None:
        raise NotFound(f"no tenant {tenant!r}")
    header = s.settings.forward_auth_user_header
    trusted = request.client is not None and _trusted(request.client.host, s)
    user_ref = request.headers.get(header) if trusted else None
    if not user_ref:
        raise Unauthenticated(f"no signed-in user: a trusted proxy must set {header}")
    decision, level = s.mdm.conditional_launch(
        found.id,
        user_ref=user_ref,
        app_id=body.app_id,
        platform=Platform(body.platform),
        device_token=request.headers.get("x-stockade-device"),
    )
    return {
        "action": decision.action.value,
        "reason": decision.reason,
        "appliedPolicyIds": list(decision.policy_ids),
        "deviceThreatLevel": level.value if level else None,
        "checkInIntervalMinutes": LAUNCH_CHECK_MINUTES,
    }


LAUNCH_CHECK_MINUTES = 30  # Intune app protection re-checks conditional launch every 30 minutes


def _trusted(host: str, s: Services) -> bool:
    try:
        addr = ip_address(host)
    except ValueError:
        return False
    return any(addr in net for net in s.settings.trusted_proxies)
