"""Device management HTTP API: Graph `deviceManagement` resources plus the device endpoints."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from stockade.core.errors import InvalidInput
from stockade.core.model import ThreatLevel
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import bearer, device, public, require, services
from stockade.http.schema import Body, collection
from stockade.mdm.model import (
    CompliancePolicy,
    ComplianceResult,
    DeviceConfiguration,
    ManagedDevice,
)
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
    }


def policy_json(p: CompliancePolicy) -> dict[str, Any]:
    return {
        "@odata.type": p.odata_type,
        "id": p.id,
        "displayName": p.display_name,
        "description": p.description,
        "deviceThreatProtectionEnabled": p.device_threat_protection_enabled,
        "deviceThreatProtectionRequiredSecurityLevel": (
            p.device_threat_protection_required_security_level.value
        ),
        "createdDateTime": p.created_at,
        "lastModifiedDateTime": p.modified_at,
        "assignments": _assignments(p.id, p.group_ids),
    }


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


class CheckInRequest(Body):
    os_version: str | None = Field(None, alias="osVersion", max_length=64)


Level = Literal["secured", "low", "medium", "high"]


class NewCompliancePolicy(Body):
    odata_type: str = Field(alias="@odata.type")
    display_name: str = Field(alias="displayName", min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    device_threat_protection_enabled: bool = Field(False, alias="deviceThreatProtectionEnabled")
    device_threat_protection_required_security_level: Level = Field(
        "secured", alias="deviceThreatProtectionRequiredSecurityLevel"
    )


class CompliancePolicyPatch(Body):
    odata_type: str | None = Field(None, alias="@odata.type")
    display_name: str | None = Field(None, alias="displayName", min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    device_threat_protection_enabled: bool | None = Field(
        None, alias="deviceThreatProtectionEnabled"
    )
    device_threat_protection_required_security_level: Level | None = Field(
        None, alias="deviceThreatProtectionRequiredSecurityLevel"
    )


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
    allow_sample_sharing: bool | None = Field(None, alias="allowSampleSharing")
    enable_expedited_telemetry_reporting: bool | None = Field(
        None, alias="enableExpeditedTelemetryReporting"
    )


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
    result = s.mdm.enroll(
        raw,
        device_name=body.device_name,
        platform=body.platform,
        os_version=body.os_version,
        join_type=body.join_type,
        user_principal_name=body.user_principal_name,
    )
    return {
        "managedDevice": managed_device_json(result.device),
        "deviceCredential": str(result.credential),
        "checkInUrl": f"{s.settings.effective_public_url}/api/enrollment/checkin",
    }


@router.post("/enrollment/checkin")
def check_in(
    body: CheckInRequest | None = None,
    auth: tuple[str, ManagedDevice] = device(),
    s: Services = Depends(services),
) -> dict[str, Any]:
    tenant_id, dev = auth
    result = s.mdm.check_in(tenant_id, dev, body.os_version if body else None)
    return {
        "managedDevice": managed_device_json(result.device),
        "profiles": [configuration_json(c) for c in result.profiles],
        "nextCheckInSeconds": result.next_check_in_seconds,
    }


# managed devices
@router.get("/deviceManagement/managedDevices")
def list_managed_devices(
    complianceState: str | None = None,
    operatingSystem: str | None = None,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    devices = s.mdm.list_devices(p.tenant_id)
    if complianceState:
        devices = [d for d in devices if d.compliance_state.value == complianceState]
    if operatingSystem:
        devices = [d for d in devices if d.operating_system.lower() == operatingSystem.lower()]
    return collection([managed_device_json(d) for d in devices], **{"@odata.count": len(devices)})


@router.get("/deviceManagement/managedDevices/{device_id}")
def get_managed_device(
    device_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    d = s.mdm.get_device(p.tenant_id, device_id)
    return {**managed_device_json(d), "deviceCompliancePolicyStates": compliance_json(d.compliance)}


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


@router.post("/deviceManagement/deviceCompliancePolicies", status_code=201)
def create_policy(
    body: NewCompliancePolicy,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    policy = s.mdm.create_policy(
        p.tenant_id,
        odata_type=body.odata_type,
        display_name=body.display_name,
        description=body.description,
        threat_protection_enabled=body.device_threat_protection_enabled,
        required_level=ThreatLevel(body.device_threat_protection_required_security_level),
    )
    return policy_json(policy)


@router.get("/deviceManagement/deviceCompliancePolicies/{policy_id}")
def get_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return policy_json(s.mdm.get_policy(p.tenant_id, policy_id))


@router.patch("/deviceManagement/deviceCompliancePolicies/{policy_id}")
def patch_policy(
    policy_id: str,
    body: CompliancePolicyPatch,
    p: AdminPrincipal = require(Permission.MDM_POLICY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    current = s.mdm.get_policy(p.tenant_id, policy_id)
    if body.odata_type and body.odata_type != current.odata_type:
        raise InvalidInput("@odata.type of a policy cannot change", field="@odata.type")
    changes: dict[str, Any] = {}
    if body.display_name is not None:
        changes["display_name"] = body.display_name
    if body.description is not None:
        changes["description"] = body.description
    if body.device_threat_protection_enabled is not None:
        changes["device_threat_protection_enabled"] = body.device_threat_protection_enabled
    if body.device_threat_protection_required_security_level is not None:
        changes["device_threat_protection_required_security_level"] = ThreatLevel(
            body.device_threat_protection_required_security_level
        )
    return policy_json(s.mdm.update_policy(p.tenant_id, policy_id, **changes))


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
