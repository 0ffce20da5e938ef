"""What the connector's settings do to compliance, as Intune admins know them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from stockade.connector import signing
from stockade.core.clock import FrozenClock
from stockade.sim.device import SimulatedDevice
from stockade.sim.fleet import bring_up, provision
from stockade.sim.scenario import attack_steps

CONNECTORS = "/api/deviceManagement/mobileThreatDefenseConnectors"


def _state(ctx, device: SimulatedDevice) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    d = ctx.client.get(f"/api/deviceManagement/managedDevices/{device.managed_device_id}").json()
    states = d["deviceCompliancePolicyStates"]
    reasons = [
        s["reason"]
        for p in states
        for s in p["settingStates"]
        if s["setting"] == "deviceThreatProtectionRequiredSecurityLevel"
    ]
    return d["complianceState"], " ".join(reasons)


def test_toggle_off_restores_compliance_at_once(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    device = SimulatedDevice(client, "WIN-1", "windows", "11", tenant.users[0], "azureADJoined")
    bring_up(device, tenant.enrollment_token)
    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    assert _state(ctx, device)[0] == "noncompliant", _state(ctx, device)
    ctx.client.patch(f"{CONNECTORS}/{tenant.connector_id}", json={"windowsEnabled": False})
    state, reason = _state(ctx, device)
    assert state == "compliant" and "not evaluated" in reason
    assert device.open_app(tenant.name, "payroll").status_code == 200
    ctx.client.patch(f"{CONNECTORS}/{tenant.connector_id}", json={"windowsEnabled": True})
    assert _state(ctx, device)[0] == "noncompliant", _state(ctx, device)
    ctx.client.delete(f"{CONNECTORS}/{tenant.connector_id}")
    assert _state(ctx, device)[0] == "compliant"


def test_blocked_until_the_partner_reports(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    r = ctx.client.patch(
        f"{CONNECTORS}/{tenant.connector_id}",
        json={"windowsDeviceBlockedOnMissingPartnerData": True},
    )
    assert r.json()["windowsDeviceBlockedOnMissingPartnerData"] is True
    device = SimulatedDevice(client, "WIN-2", "windows", "11", tenant.users[0], "azureADJoined")
    device.enroll(tenant.enrollment_token)
    device.check_in()
    state, reason = _state(ctx, device)
    assert state == "noncompliant" and "missing partner data" in reason
    device.onboard()  # the partner reports the machine (secured)
    assert _state(ctx, device)[0] == "compliant"


def test_unsupported_os_blocked(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    ctx.client.patch(
        f"{CONNECTORS}/{tenant.connector_id}", json={"partnerUnsupportedOsVersionBlocked": True}
    )
    old = SimulatedDevice(
        client, "WIN-OLD", "windows", "10.0.17134", tenant.users[0], "azureADJoined"
    )
    new = SimulatedDevice(
        client, "WIN-NEW", "windows", "10.0.22631", tenant.users[0], "azureADJoined"
    )
    for d in (old, new):
        bring_up(d, tenant.enrollment_token)
    state, reason = _state(ctx, old)
    assert state == "noncompliant" and "does not support this OS" in reason
    assert _state(ctx, new)[0] == "compliant"


def test_unresponsive_partner_is_ignored_until_it_returns(
    make_tenant, client: TestClient, services
) -> None:  # type: ignore[no-untyped-def]
    import time

    import orjson

    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1, remote_partner=True)
    cid, secret = tenant.partner_credential.removeprefix("spk_").split(".", 1)  # type: ignore[union-attr]
    device = SimulatedDevice(client, "WIN-3", "windows", "11", tenant.users[0], "azureADJoined")
    device.enroll(tenant.enrollment_token)

    def call(path: str, payload: object):  # type: ignore[no-untyped-def]
        body = orjson.dumps(payload)
        ts = int(time.time())
        full = "/api/partner/v1" + path
        return client.post(
            full,
            content=body,
            headers={
                signing.PARTNER: cid,
                signing.TIMESTAMP: str(ts),
                signing.SIGNATURE: signing.sign_request(secret, "POST", full, ts, body),
                "Content-Type": "application/json",
            },
        )

    pushed = call(
        "/deviceThreatLevels",
        {
            "value": [
                {
                    "deviceId": device.device_id,
                    "platform": "Windows11",
                    "threatLevel": "high",
                    "sequence": 2,
                }
            ]
        },
    )
    assert pushed.json()["value"][0]["result"] == "applied", pushed.text
    assert _state(ctx, device)[0] == "noncompliant", _state(ctx, device)
    services.connector.clock = FrozenClock(datetime.now(UTC) + timedelta(days=8))
    assert services.connector.mark_unresponsive() == 1
    state, reason = _state(ctx, device)
    assert state == "compliant" and "unresponsive" in reason
    services.connector.clock = FrozenClock(datetime.now(UTC))
    assert call("/heartbeat", {}).status_code == 200  # back: its levels count again
    assert _state(ctx, device)[0] == "noncompliant", _state(ctx, device)
