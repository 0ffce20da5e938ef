"""Conditional access like Entra, through the HTTP API and forward auth."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from stockade.sim.device import SimulatedDevice
from stockade.sim.fleet import bring_up, provision

POLICIES = "/api/identity/conditionalAccess/policies"
LOCATIONS = "/api/identity/conditionalAccess/namedLocations"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"

# A policy as Graph returns it (GET /identity/conditionalAccess/policies/{id}): every property
# present, most empty, read-only ones included.
GRAPH_EXPORT: dict[str, Any] = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/policies/$entity",
    "id": "7a9f5c3e-2b4d-4e8f-9a1b-0c2d3e4f5a6b",
    "templateId": None,
    "displayName": "CA004: Require MFA for risky sign-ins",
    "createdDateTime": "2024-03-01T10:00:00Z",
    "modifiedDateTime": "2024-06-01T10:00:00Z",
    "state": "enabled",
    "sessionControls": {
        "disableResilienceDefaults": None,
        "applicationEnforcedRestrictions": None,
        "cloudAppSecurity": None,
        "persistentBrowser": None,
        "continuousAccessEvaluation": None,
        "secureSignInSession": None,
        "signInFrequency": {
            "value": 1,
            "type": "hours",
            "authenticationType": "primaryAndSecondaryAuthentication",
            "frequencyInterval": "timeBased",
            "isEnabled": True,
        },
    },
    "conditions": {
        "userRiskLevels": [],
        "signInRiskLevels": ["high", "medium"],
        "clientAppTypes": ["all"],
        "servicePrincipalRiskLevels": [],
        "insiderRiskLevels": None,
        "platforms": None,
        "locations": None,
        "devices": None,
        "clientApplications": None,
        "authenticationFlows": None,
        "applications": {
            "includeApplications": ["All"],
            "excludeApplications": [],
            "includeUserActions": [],
            "includeAuthenticationContextClassReferences": [],
            "applicationFilter": None,
        },
        "users": {
            "includeUsers": ["All"],
            "excludeUsers": [],
            "includeGroups": [],
            "excludeGroups": [],
            "includeRoles": [],
            "excludeRoles": [],
            "includeGuestsOrExternalUsers": None,
            "excludeGuestsOrExternalUsers": None,
        },
    },
    "grantControls": {
        "operator": "OR",
        "builtInControls": ["mfa"],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        "authenticationStrength@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/policies('7a9f')/grantControls/authenticationStrength/$entity",
        "authenticationStrength": None,
    },
}


@pytest.fixture
def world(make_tenant, client: TestClient):  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=2)
    # the demo's "require compliant device" policy covers payroll and wiki; tests use "crm"
    win = SimulatedDevice(
        client, "WIN-A", "windows", "10.0.22631", tenant.users[0], "azureADJoined"
    )
    hybrid = SimulatedDevice(
        client, "WIN-H", "windows", "10.0.19045", tenant.users[1], "hybridAzureADJoined"
    )
    for d in (win, hybrid):
        bring_up(d, tenant.enrollment_token)
    return ctx, tenant, win, hybrid


def ask(
    client: TestClient,
    tenant: str,
    device: SimulatedDevice | None,
    user: str,
    app: str = "crm",
    **headers: str,
):  # type: ignore[no-untyped-def]
    h = {"X-Forwarded-User": user, **headers}
    if device is not None:
        h["X-Stockade-Device"] = device.credential
    return client.get("/access/forward-auth", params={"tenant": tenant, "app": app}, headers=h)


def policy(
    name: str, controls: list[str], *, apps: list[str] | None = None, **conditions: Any
) -> dict[str, Any]:
    users = conditions.pop("users", {"includeUsers": ["All"]})
    return {
        "displayName": name,
        "state": conditions.pop("state", "enabled"),
        "conditions": {
            "users": users,
            "applications": {"includeApplications": apps or ["crm"]},
            **conditions,
        },
        "grantControls": {"operator": "OR", "builtInControls": controls},
    }


def test_graph_export_imports_and_names_what_is_not_enforced(world, client: TestClient) -> None:
    ctx, tenant, win, _ = world
    r = ctx.client.post(POLICIES, json=GRAPH_EXPORT)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] != GRAPH_EXPORT["id"]  # read-only id dropped, a new one given
    not_enforced = {x["path"]: x["treatment"] for x in body["stockadeNotEnforced"]}
    assert set(not_enforced) == {"conditions.signInRiskLevels", "sessionControls"}
    assert "counts as met" in not_enforced["conditions.signInRiskLevels"]
    # the risk condition counts as met: the policy applies and asks for MFA (never a silent allow)
    r = ask(client, tenant.name, win, tenant.users[0])
    assert r.status_code == 403
    assert r.headers["X-Stockade-Requirements"] == "mfa"
    assert (
        ask(client, tenant.name, win, tenant.users[0], **{"X-Stockade-MFA": "true"}).status_code
        == 200
    )
    # a round trip: what we return imports again
    again = ctx.client.post(POLICIES, json={**body, "displayName": "copy"})
    assert again.status_code == 201


def test_unknown_property_is_refused_by_its_path(world) -> None:  # type: ignore[no-untyped-def]
    ctx, *_ = world
    bad = json.loads(json.dumps(GRAPH_EXPORT))
    bad["conditions"]["users"]["includeDepartments"] = ["Sales"]
    bad["grantControls"]["builtInControls"] = ["mfa", "retinaScan"]
    r = ctx.client.post(POLICIES, json=bad)
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["conditions.users.includeDepartments"]
    del bad["conditions"]["users"]["includeDepartments"]
    r = ctx.client.post(POLICIES, json=bad)
    assert r.status_code == 422 and "retinaScan" in r.json()["detail"]


def test_lockout_is_refused_unless_confirmed(world) -> None:  # type: ignore[no-untyped-def]
    ctx, *_ = world
    everyone = policy("Block all", ["block"], apps=["All"])
    r = ctx.client.post(POLICIES, json=everyone)
    assert r.status_code == 409 and "confirmLockout" in r.json()["detail"]
    r = ctx.client.post(POLICIES, json=everyone, params={"confirmLockout": "true"})
    assert r.status_code == 201
    pid = r.json()["id"]
    assert ctx.client.patch(f"{POLICIES}/{pid}", json={"state": "disabled"}).status_code == 200
    assert ctx.client.patch(f"{POLICIES}/{pid}", json={"state": "enabled"}).status_code == 409


def test_roles_locations_filters_and_client_apps(world, client: TestClient) -> None:
    ctx, tenant, win, hybrid = world
    alice, bob = tenant.users
    alice_id = ctx.client.get("/api/users").json()["value"][0]["id"]
    r = ctx.client.post(
        "/api/roleManagement/directory/roleAssignments",
        json={"principalId": alice_id, "roleDefinitionId": GLOBAL_ADMIN},
    )
    assert r.status_code == 201
    hq = ctx.client.post(
        LOCATIONS,
        json={
            "displayName": "HQ",
            "isTrusted": True,
            "ipRanges": [{"cidrAddress": "203.0.113.0/24"}],
        },
    ).json()
    ctx.client.post(
        POLICIES,
        json=policy(
            "Admins from HQ only",
            ["block"],
            users={"includeRoles": [GLOBAL_ADMIN]},
            locations={"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]},
        ),
    )
    assert ask(client, tenant.name, win, alice, **{"X-Real-IP": "198.51.100.7"}).status_code == 403
    assert ask(client, tenant.name, win, alice, **{"X-Real-IP": "203.0.113.9"}).status_code == 200
    assert ask(client, tenant.name, hybrid, bob, **{"X-Real-IP": "198.51.100.7"}).status_code == 200

    ctx.client.post(
        POLICIES,
        json=policy(
            "Hybrid-joined for desktop apps",
            ["domainJoinedDevice"],
            apps=["erp"],
            clientAppTypes=["mobileAppsAndDesktopClients"],
        ),
    )
    assert ask(client, tenant.name, hybrid, bob, app="erp").status_code == 200
    r = ask(client, tenant.name, win, alice, app="erp")
    assert r.status_code == 403 and "not hybrid-joined" in r.json()["detail"]
    # a browser is another client app type: the policy does not apply
    assert ask(client, tenant.name, win, alice, app="erp", Accept="text/html").status_code == 200

    ctx.client.post(
        POLICIES,
        json=policy(
            "Block unmanaged on wiki2",
            ["block"],
            apps=["wiki2"],
            devices={
                "deviceFilter": {
                    "mode": "exclude",
                    "rule": 'device.trustType -eq "ServerAd" -or device.isCompliant -eq True',
                }
            },
        ),
    )
    assert ask(client, tenant.name, win, alice, app="wiki2").status_code == 200
    assert ask(client, tenant.name, None, alice, app="wiki2").status_code == 403
    bad = policy(
        "bad filter",
        ["block"],
        devices={"deviceFilter": {"mode": "exclude", "rule": "device.color -eq 1"}},
    )
    r = ctx.client.post(POLICIES, json=bad)
    assert r.status_code == 422 and "device.color" in r.json()["detail"]
    # a location a policy names cannot be deleted; an unused one can
    ctx.client.post(
        POLICIES,
        json=policy(
            "HQ only", ["block"], apps=["vault"], locations={"includeLocations": [hq["id"]]}
        ),
    )
    r = ctx.client.delete(f"{LOCATIONS}/{hq['id']}")
    assert r.status_code == 409 and "HQ only" in r.json()["detail"]
    spare = ctx.client.post(
        LOCATIONS, json={"displayName": "spare", "ipRanges": [{"cidrAddress": "2001:db8::/32"}]}
    ).json()
    assert spare["ipRanges"][0]["@odata.type"] == "#microsoft.graph.iPv6CidrRange"
    assert ctx.client.delete(f"{LOCATIONS}/{spare['id']}").status_code == 204


def test_country_locations_and_unknown_ids_never_allow_silently(world, client: TestClient) -> None:
    ctx, tenant, win, _ = world
    country = ctx.client.post(
        LOCATIONS,
        json={
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "displayName": "Embargoed",
            "countriesAndRegions": ["KP"],
        },
    )
    assert country.status_code == 201
    assert country.json()["stockadeNotEnforced"]
    ctx.client.post(
        POLICIES,
        json=policy(
            "Block embargoed", ["block"], locations={"includeLocations": [country.json()["id"]]}
        ),
    )
    ctx.client.post(
        POLICIES,
        json=policy(
            "Block elsewhere-defined",
            ["block"],
            apps=["crm2"],
            locations={"includeLocations": ["00000000-1111-2222-3333-444444444444"]},
        ),
    )
    assert ask(client, tenant.name, win, tenant.users[0]).status_code == 403
    assert ask(client, tenant.name, win, tenant.users[0], app="crm2").status_code == 403


def test_what_if_and_decision_api(world) -> None:  # type: ignore[no-untyped-def]
    ctx, tenant, win, _ = world
    ctx.client.post(POLICIES, json=policy("MFA for crm", ["mfa"]))
    r = ctx.client.post(
        "/api/identity/conditionalAccess/evaluate",
        json={"user": tenant.users[0], "appId": "crm", "deviceId": win.device_id},
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["decision"] == "deny" and result["requirements"] == ["mfa"]
    assert [p["displayName"] for p in result["appliedPolicies"]] == ["MFA for crm"]
    missed = {p["displayName"]: p["firstUnmatchedCondition"] for p in result["notAppliedPolicies"]}
    assert (
        missed["Require a compliant device for corporate apps"]
        == "applications: crm is not included"
    )
    assert (
        "classic policy" in missed["[Classic] Threat defense: only registered devices may report"]
    )
    assert result["classicPoliciesExist"] is True
    before = ctx.client.get("/api/auditLogs/signIns").json()["@odata.count"]

    token = ctx.client.post(
        "/api/apiTokens", json={"name": "keycloak", "role": "AccessEvaluator"}
    ).json()["token"]
    idp = TestClient(ctx.client.app, headers={"Authorization": f"Bearer {token}"})
    body = {
        "user": tenant.users[0],
        "appId": "crm",
        "deviceId": win.device_id,
        "clientAppType": "browser",
        "ipAddress": "192.0.2.1",
    }
    r = idp.post("/api/access/evaluate", json=body)
    assert r.json()["decision"] == "requirements" and r.json()["requirements"] == ["mfa"]
    r = idp.post("/api/access/evaluate", json={**body, "mfa": True})
    assert r.json()["decision"] == "allow"
    assert idp.get("/api/users").status_code == 403  # an evaluator can only evaluate
    log = ctx.client.get("/api/auditLogs/signIns", params={"appId": "crm"}).json()
    assert log["@odata.count"] == before + 2  # What If logs nothing, evaluations do
    assert log["value"][0]["ipAddress"] == "192.0.2.1"
    assert (
        ctx.client.get("/api/auditLogs/signIns", params={"user": "nobody@x.example"}).json()[
            "value"
        ]
        == []
    )


def test_decisions_are_cached_until_an_event(world, client: TestClient, services) -> None:  # type: ignore[no-untyped-def]
    ctx, tenant, win, _ = world
    user = tenant.users[0]
    assert ask(client, tenant.name, win, user).status_code == 200
    hits = services.access.cache.hits
    assert ask(client, tenant.name, win, user).status_code == 200
    assert services.access.cache.hits == hits + 1
    ctx.client.post(POLICIES, json=policy("Block crm", ["block"]))
    assert ask(client, tenant.name, win, user).status_code == 403  # invalidated at once
    metrics = client.get("/metrics").text
    assert "stockade_access_cache_hits_total" in metrics


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fail_closed_unless_the_app_fails_open(
    world, client: TestClient, services, settings
) -> None:  # type: ignore[no-untyped-def]
    ctx, tenant, win, _ = world
    ctx.client.put("/api/access/applications/status-page", json={"failOpen": True})
    assert ask(client, tenant.name, win, tenant.users[0]).status_code == 200
    db_file = Path(settings.effective_database_url.split("///", 1)[1])
    services.db.engine.dispose()
    shutil.move(db_file, db_file.with_suffix(".away"))  # the store is gone
    services.access.cache.invalidate(ctx.id)
    r = ask(client, tenant.name, win, tenant.users[0])
    assert r.status_code == 403 and r.headers["X-Stockade-Decision"] == "fail-closed"
    r = ask(client, tenant.name, win, tenant.users[0], app="status-page")
    assert r.status_code == 200 and r.headers["X-Stockade-Decision"] == "fail-open"
    text = client.get("/metrics").text
    assert "stockade_forward_auth_fail_closed_total 1" in text
    assert "stockade_forward_auth_fail_open_total 1" in text


class _Jwks(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_identity_from_a_verified_jwt(world, services) -> None:  # type: ignore[no-untyped-def]
    from stockade.access.identity import JwtVerifier
    from stockade.http.app import create_app

    ctx, tenant, *_ = world
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    _Jwks.body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    server = HTTPServer(("127.0.0.1", 0), _Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        services.jwt = JwtVerifier(
            f"http://127.0.0.1:{server.server_port}/jwks",
            "https://idp.example",
            "stockade",
            "preferred_username",
        )
        far = TestClient(
            create_app(services), client=("198.51.100.20", 4000)
        )  # not a trusted proxy

        def token(**claims: Any) -> str:
            base = {
                "iss": "https://idp.example",
                "aud": "stockade",
                "exp": int(time.time()) + 300,
                "preferred_username": tenant.users[0],
            }
            return jwt.encode({**base, **claims}, key, algorithm="RS256", headers={"kid": "k1"})

        ctx.client.post(POLICIES, json=policy("MFA crm", ["mfa"]))
        params = {"tenant": tenant.name, "app": "crm"}
        r = far.get(
            "/access/forward-auth", params=params, headers={"Authorization": f"Bearer {token()}"}
        )
        assert r.status_code == 403 and r.headers["X-Stockade-Requirements"] == "mfa"
        r = far.get(
            "/access/forward-auth",
            params=params,
            headers={"Authorization": f"Bearer {token(amr=['pwd', 'mfa'])}"},
        )
        assert r.status_code == 200
        r = far.get(
            "/access/forward-auth",
            params=params,
            headers={"Authorization": f"Bearer {token(aud='other')}"},
        )
        assert r.status_code == 401 and "invalid token" in r.json()["detail"]
        # headers from an untrusted address are still ignored
        r = far.get(
            "/access/forward-auth", params=params, headers={"X-Forwarded-User": tenant.users[0]}
        )
        assert r.status_code == 401
    finally:
        server.shutdown()


def test_device_certificates_at_enrollment(make_tenant, app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    from urllib.parse import quote

    from stockade.sim.fleet import provision as make_world

    ctx = make_tenant()
    tenant = make_world(ctx.client, ctx.name, users=1)
    auth = {"Authorization": f"Bearer {tenant.enrollment_token}"}
    base = {
        "deviceName": "D",
        "platform": "windows",
        "osVersion": "11",
        "userPrincipalName": tenant.users[0],
    }
    bad = client.post(
        "/api/enrollment/enroll",
        headers=auth,
        json={**base, "certificateSigningRequest": "-----BEGIN CERTIFICATE REQUEST-----\nxx"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "certificateSigningRequest"
    assert ctx.client.get("/api/devices").json()["value"] == []  # nothing half-made
    device = SimulatedDevice(client, "WIN-C", "windows", "11", tenant.users[0], "azureADJoined")
    device.enroll(tenant.enrollment_token, with_certificate=True)
    device.check_in()
    device.onboard()
    escaped = quote(device.certificate_pem)
    params = {"tenant": tenant.name, "app": "payroll"}
    headers = {"X-Forwarded-User": tenant.users[0], "X-SSL-Client-Cert": escaped}
    assert client.get("/access/forward-auth", params=params, headers=headers).status_code == 200
    # a certificate from an address that is not a trusted proxy proves nothing
    outsider = TestClient(app, client=("198.51.100.3", 1000))
    r = outsider.get(
        "/access/forward-auth", params=params, headers={**headers, "Authorization": "Bearer x"}
    )
    assert r.status_code == 401
    # a certificate another CA signed is not a device of this tenant
    other = make_tenant()
    other_tenant = make_world(other.client, other.name, users=1)
    stranger = SimulatedDevice(
        client, "WIN-S", "windows", "11", other_tenant.users[0], "azureADJoined"
    )
    stranger.enroll(other_tenant.enrollment_token, with_certificate=True)
    r = client.get(
        "/access/forward-auth",
        params=params,
        headers={**headers, "X-SSL-Client-Cert": quote(stranger.certificate_pem)},
    )
    assert r.status_code == 403 and "no managed device" in r.json()["detail"]
