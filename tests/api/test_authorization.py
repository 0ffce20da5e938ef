"""Every route declares its authentication; every admin route refuses the unauthenticated and
the under-privileged; no tenant sees another's objects."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from stockade.directory.model import ROLE_PERMISSIONS, Permission, Role
from stockade.http.auth import api_routes, route_auth
from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps


def routes(app) -> list[APIRoute]:  # type: ignore[no-untyped-def]
    found = api_routes(app.routes)
    assert len(found) > 40
    return found


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


def test_every_route_declares_exactly_one_authentication(app) -> None:  # type: ignore[no-untyped-def]
    missing = {f"{sorted(r.methods)} {r.path}": route_auth(r) for r in routes(app)}
    bad = {k: v for k, v in missing.items() if len(v) != 1}
    assert not bad, f"routes without exactly one auth declaration: {bad}"


def test_admin_routes_refuse_missing_wrong_and_underprivileged_tokens(
    app,
    make_tenant,  # type: ignore[no-untyped-def]
) -> None:
    ctx = make_tenant()
    plain = TestClient(app, client=("127.0.0.1", 50002))
    issued: dict[Role, str] = {}
    for role in Role:
        r = ctx.client.post("/api/apiTokens", json={"name": role.value, "role": role.value})
        issued[role] = r.json()["token"]
    checked = 0
    for route in routes(app):
        (mark,) = route_auth(route)
        if not mark.startswith("permission:"):
            continue
        permission = Permission(mark.removeprefix("permission:"))
        for method in route.methods:
            path = _fill(route.path)
            r = plain.request(method, path)
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            r = plain.request(method, path, headers={"Authorization": "Bearer sat_x.y"})
            assert r.status_code == 401, (method, path)
            lacking = [role for role in Role if permission not in ROLE_PERMISSIONS[role]]
            if lacking:
                r = plain.request(
                    method, path, headers={"Authorization": f"Bearer {issued[lacking[0]]}"}
                )
                assert r.status_code == 403, (method, path, lacking[0], r.text)
                assert permission.value in r.json()["detail"]
            checked += 1
    assert checked > 30
    # a revoked token stops working at once
    tokens = ctx.client.get("/api/apiTokens").json()["value"]
    token_id = next(t["id"] for t in tokens if t["name"] == Role.GLOBAL_READER.value)
    assert ctx.client.delete(f"/api/apiTokens/{token_id}").status_code == 204
    r = plain.get("/api/users", headers={"Authorization": f"Bearer {issued[Role.GLOBAL_READER]}"})
    assert r.status_code == 401


def _tenant_a(make_tenant, client: TestClient) -> tuple[Any, dict[str, str]]:  # type: ignore[no-untyped-def]
    ctx = make_tenant("tenant-a")
    tenant = provision(ctx.client, ctx.name, users=1)
    (device,) = fleet_specs(client, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)
    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    get = ctx.client.get
    user_id = get("/api/users").json()["value"][0]["id"]
    role = ctx.client.post(
        "/api/roleManagement/directory/roleAssignments",
        json={"principalId": user_id, "roleDefinitionId": "f2ef992c-3afb-46b9-b7cf-a126ee74c451"},
    ).json()
    location = ctx.client.post(
        "/api/identity/conditionalAccess/namedLocations",
        json={"displayName": "HQ", "ipRanges": [{"cidrAddress": "192.0.2.0/24"}]},
    ).json()
    ids = {
        "role_assignment_id": role["id"],
        "location_id": location["id"],
        "user_id": get("/api/users").json()["value"][0]["id"],
        "group_id": tenant.group_id,
        "member_id": get("/api/users").json()["value"][0]["id"],
        "directory_device_id": device.device_id,
        "managed_device_id": device.managed_device_id,
        "compliance_policy_id": get("/api/deviceManagement/deviceCompliancePolicies").json()[
            "value"
        ][0]["id"],
        "config_id": get("/api/deviceManagement/deviceConfigurations").json()["value"][0]["id"],
        "token_id": get("/api/apiTokens").json()["value"][0]["id"],
        "enrollment_token_id": get("/api/deviceManagement/enrollmentTokens").json()["value"][0][
            "id"
        ],
        "template_id": ctx.client.post(
            "/api/deviceManagement/notificationMessageTemplates", json={"displayName": "t"}
        ).json()["id"],
        "app_policy_id": ctx.client.post(
            "/api/deviceAppManagement/managedAppPolicies",
            json={
                "@odata.type": "#microsoft.graph.androidManagedAppProtection",
                "displayName": "a",
            },
        ).json()["id"],
        "machine_id": device.machine_id,
        "alert_id": get("/api/alerts").json()["value"][0]["id"],
        "incident_id": get("/api/incidents").json()["value"][0]["id"],
        "connector_id": tenant.connector_id,
        "access_policy_id": tenant.access_policy_id,
        "detection_rule_id": ctx.client.post(
            "/api/security/rules/detectionRules",
            json={"queryCondition": {"queryText": TENANT_RULE}},
        ).json()["id"],
    }
    ids.update(_vulnerability_ids(ctx, device))
    return ctx, ids


TENANT_RULE = (
    "title: Tenant A's own rule\nid: 3f0b7a52-9d8e-4c1b-a6f2-0e4d5c6b7a81\n"
    "logsource: {product: windows, category: process_creation}\n"
    "detection: {sel: {CommandLine|contains: tenant-a-only}, condition: sel}\n"
)


def _vulnerability_ids(ctx: Any, device: Any) -> dict[str, str]:
    """A vulnerable Chrome on A's device, its recommendation and a remediation in flight."""
    cpe = "cpe:2.3:a:google:chrome:*:*:*:*:*:*:*:*"
    ctx.client.post(
        "/api/vulnerabilities/imports",
        json={
            "format": "NVD_CVE",
            "vulnerabilities": [
                {
                    "cve": {
                        "id": "CVE-2024-0519",
                        "descriptions": [{"lang": "en", "value": "Chrome"}],
                        "configurations": [
                            {
                                "nodes": [
                                    {
                                        "cpeMatch": [
                                            {
                                                "vulnerable": True,
                                                "criteria": cpe,
                                                "versionEndExcluding": "120.0.6099.224",
                                            }
                                        ]
                                    }
                                ]
                            }
                        ],
                    }
                }
            ],
        },
    )
    device.client.post(
        "/api/mtd/inventory",
        headers={"Authorization": f"Bearer {device.sensor_credential}"},
        json={
            "software": [
                {"name": "Google Chrome", "version": "119.0", "source": "windowsUninstall"}
            ]
        },
    )
    recommendation_id = ctx.client.get("/api/recommendations").json()["value"][0]["id"]
    activity = ctx.client.post(
        "/api/remediationActivities", json={"recommendationId": recommendation_id}
    ).json()
    return {
        "cve_id": "CVE-2024-0519",
        "software_id": "google-_-chrome",
        "recommendation_id": recommendation_id,
        "activity_id": activity["id"],
        "task_id": activity["securityTaskId"],
    }


