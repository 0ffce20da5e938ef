"""The partner API in process: authentication, push outcomes, partner states."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
from fastapi.testclient import TestClient

from stockade.connector import signing
from stockade.core.clock import FrozenClock
from stockade.sim.fleet import fleet_specs, provision

CONNECTORS = "/api/deviceManagement/mobileThreatDefenseConnectors"


def _call(
    client: TestClient,
    cid: str,
    secret: str,
    path: str,
    payload: object,
    *,
    ts: int | None = None,
    method: str = "POST",
):  # type: ignore[no-untyped-def]
    body = orjson.dumps(payload)
    ts = int(time.time()) if ts is None else ts
    full = "/api/partner/v1" + path
    return client.request(
        method,
        full,
        content=body,
        headers={
            signing.PARTNER: cid,
            signing.TIMESTAMP: str(ts),
            signing.SIGNATURE: signing.sign_request(secret, method, full, ts, body),
            "Content-Type": "application/json",
        },
    )


def test_partner_requests_are_authenticated_and_answers_signed(
    make_tenant, client: TestClient
) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1, remote_partner=True)
    cid, secret = tenant.partner_credential.removeprefix("spk_").split(".", 1)  # type: ignore[union-attr]
    ok = _call(client, cid, secret, "/heartbeat", {})
    assert ok.status_code == 200 and ok.json()["partnerState"] == "enabled"
    expected = signing.sign_response(secret, 200, int(ok.headers[signing.TIMESTAMP]), ok.content)
    assert ok.headers[signing.SIGNATURE] == expected
    assert _call(client, cid, "wrong", "/heartbeat", {}).status_code == 401
    assert _call(client, "no-such-partner", secret, "/heartbeat", {}).status_code == 401
    old = _call(client, cid, secret, "/heartbeat", {}, ts=int(time.time()) - 3600)
    assert old.status_code == 401 and "timestamp" in old.json()["detail"]
    assert client.post("/api/partner/v1/heartbeat").status_code == 401
    # a built-in connector has no partner credential: its id is not a partner
    local = make_tenant()
    local.client.post(CONNECTORS, json={"windowsEnabled": True})
    assert (
        _call(client, "5b0f9d5e-6a3c-4d3f-9c2e-57a4c4e0d1a7", secret, "/heartbeat", {}).status_code
        == 401
    )


def test_push_outcomes(make_tenant, client: TestClient) -> None:
    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1, remote_partner=True)
    cid, secret = tenant.partner_credential.removeprefix("spk_").split(".", 1)  # type: ignore[union-attr]
    ctx.client.patch(f"{CONNECTORS}/{cid}", json={"iosEnabled": False})
    devices = fleet_specs(client, tenant.users, 4)  # windows, windows, android, iOS
    for d in devices:
        d.enroll(tenant.enrollment_token)
    win, ios = devices[0], devices[3]
    push = [
        {"deviceId": win.device_id, "platform": "Windows11", "threatLevel": "high", "sequence": 5},
        {"deviceId": ios.device_id, "platform": "iOS", "threatLevel": "high", "sequence": 5},
        {
            "deviceId": "00000000-0000-0000-0000-000000000000",
            "platform": "Windows10",
            "threatLevel": "low",
            "sequence": 1,
        },
    ]
    r = _call(client, cid, secret, "/deviceThreatLevels", {"value": push})
    assert [x["result"] for x in r.json()["value"]] == [
        "applied",
        "platformDisabled",
        "unknownDevice",
    ]
    again = _call(
        client,
        cid,
        secret,
        "/deviceThreatLevels",
        {"value": [{**push[0], "threatLevel": "secured", "sequence": 4}]},
    )
    assert again.json()["value"][0]["result"] == "stale"
    device = ctx.client.get(f"/api/deviceManagement/managedDevices/{win.managed_device_id}").json()
    assert device["deviceThreatLevel"] == "high" and device["complianceState"] == "noncompliant"
    bad = _call(
        client,
        cid,
        secret,
        "/deviceThreatLevels",
        {"value": [{**push[0], "threatLevel": "severe"}]},
    )
    assert bad.status_code == 422 and "threatLevel" in bad.json()["detail"]


def test_one_partner_per_platform(make_tenant) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    assert ctx.client.post(CONNECTORS, json={"windowsEnabled": True}).status_code == 201
    r = ctx.client.post(CONNECTORS, json={"windowsEnabled": True, "remotePartner": True})
    assert r.status_code == 409 and "windows_enabled" in r.json()["detail"]
    r = ctx.client.post(CONNECTORS, json={"androidEnabled": True, "remotePartner": True})
    assert r.status_code == 201 and r.json()["partnerCredential"].startswith("spk_")
    assert ctx.client.post(CONNECTORS, json={}).status_code == 409  # one built-in connector


def test_silent_partner_becomes_unresponsive(make_tenant, services) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    r = ctx.client.post(
        CONNECTORS,
        json={
            "windowsEnabled": True,
            "remotePartner": True,
            "partnerUnresponsivenessThresholdInDays": 2,
        },
    )
    cid = r.json()["id"]
    assert services.connector.mark_unresponsive() == 0
    services.connector.clock = FrozenClock(datetime.now(UTC) + timedelta(days=3))
    assert services.connector.mark_unresponsive() == 1
    assert ctx.client.get(f"{CONNECTORS}/{cid}").json()["partnerState"] == "unresponsive"
    assert services.connector.mark_unresponsive() == 0  # once


def test_link_needs_a_partner_credential_and_a_reachable_partner(make_tenant) -> None:  # type: ignore[no-untyped-def]
    ctx = make_tenant()
    r = ctx.client.put(
        "/api/mtd/partnerLink", json={"mdmUrl": "http://127.0.0.1:9", "credential": "sat_abc.def"}
    )
    assert r.status_code == 422 and r.json()["field"] == "credential"
    r = ctx.client.put(
        "/api/mtd/partnerLink", json={"mdmUrl": "http://127.0.0.1:9", "credential": "spk_abc.def"}
    )
    assert r.status_code == 422 and "refused the link" in r.json()["detail"]
    assert ctx.client.get("/api/mtd/partnerLink").status_code == 404


def test_concurrent_pushes_keep_the_newest(make_tenant, client: TestClient, services) -> None:  # type: ignore[no-untyped-def]
    import random
    from concurrent.futures import ThreadPoolExecutor

    from stockade.core.model import ThreatLevel

    ctx = make_tenant()
    tenant = provision(ctx.client, ctx.name, users=1)
    (device,) = fleet_specs(client, tenant.users, 1)
    device.enroll(tenant.enrollment_token)
    levels = [ThreatLevel.LOW, ThreatLevel.MEDIUM, ThreatLevel.SECURED, ThreatLevel.HIGH]
    pushes = [(seq, levels[seq % 4]) for seq in range(10, 50)]
    random.Random(3).shuffle(pushes)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda p: services.mdm.apply_threat_level(ctx.id, device.device_id, p[1], p[0]),
                pushes,
            )
        )
    d = ctx.client.get(f"/api/deviceManagement/managedDevices/{device.managed_device_id}").json()
    assert d["deviceThreatLevel"] == levels[49 % 4].value  # the push with the highest sequence
