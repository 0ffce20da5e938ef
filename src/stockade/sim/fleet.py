"""Provision a tenant like the seed scenario, and a fleet of simulated devices, over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from stockade.sim.device import SimulatedDevice, expect

CORPORATE_APPS = ("payroll", "wiki")
COMPLIANCE_TYPES = {
    "windows": "#microsoft.graph.windows10CompliancePolicy",
    "android": "#microsoft.graph.androidCompliancePolicy",
    "iOS": "#microsoft.graph.iosCompliancePolicy",
}


@dataclass
class Tenant:
    """What the simulator knows of the tenant it provisioned."""

    name: str
    admin: httpx.Client
    group_id: str
    enrollment_token: str
    connector_id: str
    access_policy_id: str
    users: list[str]
    partner_credential: str | None = None
    """With a remote connector: the credential the threat-defense deployment links with."""


def admin_client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    )


def provision(
    admin: httpx.Client, tenant_name: str, users: int = 10, *, remote_partner: bool = False
) -> Tenant:
    """Users, a group, the connector, one compliance policy per platform (threat level at or
    under Medium), the onboarding profile and a "require compliant device" access policy.

    `admin` is an HTTP client carrying a GlobalAdministrator token of the tenant. With
    `remote_partner`, the connector is for threat defense in another deployment, which fills in
    the onboarding profile when it links (assign it then with `assign_profiles`).
    """
    group = expect(admin.post("/api/groups", json={"displayName": "Corporate users"}), 201)
    upns = []
    objects = f"{str(admin.base_url).rstrip('/')}/api/directoryObjects"
    for i in range(users):
        upn = f"user{i + 1:02d}@contoso.example"
        user = expect(
            admin.post(
                "/api/users",
                json={"userPrincipalName": upn, "displayName": f"User {i + 1:02d}"},
            ),
            201,
        )
        expect(
            admin.post(
                f"/api/groups/{group['id']}/members/$ref",
                json={"@odata.id": f"{objects}/{user['id']}"},
            ),
            204,
        )
        upns.append(upn)
    connector = expect(
        admin.post(
            "/api/deviceManagement/mobileThreatDefenseConnectors",
            json={
                "windowsEnabled": True,
                "androidEnabled": True,
                "iosEnabled": True,
                "remotePartner": remote_partner,
            },
        ),
        201,
    )
    assignment = {"assignments": [{"target": {"groupId": group["id"]}}]}
    for platform, odata_type in COMPLIANCE_TYPES.items():
        policy = expect(
            admin.post(
                "/api/deviceManagement/deviceCompliancePolicies",
                json={
                    "@odata.type": odata_type,
                    "displayName": f"{platform}: machine risk at or under Medium",
                    "deviceThreatProtectionEnabled": True,
                    "deviceThreatProtectionRequiredSecurityLevel": "medium",
                },
            ),
            201,
        )
        expect(
            admin.post(
                f"/api/deviceManagement/deviceCompliancePolicies/{policy['id']}/assign",
                json=assignment,
            ),
            200,
        )
    assign_profiles(admin, group["id"])
    access = expect(
        admin.post(
            "/api/identity/conditionalAccess/policies",
            json={
                "displayName": "Require a compliant device for corporate apps",
                "state": "enabled",
                "conditions": {
                    "users": {"includeGroups": [group["id"]]},
                    "applications": {"includeApplications": list(CORPORATE_APPS)},
                },
                "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]},
            },
        ),
        201,
    )
    token = expect(
        admin.post("/api/deviceManagement/enrollmentTokens", json={"displayName": "fleet"}), 201
    )
    return Tenant(
        name=tenant_name,
        admin=admin,
        group_id=group["id"],
        enrollment_token=token["token"],
        connector_id=connector["id"],
        access_policy_id=access["id"],
        users=upns,
        partner_credential=connector.get("partnerCredential"),
    )


def assign_profiles(admin: httpx.Client, group_id: str) -> None:
    """Assign every configuration profile (the onboarding profile among them) to the group."""
    assignment = {"assignments": [{"target": {"groupId": group_id}}]}
    configs = expect(admin.get("/api/deviceManagement/deviceConfigurations"), 200)["value"]
    for config in configs:
        expect(
            admin.post(
                f"/api/deviceManagement/deviceConfigurations/{config['id']}/assign",
                json=assignment,
            ),
            200,
        )


def fleet_specs(client: httpx.Client, users: list[str], count: int) -> list[SimulatedDevice]:
    """Half Windows (10 and 11, joined and hybrid-joined), a quarter Android, a quarter iOS."""
    devices = []
    for i in range(count):
        upn = users[i % len(users)]
        kind = i % 4
        if kind in (0, 1):
            version = "10.0.22631" if i % 3 else "10.0.19045"
            join = "hybridAzureADJoined" if i % 5 == 0 else "azureADJoined"
            devices.append(
                SimulatedDevice(client, f"WIN-{i + 1:03d}", "windows", version, upn, join)
            )
        elif kind == 2:
            devices.append(SimulatedDevice(client, f"PIXEL-{i + 1:03d}", "android", "14", upn))
        else:
            devices.append(SimulatedDevice(client, f"IPHONE-{i + 1:03d}", "iOS", "17.5", upn))
    return devices


def bring_up(device: SimulatedDevice, enrollment_token: str) -> None:
    device.enroll(enrollment_token)
    device.check_in()
    device.onboard()