# (method, path with the id names of _tenant_a, body): every route with a path parameter
ISOLATION_CASES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/users/{user_id}", None),
    ("GET", "/api/groups/{group_id}", None),
    ("GET", "/api/groups/{group_id}/members", None),
    ("POST", "/api/groups/{group_id}/members/$ref", {"@odata.id": "{user_id}"}),
    ("DELETE", "/api/groups/{group_id}/members/{member_id}/$ref", None),
    ("GET", "/api/devices/{directory_device_id}", None),
    ("PATCH", "/api/devices/{directory_device_id}", {"accountEnabled": False}),
    ("DELETE", "/api/apiTokens/{token_id}", None),
    ("DELETE", "/api/deviceManagement/enrollmentTokens/{enrollment_token_id}", None),
    ("GET", "/api/deviceManagement/managedDevices/{managed_device_id}", None),
    (
        "GET",
        "/api/deviceManagement/managedDevices/{managed_device_id}/deviceCompliancePolicyStates",
        None,
    ),
    ("GET", "/api/deviceManagement/deviceCompliancePolicies/{compliance_policy_id}", None),
    (
        "GET",
        "/api/deviceManagement/deviceCompliancePolicies/{compliance_policy_id}/deviceStatuses",
        None,
    ),
    (
        "PATCH",
        "/api/deviceManagement/deviceCompliancePolicies/{compliance_policy_id}",
        {"displayName": "x"},
    ),
    ("DELETE", "/api/deviceManagement/deviceCompliancePolicies/{compliance_policy_id}", None),
    (
        "POST",
        "/api/deviceManagement/deviceCompliancePolicies/{compliance_policy_id}/assign",
        {"assignments": []},
    ),
    ("GET", "/api/deviceManagement/managedDevices/{managed_device_id}/detectedApps", None),
    ("POST", "/api/deviceManagement/managedDevices/{managed_device_id}/retire", None),
    ("POST", "/api/deviceManagement/managedDevices/{managed_device_id}/wipe", None),
    ("POST", "/api/deviceManagement/managedDevices/{managed_device_id}/remoteLock", None),
    ("POST", "/api/deviceManagement/managedDevices/{managed_device_id}/syncDevice", None),
    ("GET", "/api/deviceManagement/notificationMessageTemplates/{template_id}", None),
    ("DELETE", "/api/deviceManagement/notificationMessageTemplates/{template_id}", None),
    (
        "POST",
        "/api/deviceManagement/notificationMessageTemplates/{template_id}"
        "/localizedNotificationMessages",
        {"locale": "en-us", "subject": "s", "messageTemplate": "m"},
    ),
    ("GET", "/api/deviceManagement/deviceConfigurations/{config_id}", None),
    ("GET", "/api/deviceManagement/deviceConfigurations/{config_id}/deviceStatuses", None),
    ("DELETE", "/api/deviceManagement/deviceConfigurations/{config_id}", None),
    ("PATCH", "/api/deviceManagement/deviceConfigurations/{config_id}", {"displayName": "x"}),
    ("POST", "/api/deviceManagement/deviceConfigurations/{config_id}/assign", {"assignments": []}),
    ("GET", "/api/deviceAppManagement/managedAppPolicies/{app_policy_id}", None),
    (
        "PATCH",
        "/api/deviceAppManagement/managedAppPolicies/{app_policy_id}",
        {"displayName": "x"},
    ),
    ("DELETE", "/api/deviceAppManagement/managedAppPolicies/{app_policy_id}", None),
    (
        "POST",
        "/api/deviceAppManagement/managedAppPolicies/{app_policy_id}/assign",
        {"assignments": []},
    ),
    (
        "POST",
        "/api/deviceAppManagement/managedAppPolicies/{app_policy_id}/targetApps",
        {"apps": []},
    ),
    ("GET", "/api/machines/{machine_id}", None),
    ("GET", "/api/machines/{machine_id}/alerts", None),
    ("GET", "/api/alerts/{alert_id}", None),
    ("PATCH", "/api/alerts/{alert_id}", {"status": "resolved"}),
    ("GET", "/api/incidents/{incident_id}", None),
    ("PATCH", "/api/incidents/{incident_id}", {"status": "resolved"}),
    ("GET", "/api/deviceManagement/mobileThreatDefenseConnectors/{connector_id}", None),
    (
        "PATCH",
        "/api/deviceManagement/mobileThreatDefenseConnectors/{connector_id}",
        {"windowsEnabled": False},
    ),
    ("DELETE", "/api/deviceManagement/mobileThreatDefenseConnectors/{connector_id}", None),
    ("GET", "/api/identity/conditionalAccess/policies/{access_policy_id}", None),
    (
        "PATCH",
        "/api/identity/conditionalAccess/policies/{access_policy_id}",
        {"state": "disabled"},
    ),
    ("DELETE", "/api/identity/conditionalAccess/policies/{access_policy_id}", None),
    ("DELETE", "/api/roleManagement/directory/roleAssignments/{role_assignment_id}", None),
    ("GET", "/api/identity/conditionalAccess/namedLocations/{location_id}", None),
    (
        "PATCH",
        "/api/identity/conditionalAccess/namedLocations/{location_id}",
        {"displayName": "x", "ipRanges": [{"cidrAddress": "198.51.100.0/24"}]},
    ),
    ("DELETE", "/api/identity/conditionalAccess/namedLocations/{location_id}", None),
    ("GET", "/api/security/rules/detectionRules/{detection_rule_id}", None),
    ("PATCH", "/api/security/rules/detectionRules/{detection_rule_id}", {"isEnabled": False}),
    ("DELETE", "/api/security/rules/detectionRules/{detection_rule_id}", None),
    ("GET", "/api/vulnerabilities/{cve_id}", None),
    ("GET", "/api/vulnerabilities/{cve_id}/machineReferences", None),
    ("GET", "/api/software/{software_id}", None),
    ("GET", "/api/software/{software_id}/vulnerabilities", None),
    ("GET", "/api/software/{software_id}/machineReferences", None),
    ("GET", "/api/recommendations/{recommendation_id}", None),
    ("GET", "/api/recommendations/{recommendation_id}/machineReferences", None),
    (
        "POST",
        "/api/recommendations/{recommendation_id}/exceptions",
        {"justification": "x", "expirationDateTime": "2999-01-01T00:00:00Z"},
    ),
    ("GET", "/api/machines/{machine_id}/software", None),
    ("GET", "/api/machines/{machine_id}/softwareInventoryChanges", None),
    ("GET", "/api/machines/{machine_id}/vulnerabilities", None),
    ("GET", "/api/remediationActivities/{activity_id}", None),
    ("PATCH", "/api/remediationActivities/{activity_id}", {"status": "completed"}),
    ("POST", "/api/remediationActivities/{activity_id}/notes", {"text": "x"}),
    ("GET", "/api/deviceManagement/deviceAppManagementTasks/{task_id}", None),
    ("PATCH", "/api/deviceManagement/deviceAppManagementTasks/{task_id}", {"status": "active"}),
]

