"""Mobile threat findings through the HTTP API, on each store: the same path to risk,
compliance and access as Sysmon detections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from stockade.sim.device import SimulatedDevice
from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps, mobile_attack_steps

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _world(make_tenant, client: TestClient):  # type: ignore[no-untyped-def]
    """WIN-001 and PIXEL-003 belong to user01; WIN-002 and IPHONE-004 to user02."""
    ctx = make_tenant("contoso")
    tenant = provision(ctx.client, ctx.name, users=2)
    fleet = fleet_specs(client, tenant.users, 4)
    for d in fleet:
        bring_up(d, tenant.enrollment_token)
    return ctx, tenant, {d.name: d for d in fleet}


def _post(device: SimulatedDevice, findings: Any, credential: str | None = None) -> Any:
    return device.client.post(
        "/api/mtd/mobileFindings",
        json={"findings": findings},
        headers={"Authorization": f"Bearer {credential or device.sensor_credential}"},
    )


def test_a_jailbroken_iphone_is_denied_and_restored_after_resolution(
    make_tenant, client: TestClient
) -> None:
    ctx, tenant, fleet = _world(make_tenant, client)
    iphone = fleet["IPHONE-004"]
    phishing, _, jailbreak = mobile_attack_steps(iphone.name, "iOS", T0)
    assert iphone.open_app(tenant.name, "payroll").status_code == 200

    low = iphone.report(phishing.events)
    assert [a["severity"] for a in low["alerts"]] == ["low"]
    assert low["alerts"][0]["detectionSource"] == "mobileThreatDefense"
    assert low["riskScore"] == "Low"
    assert iphone.open_app(tenant.name, "payroll").status_code == 200  # low is within Medium

    high = iphone.report(jailbreak.events)
    assert [(a["title"], a["severity"]) for a in high["alerts"]] == [("Jailbroken device", "high")]
    assert high["riskScore"] == "High"
    device = ctx.client.get(
        f"/api/deviceManagement/managedDevices/{iphone.managed_device_id}"
    ).json()
    assert device["complianceState"] == "noncompliant"
    assert device["deviceThreatLevel"] == "high"
    denied = iphone.open_app(tenant.name, "payroll")
    assert denied.status_code == 403
    assert "Require a compliant device" in denied.json()["detail"]
    assert "Jailbroken device" in {a["title"] for a in denied.json()["details"][0]["alerts"]}
    # the other user's devices keep their access
    assert fleet["WIN-001"].open_app(tenant.name, "payroll").status_code == 200

    (incident,) = ctx.client.get("/api/incidents").json()["value"]
    assert sorted(a["title"] for a in incident["alerts"]) == [
        "Jailbroken device",
        "Phishing site blocked",
    ]
    alert = ctx.client.get(f"/api/alerts/{high['alerts'][0]['id']}").json()
    assert alert["evidence"][0]["findingType"] == "jailbroken"
    assert alert["evidence"][0]["fields"]["findingId"] == f"{iphone.name}-jailbreak-1"

    r = ctx.client.patch(
        f"/api/incidents/{incident['id']}",
        json={"status": "resolved", "classification": "truePositive", "determination": "other"},
    )
    assert r.status_code == 200
    machine = ctx.client.get(f"/api/machines/{iphone.machine_id}").json()
    assert machine["riskScore"] == "None"
    device = ctx.client.get(
        f"/api/deviceManagement/managedDevices/{iphone.managed_device_id}"
    ).json()
    assert (device["complianceState"], device["deviceThreatLevel"]) == ("compliant", "secured")
    assert iphone.open_app(tenant.name, "payroll").status_code == 200


def test_each_kind_of_finding_raises_its_documented_severity(
    make_tenant, client: TestClient
) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    pixel = fleet["PIXEL-003"]
    app = {"packageId": "com.example.app", "sha256": SHA}
    documented = {  # docs/mtd.md, "Mobile findings"
        "rooted": ({}, "high", "Rooted device"),
        "maliciousApp": (app, "high", "Malicious app installed"),
        "maliciousCertificate": (
            {"certificateThumbprint": "a" * 40},
            "high",
            "Malicious certificate trusted",
        ),
        "potentiallyUnwantedApp": (app, "medium", "Potentially unwanted app installed"),
        "rogueWifi": ({"ssid": "Contoso-Guest"}, "medium", "Connected to a rogue Wi-Fi network"),
        "unsupportedOsVersion": (
            {"osVersion": "9", "minimumOsVersion": "12"},
            "medium",
            "Operating system below the supported version",
        ),
        "phishingSiteBlocked": (
            {"url": "http://phish.example/login"},
            "low",
            "Phishing site blocked",
        ),
    }
    for kind, (fields, severity, title) in documented.items():
        r = _post(pixel, [{"findingType": kind, **fields}])
        assert r.status_code == 202, (kind, r.text)
        (alert,) = r.json()["alerts"]
        assert (alert["severity"], alert["title"]) == (severity, title), kind
        assert alert["detectorId"] == f"mobile.{kind}"
    alerts = ctx.client.get(f"/api/machines/{pixel.machine_id}/alerts").json()["value"]
    assert len(alerts) == len(documented)
    # a second malicious app within the window joins the same alert as more evidence
    r = _post(pixel, [{"findingType": "maliciousApp", **app, "packageId": "com.other"}])
    assert r.json()["alerts"][0]["evidenceCount"] == 2
    assert len(ctx.client.get(f"/api/machines/{pixel.machine_id}/alerts").json()["value"]) == 7


def test_bad_findings_reject_the_whole_batch_naming_each_field(
    make_tenant, client: TestClient
) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    pixel = fleet["PIXEL-003"]
    cases: list[tuple[Any, str]] = [
        ([{"findingType": "jailbroken"}], "findings.0.findingType"),  # iOS only
        (
            [{"findingType": "rooted"}, {"findingType": "maliciousApp", "sha256": SHA}],
            "findings.1.packageId",
        ),
        ([{"findingType": "maliciousApp", "packageId": "x", "sha256": "abc"}], "findings.0.sha256"),
        ([{"findingType": "phishingSiteBlocked", "url": "javascript:alert(1)"}], "findings.0.url"),
        ([{"findingType": "phishingSiteBlocked"}], "findings.0.url"),
        ([{"findingType": "rogueWifi"}], "findings.0.ssid"),
        (
            [{"findingType": "maliciousCertificate", "certificateThumbprint": "zz"}],
            "findings.0.certificateThumbprint",
        ),
        ([{"findingType": "unsupportedOsVersion"}], "findings.0.osVersion"),
        ([{"findingType": "meteorStrike"}], "findings.0.findingType"),
        ([{"findingType": "rooted", "color": "red"}], "findings.0.color"),
        ([{"findingType": "rooted", "detectedTime": "yesterday"}], "findings.0.detectedTime"),
        ([], "findings"),
    ]
    for findings, field in cases:
        r = _post(pixel, findings)
        assert r.status_code == 422, (findings, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in r.json()["errors"]}, (field, r.text)
    assert ctx.client.get("/api/alerts").json()["value"] == []  # nothing was stored

    # a Windows sensor sends telemetry, not findings
    r = _post(fleet["WIN-001"], [{"findingType": "rogueWifi", "ssid": "x"}])
    assert r.status_code == 409 and r.json()["osPlatform"].startswith("Windows")
    assert _post(pixel, [{"findingType": "rooted"}], credential="sst_x.y").status_code == 401
    # the classic rule: a device disabled in the directory may not talk to threat defense
    ctx.client.patch(f"/api/devices/{pixel.device_id}", json={"accountEnabled": False})
    assert _post(pixel, [{"findingType": "rooted"}]).status_code == 403


def test_a_redelivered_finding_counts_once(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    pixel = fleet["PIXEL-003"]
    _, app, rooted = mobile_attack_steps(pixel.name, "android", T0)
    first = pixel.report(app.events + rooted.events)
    assert first["accepted"] == 2
    again = pixel.report(app.events + app.events)
    assert (again["accepted"], again["duplicates"], again["alerts"]) == (0, 2, [])
    assert again["riskScore"] == "High"
    for alert in ctx.client.get("/api/alerts").json()["value"]:
        assert alert["evidenceCount"] == 1


def test_the_users_laptop_and_phone_share_one_incident(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    laptop, phone = fleet["WIN-001"], fleet["PIXEL-003"]  # both user01
    laptop.send(attack_steps(laptop.name, T0)[0].events)
    phone.report(mobile_attack_steps(phone.name, "android", T0 + timedelta(hours=2))[2].events)
    fleet["IPHONE-004"].report(mobile_attack_steps("IPHONE-004", "iOS", T0)[2].events)
    incidents = ctx.client.get("/api/incidents").json()["value"]
    assert len(incidents) == 2
    shared = next(i for i in incidents if len(i["devices"]) == 2)
    assert sorted(d["deviceDnsName"] for d in shared["devices"]) == ["PIXEL-003", "WIN-001"]
    assert [u["userPrincipalName"] for u in shared["users"]] == ["user01@contoso.example"]
