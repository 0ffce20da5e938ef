"""Bad input gets a clear problem+json and loses nothing already accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi.testclient import TestClient

from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps, benign_events


def _device(make_tenant, client: TestClient):  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    (device,) = fleet_specs(client, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)
    return ctx, tenant, device


def _post(client: TestClient, token: str, body: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/mtd/telemetry",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )


def test_malformed_line_rejects_the_whole_batch_and_names_the_line(
    make_tenant, client: TestClient
) -> None:
    ctx, _, device = _device(make_tenant, client)
    good = orjson.dumps(attack_steps(device.name, datetime.now(UTC))[0].events[0])
    body = good + b"\n" + b'{"EventID": 1, "Image": ' + b"\n" + b"[1, 2]\n"
    r = _post(client, device.sensor_credential, body)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["detail"].startswith("line 2: not valid JSON")
    assert [e["line"] for e in problem["errors"]] == [2, 3]
    assert "nothing was stored" in problem["detail"]
    # all-or-nothing: the good first line was not stored, so no alert was raised
    assert ctx.client.get("/api/alerts").json()["value"] == []


def test_earlier_batches_survive_a_later_bad_one(make_tenant, client: TestClient) -> None:
    ctx, _, device = _device(make_tenant, client)
    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    r = _post(client, device.sensor_credential, b'{"Image": "x.exe"}')
    assert r.status_code == 400
    assert "missing required field 'EventID'" in r.json()["detail"]
    alerts = ctx.client.get("/api/alerts").json()["value"]
    assert len(alerts) == 1 and alerts[0]["evidenceCount"] == 1
    assert ctx.client.get(f"/api/machines/{device.machine_id}").json()["riskScore"] == "High"


def test_empty_and_oversized_batches(make_tenant, client: TestClient, services) -> None:  # type: ignore[no-untyped-def]
    _, _, device = _device(make_tenant, client)
    assert _post(client, device.sensor_credential, b"\n\n").status_code == 400
    services.settings.max_batch_bytes = 1000
    big = b"\n".join(orjson.dumps(e) for e in benign_events(device.name, datetime.now(UTC)) * 20)
    r = _post(client, device.sensor_credential, big)
    assert r.status_code == 413


def test_unknown_or_revoked_credentials_get_401(make_tenant, client: TestClient) -> None:
    ctx, _, device = _device(make_tenant, client)
    line = orjson.dumps(benign_events(device.name, datetime.now(UTC))[0])
    assert _post(client, "sst_nope.nope", line).status_code == 401
    assert _post(client, device.sensor_credential + "x", line).status_code == 401
    assert _post(client, device.credential, line).status_code == 401  # wrong kind
    r = client.post("/api/enrollment/checkin", json={}, headers={"Authorization": "Bearer sdv_a.b"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"

    # disabling the registration revokes the device: no check-in, no telemetry (classic rule)
    r = ctx.client.patch(f"/api/devices/{device.device_id}", json={"accountEnabled": False})
    assert r.status_code == 200
    r = client.post(
        "/api/enrollment/checkin", json={}, headers={"Authorization": f"Bearer {device.credential}"}
    )
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    r = _post(client, device.sensor_credential, line)
    assert r.status_code == 403
    assert "classic access policy" in r.json()["detail"]


def test_unregistered_device_cannot_onboard(make_tenant, client: TestClient) -> None:
    ctx, _, device = _device(make_tenant, client)
    blob = device.profiles[0]["advancedThreatProtectionOnboardingBlob"]
    r = client.post(
        "/api/mtd/onboard",
        json={
            "deviceId": "00000000-0000-0000-0000-000000000000",
            "computerDnsName": "rogue",
            "osPlatform": "Windows11",
            "osVersion": "10.0.22631",
        },
        headers={"Authorization": f"Bearer {blob['onboardingCredential']}"},
    )
    assert r.status_code == 403
    assert "not registered" in r.json()["detail"]
    assert len(ctx.client.get("/api/machines").json()["value"]) == 1


def test_enrollment_validation(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    auth = {"Authorization": f"Bearer {tenant.enrollment_token}"}
    base = {"deviceName": "D", "userPrincipalName": tenant.users[0]}
    cases = [
        ({"platform": "windows", "osVersion": "8.1"}, "osVersion"),
        ({"platform": "macOS", "osVersion": "14"}, "platform"),
        ({"platform": "windows", "osVersion": "11", "joinType": "domainJoined"}, "joinType"),
        ({"platform": "android", "osVersion": "14", "joinType": "azureADJoined"}, "joinType"),
    ]
    for extra, field in cases:
        r = client.post("/api/enrollment/enroll", json={**base, **extra}, headers=auth)
        assert r.status_code == 422, extra
        assert r.json()["field"] == field
    r = client.post(
        "/api/enrollment/enroll",
        json={**base, "platform": "iOS", "osVersion": "17", "userPrincipalName": "x@y.example"},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["field"] == "userPrincipalName"
    r = client.post(
        "/api/enrollment/enroll",
        json={**base, "platform": "iOS", "osVersion": "17", "serial": "1"},
        headers=auth,
    )
    assert r.status_code == 422 and "serial" in r.json()["detail"]
    token_id = ctx.client.get("/api/deviceManagement/enrollmentTokens").json()["value"][0]["id"]
    assert (
        ctx.client.delete(f"/api/deviceManagement/enrollmentTokens/{token_id}").status_code == 204
    )
    r = client.post(
        "/api/enrollment/enroll", json={**base, "platform": "iOS", "osVersion": "17"}, headers=auth
    )
    assert r.status_code == 401
    # nothing half-made by the refused enrollments
    assert ctx.client.get("/api/devices").json()["value"] == []


def test_policy_bodies_name_unknown_fields(make_tenant) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    r = ctx.client.post(
        "/api/identity/conditionalAccess/policies",
        json={
            "id": "ignored-read-only",
            "createdDateTime": "2024-01-01T00:00:00Z",
            "displayName": "p",
            "state": "enabled",
            "conditions": {"users": {"includeUsers": ["All"]}, "deviceTrustLevel": ["high"]},
            "grantControls": {"operator": "OR", "builtInControls": ["block"]},
        },
    )
    assert r.status_code == 422
    assert "conditions.deviceTrustLevel" in r.json()["detail"]
    assert ctx.client.get("/api/identity/conditionalAccess/policies").json()["value"] == []
    r = ctx.client.post(
        "/api/deviceManagement/deviceCompliancePolicies",
        json={
            "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
            "displayName": "x",
            "deviceThreatProtectionRequiredSecurityLevel": "severe",
        },
    )
    assert r.status_code == 422
    assert "deviceThreatProtectionRequiredSecurityLevel" in r.json()["detail"]
    r = ctx.client.post(
        "/api/deviceManagement/deviceCompliancePolicies",
        json={"@odata.type": "#microsoft.graph.macOSCompliancePolicy", "displayName": "x"},
    )
    assert r.status_code == 422 and r.json()["field"] == "@odata.type"


def test_forward_auth_identity_rules(make_tenant, app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    params = {"tenant": tenant.name, "app": "payroll"}
    assert client.get("/access/forward-auth", params=params).status_code == 401
    r = client.get(
        "/access/forward-auth", params=params, headers={"X-Forwarded-User": "nobody@x.example"}
    )
    assert r.status_code == 403 and "unknown" in r.json()["detail"]
    r = client.get(
        "/access/forward-auth",
        params={**params, "tenant": "no-such-tenant"},
        headers={"X-Forwarded-User": tenant.users[0]},
    )
    assert r.status_code == 404
    # identity headers from an address that is not a trusted proxy are ignored
    outsider = TestClient(app, client=("198.51.100.9", 40000))
    r = outsider.get(
        "/access/forward-auth", params=params, headers={"X-Forwarded-User": tenant.users[0]}
    )
    assert r.status_code == 401
    assert "trusted proxy" in r.json()["detail"]
    # a user with no device: the compliant-device policy fails, with the reason
    r = client.get(
        "/access/forward-auth", params=params, headers={"X-Forwarded-User": tenant.users[0]}
    )
    assert r.status_code == 403 and "no managed device" in r.json()["detail"]
    # an app the policy does not cover: allowed, policy not applied
    r = client.get(
        "/access/forward-auth",
        params={**params, "app": "cafeteria"},
        headers={"X-Forwarded-User": tenant.users[0]},
    )
    assert r.status_code == 200
    log = ctx.client.get("/api/auditLogs/signIns").json()["value"]
    assert log[0]["conditionalAccessStatus"] == "notApplied"