# routes whose path parameter names something of the caller's own, not another's object
NOT_OBJECT_IDS = {("PUT", "/api/access/applications/{}")}


def test_isolation_cases_cover_every_route_with_an_id(app) -> None:  # type: ignore[no-untyped-def]
    covered = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p, _ in ISOLATION_CASES}
    covered |= NOT_OBJECT_IDS
    for route in routes(app):
        if "{" not in route.path or route_auth(route)[0].startswith(
            ("public", "device", "sensor", "partner")
        ):
            continue
        for method in route.methods:
            assert (method, re.sub(r"\{[^}]+\}", "{}", route.path)) in covered, (method, route.path)


def test_another_tenant_gets_404_on_every_object(make_tenant, client: TestClient) -> None:
    ctx_a, ids = _tenant_a(make_tenant, client)
    # B has no connector: connector ids are per partner (as in Graph), so B's own would answer
    ctx_b = make_tenant("tenant-b")
    ctx_b.client.post("/api/users", json={"userPrincipalName": "b@fabrikam.example"})
    for method, template, body in ISOLATION_CASES:
        path = template.format(**ids)
        if body is not None:
            body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()}
        r = ctx_b.client.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # and tenant B's collections hold nothing of A's
    for path in ("/api/users", "/api/devices", "/api/machines", "/api/alerts", "/api/incidents"):
        a_ids = {x["id"] for x in ctx_a.client.get(path).json()["value"]}
        b_ids = {x["id"] for x in ctx_b.client.get(path).json()["value"]}
        assert not a_ids & b_ids, path
    # A's objects are untouched by B's attempts
    assert ctx_a.client.get(f"/api/alerts/{ids['alert_id']}").json()["status"] == "new"
    assert ctx_a.client.get(f"/api/devices/{ids['directory_device_id']}").json()["accountEnabled"]
    activity = ctx_a.client.get(f"/api/remediationActivities/{ids['activity_id']}").json()
    assert activity["status"] == "pending"


@pytest.mark.parametrize("header", ["X-Stockade-Device"])
def test_device_token_of_another_tenant_counts_as_no_device(
    make_tenant, client: TestClient, header: str
) -> None:
    ctx_a = make_tenant("tenant-a")
    tenant_a = provision(ctx_a.client, ctx_a.name, users=1)
    (device,) = fleet_specs(client, tenant_a.users, 1)
    bring_up(device, tenant_a.enrollment_token)
    ctx_b = make_tenant("tenant-b")
    tenant_b = provision(ctx_b.client, ctx_b.name, users=1)
    r = client.get(
        "/access/forward-auth",
        params={"tenant": tenant_b.name, "app": "payroll"},
        headers={"X-Forwarded-User": tenant_b.users[0], header: device.credential},
    )
    assert r.status_code == 403
    assert "no managed device" in r.json()["detail"]
