"""The connector's classic policy, and conditional access policy administration."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps

CONNECTORS = "/api/deviceManagement/mobileThreatDefenseConnectors"
POLICIES = "/api/identity/conditionalAccess/policies"


def _classic(ctx) -> list[dict]:  # type: ignore[no-untyped-def]
    return [p for p in ctx.client.get(POLICIES).json()["value"] if p["classic"]]


def test_classic_policy_lives_and_dies_with_the_connector(make_tenant) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    assert _classic(ctx) == []
    connector = ctx.client.post(CONNECTORS, json={"windowsEnabled": True}).json()
    assert connector["partnerState"] == "enabled"
    assert connector["partnerUnresponsivenessThresholdInDays"] == 7
    assert connector["lastHeartbeatDateTime"]
    (classic,) = _classic(ctx)
    for method, body in (
        ("PATCH", {"state": "disabled"}),
        ("PATCH", {"displayName": "mine now"}),
        ("DELETE", None),
    ):
        r = ctx.client.request(method, f"{POLICIES}/{classic['id']}", json=body)
        assert r.status_code == 409, method
        assert "delete and recreate the connector" in r.json()["detail"]
    assert ctx.client.get(f"{POLICIES}/{classic['id']}").json()["state"] == "enabled"

    assert ctx.client.post(CONNECTORS, json={}).status_code == 409  # one per tenant
    assert ctx.client.delete(f"{CONNECTORS}/{connector['id']}").status_code == 204
    assert _classic(ctx) == []
    ctx.client.post(CONNECTORS, json={"windowsEnabled": True})
    assert len(_classic(ctx)) == 1


def test_connector_validation(make_tenant) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    r = ctx.client.post(CONNECTORS, json={"partnerUnresponsivenessThresholdInDays": 0})
    assert r.status_code == 422
    assert r.json()["field"] == "partnerUnresponsivenessThresholdInDays"
    r = ctx.client.post(CONNECTORS, json={"windowsEnabled": "sometimes"})
    assert r.status_code == 422 and "windowsEnabled" in r.json()["detail"]
    assert ctx.client.get(CONNECTORS).json()["value"] == []


def test_enabling_a_platform_pushes_current_risk_at_once(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    (device,) = fleet_specs(client, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)
    ctx.client.patch(f"{CONNECTORS}/{tenant.connector_id}", json={"windowsEnabled": False})
    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    path = f"/api/deviceManagement/managedDevices/{device.managed_device_id}"
    assert ctx.client.get(path).json()["complianceState"] == "compliant"
    ctx.client.patch(f"{CONNECTORS}/{tenant.connector_id}", json={"windowsEnabled": True})
    assert ctx.client.get(path).json()["complianceState"] == "noncompliant"


def test_policy_states_and_controls(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    (device,) = fleet_specs(client, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)
    block = ctx.client.post(
        POLICIES,
        json={
            "displayName": "Block wiki",
            "state": "enabledForReportingButNotEnforced",
            "conditions": {
                "users": {"includeUsers": ["All"]},
                "applications": {"includeApplications": ["wiki"]},
            },
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        },
    )
    assert block.status_code == 201
    assert device.open_app(tenant.name, "wiki").status_code == 200  # report-only never blocks
    log = ctx.client.get("/api/auditLogs/signIns").json()["value"][0]
    results = {p["displayName"]: p["result"] for p in log["appliedConditionalAccessPolicies"]}
    assert results["Block wiki"] == "reportOnlyFailure"

    r = ctx.client.patch(f"{POLICIES}/{block.json()['id']}", json={"state": "enabled"})
    assert r.status_code == 200
    denied = device.open_app(tenant.name, "wiki")
    assert denied.status_code == 403 and "access is blocked" in denied.json()["detail"]

    ctx.client.patch(
        f"{POLICIES}/{block.json()['id']}",
        json={
            "conditions": {
                "users": {"includeUsers": ["All"], "excludeGroups": [tenant.group_id]},
                "applications": {"includeApplications": ["wiki"]},
            }
        },
    )
    assert device.open_app(tenant.name, "wiki").status_code == 200

    ctx.client.patch(f"{POLICIES}/{block.json()['id']}", json={"state": "disabled"})
    log = ctx.client.get("/api/auditLogs/signIns", params={"$top": 1}).json()
    assert log["@odata.count"] >= 3 and "@odata.nextLink" in log
    assert ctx.client.delete(f"{POLICIES}/{block.json()['id']}").status_code == 204
    assert ctx.client.get(f"{POLICIES}/{block.json()['id']}").status_code == 404


def test_openapi_is_served_and_names_graph_resources(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for expected in (
        "/api/deviceManagement/managedDevices",
        "/api/deviceManagement/deviceCompliancePolicies",
        "/api/deviceManagement/mobileThreatDefenseConnectors",
        "/api/identity/conditionalAccess/policies",
        "/api/machines",
        "/api/alerts",
        "/access/forward-auth",
    ):
        assert expected in paths
    assert client.get("/docs").status_code == 200
    assert client.get("/healthz").json()["status"] == "ok"
