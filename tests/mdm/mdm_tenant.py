"""A tenant ready for device management tests, driven through the HTTP API (helpers)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from stockade.services import Services

EXPORTS = Path(__file__).resolve().parent / "exports"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def export(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXPORTS / name).read_text())
    return data


@dataclass
class Enrolled:
    id: str
    device_id: str
    credential: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}


@dataclass
class MdmTenant:
    name: str
    admin: TestClient
    device_client: TestClient
    group_id: str
    upn: str
    enrollment_token: str

    def enroll(
        self,
        platform: str = "windows",
        os_version: str = "10.0.22631",
        facts: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Enrolled:
        body: dict[str, Any] = {
            "deviceName": name or f"DEV-{uuid.uuid4().hex[:6]}",
            "platform": platform,
            "osVersion": os_version,
            "userPrincipalName": self.upn,
        }
        if facts is not None:
            body["facts"] = facts
        r = self.device_client.post(
            "/api/enrollment/enroll",
            json=body,
            headers={"Authorization": f"Bearer {self.enrollment_token}"},
        )
        assert r.status_code == 201, r.text
        data = r.json()
        return Enrolled(
            data["managedDevice"]["id"],
            data["managedDevice"]["azureADDeviceId"],
            data["deviceCredential"],
        )

    def check_in(self, device: Enrolled, **body: Any) -> dict[str, Any]:
        r = self.device_client.post("/api/enrollment/checkin", json=body, headers=device.auth)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    def policy(self, body: dict[str, Any], *, assign: bool = True, **params: Any) -> dict[str, Any]:
        r = self.admin.post(
            "/api/deviceManagement/deviceCompliancePolicies", json=body, params=params
        )
        assert r.status_code == 201, r.text
        policy: dict[str, Any] = r.json()
        if assign:
            self.assign(policy["id"])
        return policy

    def assign(self, policy_id: str) -> None:
        r = self.admin.post(
            f"/api/deviceManagement/deviceCompliancePolicies/{policy_id}/assign",
            json={"assignments": [{"target": {"groupId": self.group_id}}]},
        )
        assert r.status_code == 200, r.text

    def open_app(self, device: Enrolled, app: str = "payroll") -> int:
        """What forward auth answers when the device's user opens `app`."""
        r = self.device_client.get(
            "/access/forward-auth",
            params={"tenant": self.name, "app": app},
            headers={"X-Forwarded-User": self.upn, "X-Stockade-Device": device.credential},
        )
        return r.status_code

    def require_compliant_device(self, app: str = "payroll") -> None:
        r = self.admin.post(
            "/api/identity/conditionalAccess/policies",
            json={
                "displayName": "Require a compliant device",
                "state": "enabled",
                "conditions": {
                    "users": {"includeGroups": [self.group_id]},
                    "applications": {"includeApplications": [app]},
                },
                "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]},
            },
        )
        assert r.status_code == 201, r.text

    def device(self, device: Enrolled) -> dict[str, Any]:
        r = self.admin.get(f"/api/deviceManagement/managedDevices/{device.id}")
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result


def make_mdm_tenant(services: Services, app: Any) -> MdmTenant:
    tenant, issued = services.directory.create_tenant(f"t-{uuid.uuid4().hex[:8]}")
    admin = TestClient(
        app, client=("127.0.0.1", 50001), headers={"Authorization": f"Bearer {issued.credential}"}
    )
    upn = "alex@contoso.example"
    user = admin.post("/api/users", json={"userPrincipalName": upn}).json()
    group = admin.post("/api/groups", json={"displayName": "Corporate users"}).json()
    r = admin.post(f"/api/groups/{group['id']}/members/$ref", json={"@odata.id": user["id"]})
    assert r.status_code == 204, r.text
    token = admin.post("/api/deviceManagement/enrollmentTokens", json={"displayName": "t"}).json()
    return MdmTenant(
        tenant.name,
        admin,
        TestClient(app, client=("127.0.0.1", 50003)),
        group["id"],
        upn,
        token["token"],
    )
