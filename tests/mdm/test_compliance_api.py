"""Compliance policies through the HTTP API: Intune exports import, settings evaluate against
check-in facts, states and tenant rules behave as Intune's; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from mdm_tenant import EXPORTS, MdmTenant, export

from stockade.core.clock import FrozenClock

POLICIES = "/api/deviceManagement/deviceCompliancePolicies"
HEALTHY_WINDOWS = {
    "isEncrypted": True,
    "bitLockerEnabled": True,
    "secureBootEnabled": True,
    "codeIntegrityEnabled": True,
    "tpmPresent": True,
    "firewallEnabled": True,
    "antivirusEnabled": True,
    "antiSpywareEnabled": True,
    "defenderEnabled": True,
    "realTimeProtectionEnabled": True,
    "signatureUpdateOverdue": False,
    "passwordSet": True,
    "passwordBlockSimple": True,
    "passwordType": "alphanumeric",
    "passwordMinimumLength": 12,
    "passwordMinutesOfInactivityBeforeLock": 10,
}


def _settings(device: dict[str, Any], policy_id: str) -> dict[str, dict[str, Any]]:
    (state,) = [p for p in device["deviceCompliancePolicyStates"] if p["id"] == policy_id]
    return {s["setting"]: s for s in state["settingStates"]}


def test_a_utf16_intune_export_imports_with_every_property(mdm: MdmTenant) -> None:
    raw = (EXPORTS / "windows10_baseline.json").read_text(encoding="utf-8")
    r = mdm.admin.post(
        POLICIES,
        content=raw.encode("utf-16"),  # with a BOM, as PowerShell's Out-File writes it
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    policy = r.json()
    assert policy["id"] != "4b0f3c6e-9a1d-4f57-8d0b-0e2c1f7a9d11"  # read-only id not taken
    assert policy["version"] == 1
    # enum values come back in Graph's casing; unset properties at "not configured"
    assert policy["deviceThreatProtectionRequiredSecurityLevel"] == "medium"
    assert policy["passwordRequiredType"] == "alphanumeric"
    assert policy["passwordExpirationDays"] is None
    assert policy["osMinimumVersion"] == "10.0.19045"
    assert policy["tpmRequired"] is True and policy["signatureOutOfDate"] is True
    assert policy["unsupportedSettings"] == []
    (rule,) = policy["scheduledActionsForRule"]
    assert rule["scheduledActionConfigurations"][0]["actionType"] == "block"
    # what GET returns can be posted again (a round trip of our own export)
    again = mdm.admin.get(f"{POLICIES}/{policy['id']}").json()
    r = mdm.admin.post(POLICIES, json=again)
    assert r.status_code == 201, r.text


def test_android_and_ios_exports_import(mdm: MdmTenant) -> None:
    android = mdm.policy(export("android_device_admin.json"), assign=False)
    assert android["passwordRequiredType"] == "numericComplex"
    assert android["securityRequiredAndroidSafetyNetEvaluationType"] == "hardwareBacked"
    grace = android["scheduledActionsForRule"][0]["scheduledActionConfigurations"][0]
    assert grace["gracePeriodHours"] == 24
    for odata_type in (
        "#microsoft.graph.androidWorkProfileCompliancePolicy",
        "#microsoft.graph.androidDeviceOwnerCompliancePolicy",
    ):
        body = {"@odata.type": odata_type, "displayName": "p", "passwordRequired": True}
        assert mdm.policy(body, assign=False)["passwordRequired"] is True


def test_unsupported_settings_are_named_or_imported_anyway(mdm: MdmTenant) -> None:
    body = export("ios_with_unsupported.json")
    r = mdm.admin.post(POLICIES, json=body)
    assert r.status_code == 422
    problem = r.json()
    assert {e["field"] for e in problem["errors"]} == {
        "managedEmailProfileRequired",
        "restrictedApps",
    }
    assert "managedEmailProfileRequired" in problem["detail"]
    assert mdm.admin.get(POLICIES).json()["value"] == []  # nothing stored

    policy = mdm.policy(body, importUnsupportedSettings="true")
    unsupported = {u["setting"]: u for u in policy["unsupportedSettings"]}
    assert unsupported["managedEmailProfileRequired"]["state"] == "notEvaluated"
    listed = mdm.admin.get(POLICIES).json()["value"][0]
    assert {u["setting"] for u in listed["unsupportedSettings"]} == set(unsupported)

    device = mdm.enroll(
        "iOS",
        "17.4",
        facts={
            "passwordSet": True,
            "passwordMinimumLength": 6,
            "passwordBlockSimple": True,
            "passwordMinutesOfInactivityBeforeLock": 5,
            "jailBroken": False,
        },
    )
    states = _settings(mdm.device(device), policy["id"])
    assert states["managedEmailProfileRequired"]["state"] == "notEvaluated"
    assert states["passcodeMinimumLength"]["state"] == "compliant"
    assert mdm.device(device)["complianceState"] == "compliant"
    # a PATCH that leaves the imported setting alone keeps it without asking again
    r = mdm.admin.patch(f"{POLICIES}/{policy['id']}", json={"displayName": "iOS renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and len(r.json()["unsupportedSettings"]) == 2


def test_wrong_types_and_unknown_values_name_the_setting(mdm: MdmTenant) -> None:
    base = {"@odata.type": "#microsoft.graph.windows10CompliancePolicy", "displayName": "x"}
    cases = [
        ({"passwordMinimumLength": "eight"}, "passwordMinimumLength"),
        ({"passwordRequired": "yes"}, "passwordRequired"),
        ({"osMinimumVersion": "ten"}, "osMinimumVersion"),
        ({"passwordRequiredType": "emoji"}, "passwordRequiredType"),
        ({"someFutureSetting": True}, "someFutureSetting"),
        ({"displayName": ""}, "displayName"),
        (
            {
                "scheduledActionsForRule": [
                    {
                        "scheduledActionConfigurations": [
                            {"actionType": "wipe", "gracePeriodHours": 0}
                        ]
                    }
                ]
            },
            "scheduledActionsForRule[0].scheduledActionConfigurations[0].actionType",
        ),
    ]
    for extra, field in cases:
        r = mdm.admin.post(POLICIES, json={**base, **extra})
        assert r.status_code == 422, extra
        assert r.json()["field"] == field, r.json()
    r = mdm.admin.post(POLICIES, content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert r.status_code == 400  # not JSON at all
    assert r.headers["content-type"].startswith("application/problem+json")


def test_settings_evaluate_against_check_in_facts(mdm: MdmTenant) -> None:
    policy = mdm.policy(export("windows10_baseline.json"))
    device = mdm.enroll(facts=HEALTHY_WINDOWS)
    view = mdm.device(device)
    assert view["complianceState"] == "compliant", view["complianceReason"]
    states = _settings(view, policy["id"])
    assert states["osMinimumVersion"] == {
        **states["osMinimumVersion"],
        "state": "compliant",
        "expectedValue": "at least 10.0.19045",
        "currentValue": "10.0.22631",
    }
    assert view["deviceHealthAttestationState"]["secureBoot"] == "enabled"

    # the firewall goes off and the OS is old: two settings fail, each with its values
    mdm.check_in(device, osVersion="10.0.19044", facts={"firewallEnabled": False})
    view = mdm.device(device)
    assert view["complianceState"] == "noncompliant"
    states = _settings(view, policy["id"])
    failing = {k for k, v in states.items() if v["state"] == "noncompliant"}
    assert failing == {"activeFirewallRequired", "osMinimumVersion"}
    assert states["activeFirewallRequired"]["currentValue"] == "false"
    assert "activeFirewallRequired" in view["complianceReason"]

    # a fact the device never reported fails its setting
    fresh = mdm.enroll(facts={k: v for k, v in HEALTHY_WINDOWS.items() if k != "tpmPresent"})
    states = _settings(mdm.device(fresh), policy["id"])
    assert states["tpmRequired"]["state"] == "noncompliant"
    assert "has not reported tpmPresent" in states["tpmRequired"]["reason"]

    # bad facts are refused, naming the field
    r = mdm.device_client.post(
        "/api/enrollment/checkin", json={"facts": {"firewallEnabled": "on"}}, headers=device.auth
    )
    assert r.status_code == 422 and "facts.firewallEnabled" in r.json()["detail"]


def test_password_settings_and_android_integrity(mdm: MdmTenant) -> None:
    policy = mdm.policy(export("android_device_admin.json"))
    good = {
        "passwordSet": True,
        "passwordType": "alphanumeric",
        "passwordMinimumLength": 8,
        "passwordMinutesOfInactivityBeforeLock": 1,
        "jailBroken": False,
        "isEncrypted": True,
        "safetyNetBasicIntegrity": True,
        "safetyNetCertifiedDevice": True,
        "safetyNetEvaluationType": "hardwareBacked",
    }
    device = mdm.enroll("android", "14", facts=good)
    assert mdm.device(device)["complianceState"] == "compliant"
    mdm.check_in(device, facts={"passwordType": "numeric", "safetyNetEvaluationType": "basic"})
    states = _settings(mdm.device(device), policy["id"])
    assert states["passwordRequiredType"]["state"] == "noncompliant"
    assert states["passwordRequiredType"]["expectedValue"] == "numericComplex or stronger"
    assert states["securityRequiredAndroidSafetyNetEvaluationType"]["state"] == "noncompliant"
    # the 24-hour grace period of the export: noncompliant settings, device in grace
    assert mdm.device(device)["complianceState"] == "inGracePeriod"


def test_worst_state_wins_and_tenant_settings(mdm: MdmTenant, clock: FrozenClock) -> None:
    device = mdm.enroll(facts=HEALTHY_WINDOWS)
    assert mdm.device(device)["complianceState"] == "compliant"  # no policy: compliant
    r = mdm.admin.patch("/api/deviceManagement/settings", json={"secureByDefault": True})
    assert r.status_code == 200 and r.json()["secureByDefault"] is True
    view = mdm.device(device)
    assert view["complianceState"] == "noncompliant"
    assert "no compliance policy assigned" in view["complianceReason"]

    lenient = mdm.policy(
        {
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "displayName": "Firewall",
            "activeFirewallRequired": True,
        }
    )
    graced = mdm.policy(
        {
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "displayName": "TPM",
            "tpmRequired": True,
            "scheduledActionsForRule": [
                {"scheduledActionConfigurations": [{"actionType": "block", "gracePeriodHours": 48}]}
            ],
        }
    )
    assert mdm.device(device)["complianceState"] == "compliant"
    mdm.check_in(device, facts={"tpmPresent": False})
    assert mdm.device(device)["complianceState"] == "inGracePeriod"
    mdm.check_in(device, facts={"firewallEnabled": False})
    view = mdm.device(device)
    assert view["complianceState"] == "noncompliant"  # noncompliant beats inGracePeriod
    states = {p["id"]: p["state"] for p in view["deviceCompliancePolicyStates"]}
    assert states[lenient["id"]] == "noncompliant" and states[graced["id"]] == "inGracePeriod"

    # compliance status validity period
    mdm.check_in(device, facts={"firewallEnabled": True, "tpmPresent": True})
    assert mdm.device(device)["complianceState"] == "compliant"
    for bad in (0, 121, "x"):
        r = mdm.admin.patch(
            "/api/deviceManagement/settings", json={"deviceComplianceCheckinThresholdDays": bad}
        )
        assert r.status_code == 422 and "deviceComplianceCheckinThresholdDays" in r.text
    r = mdm.admin.patch(
        "/api/deviceManagement/settings", json={"deviceComplianceCheckinThresholdDays": 2}
    )
    assert r.json()["deviceComplianceCheckinThresholdDays"] == 2
    clock.at += timedelta(days=3)
    mdm.admin.post(
        f"/api/deviceManagement/deviceCompliancePolicies/{lenient['id']}/assign",
        json={"assignments": [{"target": {"groupId": mdm.group_id}}]},
    )  # any re-evaluation sees the silence
    view = mdm.device(device)
    assert view["complianceState"] == "noncompliant"
    assert "has not checked in for 3 days" in view["complianceReason"]
    mdm.check_in(device)
    assert mdm.device(device)["complianceState"] == "compliant"


def test_device_list_filters_and_dashboard_counts(mdm: MdmTenant) -> None:
    mdm.policy(
        {
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "displayName": "FW",
            "activeFirewallRequired": True,
        }
    )
    win_ok = mdm.enroll(facts={"firewallEnabled": True})
    mdm.enroll(facts={"firewallEnabled": False})
    mdm.enroll("android", "14")
    devices = "/api/deviceManagement/managedDevices"
    r = mdm.admin.get(devices, params={"complianceState": "noncompliant"}).json()
    assert r["@odata.count"] == 1
    r = mdm.admin.get(
        devices,
        params={"$filter": "operatingSystem eq 'Windows' and complianceState eq 'compliant'"},
    ).json()
    assert [d["id"] for d in r["value"]] == [win_ok.id]
    assert mdm.admin.get(devices, params={"platform": "android"}).json()["@odata.count"] == 1
    assert (
        mdm.admin.get(devices, params={"deviceThreatLevel": "unknown"}).json()["@odata.count"] == 3
    )
    r = mdm.admin.get(devices, params={"$filter": "contains(deviceName,'x')"})
    assert r.status_code == 422 and r.json()["field"] == "$filter"

    overview = mdm.admin.get("/api/deviceManagement/managedDeviceOverview").json()
    assert overview["enrolledDeviceCount"] == 3
    assert overview["deviceOperatingSystemSummary"]["windowsCount"] == 2
    assert overview["deviceOperatingSystemSummary"]["androidCount"] == 1
    summary = mdm.admin.get("/api/deviceManagement/deviceCompliancePolicyDeviceStateSummary")
    assert summary.json()["nonCompliantDeviceCount"] == 1
    assert summary.json()["compliantDeviceCount"] == 2
    policy_id = mdm.admin.get(POLICIES).json()["value"][0]["id"]
    statuses = mdm.admin.get(f"{POLICIES}/{policy_id}/deviceStatuses").json()
    assert sorted(s["status"] for s in statuses["value"]) == ["compliant", "noncompliant"]


def test_exports_are_valid_json_fixtures() -> None:
    # the fixtures stay honest: each parses and names a Graph type
    for path in EXPORTS.glob("*.json"):
        assert json.loads(path.read_text())["@odata.type"].startswith("#microsoft.graph.")
