"""App protection over HTTP: managed app policies from Graph bodies, conditional launch for
enrolled and unenrolled devices, and the connector's per-platform app-protection toggle."""

from __future__ import annotations

from typing import Any

from mdm_tenant import MdmTenant

from stockade.core.model import Platform, ThreatLevel
from stockade.services import Services

APP_POLICIES = "/api/deviceAppManagement/managedAppPolicies"
CONNECTORS = "/api/deviceManagement/mobileThreatDefenseConnectors"
OUTLOOK = "com.microsoft.office.outlook"


def _launch(mdm: MdmTenant, platform: str = "android", app: str = OUTLOOK, **headers: str) -> Any:
    r = mdm.device_client.post(
        "/api/deviceAppManagement/conditionalLaunch",
        params={"tenant": mdm.name},
        json={"appId": app, "platform": platform},
        headers={"X-Forwarded-User": mdm.upn, **headers},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _policy(mdm: MdmTenant, **overrides: Any) -> dict[str, Any]:
    body = {
        # as Intune exports it: read-only fields, not-configured values, enums in another case
        "@odata.type": "#microsoft.graph.androidManagedAppProtection",
        "id": "T_0b7a0c1e-1111-4a2b-9c3d-4e5f6a7b8c9d",
        "createdDateTime": "2024-04-02T10:00:00Z",
        "version": '"3a00b30b-0000-0000-0000-000000000000"',
        "displayName": "Android MAM: threat level at or under low",
        "maximumAllowedDeviceThreatLevel": "Low",
        "mobileThreatDefenseRemediationAction": "block",
        "isAssigned": False,
        "deployedAppCount": 0,
        "customBrowserPackageId": "",
        "allowedAndroidDeviceModels": [],
        "apps": [
            {
                "mobileAppIdentifier": {
                    "@odata.type": "#microsoft.graph.androidMobileAppIdentifier",
                    "packageId": OUTLOOK,
                }
            }
        ],
        **overrides,
    }
    r = mdm.admin.post(APP_POLICIES, json=body)
    assert r.status_code == 201, r.text
    policy: dict[str, Any] = r.json()
    r = mdm.admin.post(
        f"{APP_POLICIES}/{policy['id']}/assign",
        json={"assignments": [{"target": {"groupId": mdm.group_id}}]},
    )
    assert r.status_code == 200, r.text
    return policy


def test_unenrolled_user_threat_level_decides_launch_only_with_the_toggle_on(
    mdm: MdmTenant, frozen_services: Services
) -> None:
    policy = _policy(mdm)
    assert policy["maximumAllowedDeviceThreatLevel"] == "low"
    assert policy["apps"][0]["mobileAppIdentifier"]["packageId"] == OUTLOOK
    # no connector: no threat level may be used, so the app is blocked (never wiped)
    launch = _launch(mdm)
    assert launch["action"] == "block"
    assert "app protection is off" in launch["reason"]

    r = mdm.admin.post(
        CONNECTORS, json={"androidEnabled": True, "androidMobileApplicationManagementEnabled": True}
    )
    assert r.status_code == 201, r.text
    launch = _launch(mdm)
    assert launch["action"] == "block" and "has not reported" in launch["reason"]

    mdm_service = frozen_services.mdm
    tenant_id = frozen_services.directory.find_tenant(mdm.name).id  # type: ignore[union-attr]
    assert mdm_service.apply_user_threat_level(
        tenant_id, mdm.upn, Platform.ANDROID, ThreatLevel.LOW, 1
    )
    launch = _launch(mdm)
    assert launch["action"] == "allow" and launch["deviceThreatLevel"] == "low"
    assert launch["appliedPolicyIds"] == [policy["id"]]
    assert mdm_service.apply_user_threat_level(
        tenant_id, mdm.upn, Platform.ANDROID, ThreatLevel.HIGH, 2
    )
    assert not mdm_service.apply_user_threat_level(  # stale push
        tenant_id, mdm.upn, Platform.ANDROID, ThreatLevel.SECURED, 1
    )
    launch = _launch(mdm)
    assert launch["action"] == "block"
    assert "threat level high is above the allowed low" in launch["reason"]

    # the admin asks for a wipe instead
    r = mdm.admin.patch(
        f"{APP_POLICIES}/{policy['id']}", json={"mobileThreatDefenseRemediationAction": "wipe"}
    )
    assert r.status_code == 200 and r.json()["version"] == "2"
    assert _launch(mdm)["action"] == "wipe"
    # another app, another platform: no policy applies
    assert _launch(mdm, app="com.example.notes")["action"] == "allow"
    assert _launch(mdm, platform="iOS")["action"] == "allow"

    # the toggle goes off: the level may no longer be used
    connector_id = mdm.admin.get(CONNECTORS).json()["value"][0]["id"]
    mdm.admin.patch(
        f"{CONNECTORS}/{connector_id}", json={"androidMobileApplicationManagementEnabled": False}
    )
    launch = _launch(mdm)
    assert launch["action"] == "block" and "app protection is off" in launch["reason"]


def test_enrolled_device_uses_its_own_threat_level(
    mdm: MdmTenant, frozen_services: Services
) -> None:
    _policy(
        mdm, maximumAllowedDeviceThreatLevel="medium", mobileThreatDefenseRemediationAction="wipe"
    )
    mdm.admin.post(CONNECTORS, json={"androidMobileApplicationManagementEnabled": True})
    phone = mdm.enroll("android", "14")
    tenant_id = frozen_services.directory.find_tenant(mdm.name).id  # type: ignore[union-attr]
    frozen_services.mdm.apply_threat_level(tenant_id, phone.device_id, ThreatLevel.HIGH, 5)
    launch = _launch(mdm, **{"X-Stockade-Device": phone.credential})
    assert launch["action"] == "wipe"
    assert (
        "device DEV-" in launch["reason"] and "high is above the allowed medium" in launch["reason"]
    )


def test_policy_bodies_are_checked_and_assignments_named(mdm: MdmTenant) -> None:
    r = mdm.admin.post(
        APP_POLICIES,
        json={
            "@odata.type": "#microsoft.graph.androidManagedAppProtection",
            "displayName": "x",
            "pinRequired": True,
            "maximumAllowedDeviceThreatLevel": "severe",
        },
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"pinRequired", "maximumAllowedDeviceThreatLevel"}
    r = mdm.admin.post(
        APP_POLICIES,
        params={"importUnsupportedSettings": "true"},
        json={
            "@odata.type": "#microsoft.graph.iosManagedAppProtection",
            "displayName": "iOS",
            "pinRequired": True,
            "apps": ["com.microsoft.Office.Outlook"],
        },
    )
    assert r.status_code == 201
    ios = r.json()
    assert ios["unsupportedSettings"][0]["setting"] == "pinRequired"
    assert ios["apps"][0]["mobileAppIdentifier"]["bundleId"] == "com.microsoft.Office.Outlook"
    assert ios["maximumAllowedDeviceThreatLevel"] == "notConfigured"
    r = mdm.admin.post(
        f"{APP_POLICIES}/{ios['id']}/assign",
        json={
            "assignments": [
                {"target": {"@odata.type": "#microsoft.graph.allLicensedUsersAssignmentTarget"}}
            ]
        },
    )
    assert r.status_code == 200
    assert _launch(mdm, platform="iOS", app="com.microsoft.Office.Outlook")["action"] == "allow"
    r = mdm.admin.post(
        f"{APP_POLICIES}/{ios['id']}/assign",
        json={
            "assignments": [{"target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget"}}]
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "assignments[0].target"
    r = mdm.admin.post(f"{APP_POLICIES}/{ios['id']}/targetApps", json={"apps": [{"x": 1}]})
    assert r.status_code == 422 and r.json()["field"] == "apps[0]"
    # identity headers count only from a trusted proxy
    from fastapi.testclient import TestClient

    outsider = TestClient(mdm.device_client.app, client=("203.0.113.9", 4000))
    r = outsider.post(
        "/api/deviceAppManagement/conditionalLaunch",
        params={"tenant": mdm.name},
        json={"appId": OUTLOOK, "platform": "android"},
        headers={"X-Forwarded-User": mdm.upn},
    )
    assert r.status_code == 401
