"""Threat defense and device management as two deployments, joined by the partner API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from stockade.connector import signing
from stockade.sim.demo import resolve_all
from stockade.sim.device import expect
from stockade.sim.fleet import admin_client, assign_profiles, bring_up, fleet_specs, provision
from stockade.sim.processes import StockadeProcess
from stockade.sim.scenario import attack_steps

pytestmark = pytest.mark.e2e


@pytest.fixture
def deployments(tmp_path: Path) -> Iterator[tuple[StockadeProcess, StockadeProcess]]:
    mtd = StockadeProcess(tmp_path / "mtd")
    mdm = StockadeProcess(tmp_path / "mdm")
    with mtd, mdm:
        yield mtd, mdm


def _signed(url: str, connector_id: str, secret: str, path: str, payload: object) -> httpx.Response:
    body = orjson.dumps(payload)
    ts = int(time.time())
    full = "/api/partner/v1" + path
    return httpx.post(
        url + full,
        content=body,
        headers={
            signing.PARTNER: connector_id,
            signing.TIMESTAMP: str(ts),
            signing.SIGNATURE: signing.sign_request(secret, "POST", full, ts, body),
            "Content-Type": "application/json",
        },
    )


def test_two_deployments_contain_and_restore(deployments) -> None:  # type: ignore[no-untyped-def]
    mtd, mdm = deployments
    mdm_admin = admin_client(mdm.url, mdm.create_tenant("contoso"))
    mtd_admin = admin_client(mtd.url, mtd.create_tenant("contoso-td"))
    tenant = provision(mdm_admin, "contoso", users=1, remote_partner=True)
    assert tenant.partner_credential and tenant.partner_credential.startswith("spk_")

    link = mtd_admin.put(
        "/api/mtd/partnerLink",
        json={"mdmUrl": mdm.url, "credential": tenant.partner_credential},
    )
    assert link.status_code == 200, link.text
    connector = expect(
        mdm_admin.get(f"/api/deviceManagement/mobileThreatDefenseConnectors/{tenant.connector_id}"),
        200,
    )
    assert connector["partnerState"] == "enabled" and connector["remotePartner"] is True
    assign_profiles(mdm_admin, tenant.group_id)

    api = httpx.Client(base_url=mdm.url, timeout=30)
    (device,) = fleet_specs(api, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)  # enrolls at MDM, onboards at MTD
    assert device.profiles[0]["advancedThreatProtectionOnboardingBlob"]["ingestUrl"].startswith(
        mtd.url
    )
    device.client = httpx.Client(base_url=mtd.url, timeout=30)  # its sensor talks to MTD
    assert len(expect(mtd_admin.get("/api/machines"), 200)["value"]) == 1

    def access() -> int:
        return api.get(
            "/access/forward-auth",
            params={"tenant": "contoso", "app": "payroll"},
            headers={
                "X-Forwarded-User": device.user_principal_name,
                "X-Stockade-Device": device.credential,
            },
        ).status_code

    assert access() == 200
    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    managed = expect(
        mdm_admin.get(f"/api/deviceManagement/managedDevices/{device.managed_device_id}"), 200
    )
    assert managed["complianceState"] == "noncompliant" and managed["deviceThreatLevel"] == "high"
    assert access() == 403

    class Td:  # resolve on the threat-defense side, through its own admin API
        admin = mtd_admin

    resolve_all(Td, device)  # type: ignore[arg-type]
    assert access() == 200

    # a stale push never overwrites a newer one; a forged one is refused
    connector_id, secret = tenant.partner_credential.removeprefix("spk_").split(".", 1)
    stale = _signed(
        mdm.url,
        connector_id,
        secret,
        "/deviceThreatLevels",
        {
            "value": [
                {
                    "deviceId": device.device_id,
                    "platform": "Windows11",
                    "threatLevel": "high",
                    "sequence": 1,
                }
            ]
        },
    )
    assert stale.status_code == 200 and stale.json()["value"][0]["result"] == "stale"
    assert access() == 200
    forged = _signed(mdm.url, connector_id, "not-the-secret", "/heartbeat", {})
    assert forged.status_code == 401
    assert signing.SIGNATURE not in {
        k.title() for k in forged.headers
    }  # nothing signed for strangers

    # the classic rule is asked of the deployment holding the directory
    expect(mdm_admin.patch(f"/api/devices/{device.device_id}", json={"accountEnabled": False}), 200)
    refused = device.client.post(
        "/api/mtd/telemetry",
        content=b'{"EventID": 1, "Image": "C:\\\\x.exe"}',
        headers={"Authorization": f"Bearer {device.sensor_credential}"},
    )
    assert refused.status_code == 403 and "classic" in refused.json()["detail"]

    spec = httpx.get(f"{mdm.url}/api/partner/v1/openapi.json").json()
    assert "/deviceThreatLevels" in spec["paths"]
