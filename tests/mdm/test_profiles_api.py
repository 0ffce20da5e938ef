"""Configuration profiles over HTTP: the onboarding profile the connector fills in, the Android
MTD app configuration, and each device's deployment status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mdm_tenant import MdmTenant

from stockade.core.clock import FrozenClock

CONFIGS = "/api/deviceManagement/deviceConfigurations"
ANDROID_APP_CONFIG = "#microsoft.graph.androidManagedStoreAppConfiguration"
ONBOARDING = "#microsoft.graph.windowsDefenderAdvancedThreatProtectionConfiguration"


def _assign(mdm: MdmTenant, config_id: str) -> None:
    r = mdm.admin.post(
        f"{CONFIGS}/{config_id}/assign",
        json={"assignments": [{"target": {"groupId": mdm.group_id}}]},
    )
    assert r.status_code == 200, r.text


def _statuses(mdm: MdmTenant, config_id: str) -> dict[str, Any]:
    r = mdm.admin.get(f"{CONFIGS}/{config_id}/deviceStatuses")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_onboarding_profile_from_the_connector_and_its_settings(mdm: MdmTenant) -> None:
    r = mdm.admin.post(
        "/api/deviceManagement/mobileThreatDefenseConnectors", json={"windowsEnabled": True}
    )
    assert r.status_code == 201, r.text
    (profile,) = mdm.admin.get(CONFIGS).json()["value"]
    assert profile["@odata.type"] == ONBOARDING
    assert profile["advancedThreatProtectionAutoPopulateOnboardingBlob"] is True
    assert profile["advancedThreatProtectionOnboardingBlob"]["onboardUrl"]
    assert profile["allowSampleSharing"] is True
    assert profile["enableExpeditedTelemetryReporting"] is False
    r = mdm.admin.patch(
        f"{CONFIGS}/{profile['id']}",
        json={"allowSampleSharing": False, "enableExpeditedTelemetryReporting": True},
    )
    assert r.status_code == 200
    assert r.json()["allowSampleSharing"] is False
    assert r.json()["enableExpeditedTelemetryReporting"] is True
    for bad in ({"allowSampleSharing": "no"}, {"vpnEnabled": True}):
        r = mdm.admin.patch(f"{CONFIGS}/{profile['id']}", json=bad)
        assert r.status_code == 422 and next(iter(bad)) in r.json()["detail"], r.text
    r = mdm.admin.post(CONFIGS, json={"@odata.type": ONBOARDING, "displayName": "x"})
    assert r.status_code == 422 and r.json()["field"] == "@odata.type"
    assert mdm.admin.delete(f"{CONFIGS}/{profile['id']}").status_code == 409

    _assign(mdm, profile["id"])
    device = mdm.enroll()
    delivered = mdm.check_in(device)["profiles"]
    assert [p["id"] for p in delivered] == [profile["id"]]
    assert delivered[0]["enableExpeditedTelemetryReporting"] is True


def test_android_app_configuration_and_deployment_status(
    mdm: MdmTenant, clock: FrozenClock
) -> None:
    r = mdm.admin.post(
        CONFIGS,
        json={
            "@odata.type": ANDROID_APP_CONFIG,
            "displayName": "MTD app: web protection on, VPN off",
            "vpnEnabled": False,
        },
    )
    assert r.status_code == 201, r.text
    config = r.json()
    assert config["antiPhishingEnabled"] is True and config["vpnEnabled"] is False
    _assign(mdm, config["id"])
    phone = mdm.enroll("android", "14", name="PIXEL")
    laptop = mdm.enroll(name="LAPTOP")
    assert mdm.check_in(laptop)["profiles"] == []  # not for Windows

    rows = {s["deviceDisplayName"]: s for s in _statuses(mdm, config["id"])["value"]}
    assert rows["LAPTOP"]["status"] == "notApplicable"
    assert rows["PIXEL"]["status"] == "pending"

    (delivered,) = mdm.check_in(phone)["profiles"]
    assert delivered["vpnEnabled"] is False
    mdm.check_in(
        phone,
        profileStatuses=[
            {"id": config["id"], "status": "error", "errorDescription": "VPN permission denied"}
        ],
    )
    rows = {s["deviceDisplayName"]: s for s in _statuses(mdm, config["id"])["value"]}
    assert rows["PIXEL"]["status"] == "error"
    assert rows["PIXEL"]["errorDescription"] == "VPN permission denied"
    mdm.check_in(phone, profileStatuses=[{"id": config["id"], "status": "succeeded"}])
    overview = _statuses(mdm, config["id"])["deviceStatusOverview"]
    assert overview == {
        "pendingCount": 0,
        "successCount": 1,
        "errorCount": 0,
        "notApplicableCount": 1,
    }

    # a changed profile is pending again until the device reports on the new version
    clock.at += timedelta(minutes=5)
    mdm.admin.patch(f"{CONFIGS}/{config['id']}", json={"vpnEnabled": True})
    rows = {s["deviceDisplayName"]: s for s in _statuses(mdm, config["id"])["value"]}
    assert rows["PIXEL"]["status"] == "pending"

    r = mdm.device_client.post(
        "/api/enrollment/checkin",
        json={"profileStatuses": [{"id": "not-assigned", "status": "succeeded"}]},
        headers=phone.auth,
    )
    assert r.status_code == 422 and r.json()["field"] == "profileStatuses[0].id"
    assert mdm.admin.delete(f"{CONFIGS}/{config['id']}").status_code == 204
    assert mdm.check_in(phone)["profiles"] == []
