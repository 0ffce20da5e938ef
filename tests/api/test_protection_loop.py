"""The seed scenario through the HTTP API, on each store."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from stockade.sim.device import SimulatedDevice
from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps, benign_events


def _world(make_tenant, client: TestClient, devices: int = 4):  # type: ignore[no-untyped-def]
    ctx = make_tenant("contoso")
    tenant = provision(ctx.client, ctx.name, users=2)
    fleet = fleet_specs(client, tenant.users, devices)
    for d in fleet:
        bring_up(d, tenant.enrollment_token)
    return ctx, tenant, fleet


def test_attack_denies_and_recovery_restores(make_tenant, client: TestClient) -> None:
    ctx, tenant, fleet = _world(make_tenant, client)
    victim: SimulatedDevice = next(d for d in fleet if d.platform == "windows")
    bystander = next(d for d in fleet if d.platform == "windows" and d is not victim)
    now = datetime.now(UTC)

    assert victim.send(benign_events(victim.name, now))["alerts"] == []
    assert victim.open_app(tenant.name, "payroll").status_code == 200

    steps = attack_steps(victim.name, now)
    first = victim.send(steps[0].events)
    assert first["riskScore"] == "High"
    assert [a["severity"] for a in first["alerts"]] == ["high"]

    device = ctx.client.get(
        f"/api/deviceManagement/managedDevices/{victim.managed_device_id}"
    ).json()
    assert device["complianceState"] == "noncompliant"
    assert device["deviceThreatLevel"] == "high"
    setting = device["deviceCompliancePolicyStates"][0]["settingStates"][0]
    assert setting["setting"] == "deviceThreatProtectionRequiredSecurityLevel"
    assert setting["state"] == "noncompliant"
    assert setting["currentValue"] == "high"

    denied = victim.open_app(tenant.name, "payroll")
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    body = denied.json()
    detail = body["details"][0]
    assert detail["control"] == "compliantDevice"
    assert detail["threatLevel"] == "high"
    assert [a["severity"] for a in detail["alerts"]] == ["high"]
    assert "Require a compliant device" in body["detail"]

    for step in steps[1:]:
        victim.send(step.events)
    alerts = ctx.client.get(f"/api/machines/{victim.machine_id}/alerts").json()["value"]
    assert len(alerts) == 4
    assert {a["category"] for a in alerts} >= {"Execution", "PrivilegeEscalation"}
    # the bystander on the same tenant keeps its access
    assert bystander.open_app(tenant.name, "payroll").status_code == 200

    page = victim.open_app(tenant.name, "payroll", browser=True)
    assert page.status_code == 403
    assert "text/html" in page.headers["content-type"]
    assert victim.name in page.text
    assert "Threat level High: 4 active alert(s)" in page.text

    for alert in alerts:
        r = ctx.client.patch(f"/api/alerts/{alert['id']}", json={"status": "resolved"})
        assert r.status_code == 200
    machine = ctx.client.get(f"/api/machines/{victim.machine_id}").json()
    assert machine["riskScore"] == "None"
    device = ctx.client.get(
        f"/api/deviceManagement/managedDevices/{victim.managed_device_id}"
    ).json()
    assert device["complianceState"] == "compliant"
    assert device["deviceThreatLevel"] == "secured"
    assert victim.open_app(tenant.name, "payroll").status_code == 200

    log = ctx.client.get("/api/auditLogs/signIns", params={"$top": 100}).json()
    statuses = [s["conditionalAccessStatus"] for s in reversed(log["value"])]
    assert statuses == ["success", "failure", "success", "failure", "success"]
    failure = next(s for s in log["value"] if s["conditionalAccessStatus"] == "failure")
    assert failure["appliedConditionalAccessPolicies"][-1]["result"] == "failure"
    assert failure["deviceDetail"]["displayName"] == victim.name
    assert any("threat level high" in r for r in failure["reasonChain"])


def test_evidence_accumulates_on_one_alert_per_rule(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    victim = fleet[0]
    step = attack_steps(victim.name, datetime.now(UTC))[0]
    victim.send(step.events)
    victim.send(step.events)
    alerts = ctx.client.get("/api/alerts").json()["value"]
    assert len(alerts) == 1
    full = ctx.client.get(f"/api/alerts/{alerts[0]['id']}").json()
    assert full["evidenceCount"] == 2
    assert full["evidence"][0]["fields"]["ParentImage"].endswith("WINWORD.EXE")
    assert full["mitreTechniques"]


def test_risk_pushed_only_for_enabled_platforms(make_tenant, client: TestClient) -> None:
    ctx, tenant, fleet = _world(make_tenant, client)
    r = ctx.client.patch(
        f"/api/deviceManagement/mobileThreatDefenseConnectors/{tenant.connector_id}",
        json={"windowsEnabled": False},
    )
    assert r.status_code == 200 and r.json()["windowsEnabled"] is False
    victim = next(d for d in fleet if d.platform == "windows")
    result = victim.send(attack_steps(victim.name, datetime.now(UTC))[0].events)
    assert result["riskScore"] == "High"
    device = ctx.client.get(
        f"/api/deviceManagement/managedDevices/{victim.managed_device_id}"
    ).json()
    assert device["deviceThreatLevel"] == "secured"  # the last level pushed while it was on
    assert device["complianceState"] == "compliant"


def test_check_in_delivers_onboarding_profile_only_to_assigned_groups(
    make_tenant, client: TestClient
) -> None:
    ctx, tenant, fleet = _world(make_tenant, client)
    outsider = ctx.client.post(
        "/api/users", json={"userPrincipalName": "guest@contoso.example"}
    ).json()
    device = SimulatedDevice(client, "WIN-OUT", "windows", "11", outsider["userPrincipalName"])
    device.enroll(tenant.enrollment_token)
    data = device.check_in()
    assert data["profiles"] == []
    assert data["managedDevice"]["complianceState"] == "compliant"
    assert "no compliance policy" in data["managedDevice"]["complianceReason"]
    member = fleet[0].check_in()
    blob = member["profiles"][0]["advancedThreatProtectionOnboardingBlob"]
    assert blob["onboardUrl"].endswith("/api/mtd/onboard")
    assert blob["onboardingCredential"].startswith("sob_")


def test_joining_a_group_applies_its_policies_at_once(make_tenant, client: TestClient) -> None:
    ctx, tenant, _ = _world(make_tenant, client, devices=1)
    newcomer = ctx.client.post(
        "/api/users", json={"userPrincipalName": "newcomer@contoso.example"}
    ).json()
    device = SimulatedDevice(client, "WIN-NEW", "windows", "11", newcomer["userPrincipalName"])
    device.enroll(tenant.enrollment_token)
    path = f"/api/deviceManagement/managedDevices/{device.managed_device_id}"
    ctx.client.patch(
        f"/api/deviceManagement/mobileThreatDefenseConnectors/{tenant.connector_id}",
        json={"windowsDeviceBlockedOnMissingPartnerData": True},
    )
    assert ctx.client.get(path).json()["complianceState"] == "compliant"  # no policy applies
    r = ctx.client.post(
        f"/api/groups/{tenant.group_id}/members/$ref", json={"@odata.id": newcomer["id"]}
    )
    assert r.status_code == 204
    state = ctx.client.get(path).json()
    assert state["complianceState"] == "noncompliant"  # its sensor has not reported yet
