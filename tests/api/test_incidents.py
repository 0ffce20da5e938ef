"""Windowed alerts, incidents and triage through the HTTP API, on each store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from stockade.sim.device import SimulatedDevice
from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _world(make_tenant, client: TestClient, users: int = 2, devices: int = 5):  # type: ignore[no-untyped-def]
    """Devices go round-robin over users: WIN-001, PIXEL-003 and WIN-005 belong to user01,
    WIN-002 and IPHONE-004 to user02."""
    ctx = make_tenant("contoso")
    tenant = provision(ctx.client, ctx.name, users=users)
    fleet = fleet_specs(client, tenant.users, devices)
    for d in fleet:
        bring_up(d, tenant.enrollment_token)
    return ctx, tenant, {d.name: d for d in fleet}


def _incidents(ctx: Any, **params: str) -> list[dict[str, Any]]:
    r = ctx.client.get("/api/incidents", params=params)
    assert r.status_code == 200, r.text
    return r.json()["value"]  # type: ignore[no-any-return]


def _step(device: SimulatedDevice, number: int, at: datetime) -> dict[str, Any]:
    return device.send(attack_steps(device.name, at)[number].events)


def test_the_seed_chain_is_one_incident_and_resolving_it_restores_access(
    make_tenant, client: TestClient
) -> None:
    ctx, tenant, fleet = _world(make_tenant, client)
    victim = fleet["WIN-001"]
    for n, step in enumerate(attack_steps(victim.name, T0)):
        victim.send(step.events)
        assert len(_incidents(ctx)) == 1, f"after step {n + 1}"
    (incident,) = _incidents(ctx)
    assert incident["status"] == "active"
    assert incident["severity"] == "high"
    assert len(incident["alerts"]) == 4
    assert {a["incidentId"] for a in incident["alerts"]} == {incident["incidentId"]}
    assert incident["incidentName"].startswith("Multi-stage incident involving")
    assert "Execution" in incident["incidentName"]
    assert [d["deviceDnsName"] for d in incident["devices"]] == ["WIN-001"]
    assert [u["userPrincipalName"] for u in incident["users"]] == ["user01@contoso.example"]
    assert victim.open_app(tenant.name, "payroll").status_code == 403

    r = ctx.client.patch(
        f"/api/incidents/{incident['id']}",
        json={
            "status": "resolved",
            "classification": "truePositive",
            "determination": "multiStagedAttack",
            "assignedTo": "secops@contoso.example",
        },
    )
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["status"] == "resolved"
    assert {a["status"] for a in resolved["alerts"]} == {"resolved"}
    assert {a["classification"] for a in resolved["alerts"]} == {"truePositive"}
    assert {a["determination"] for a in resolved["alerts"]} == {"multiStagedAttack"}
    assert {a["assignedTo"] for a in resolved["alerts"]} == {"secops@contoso.example"}
    assert resolved["devices"][0]["riskScore"] == "None"
    device = ctx.client.get(
        f"/api/deviceManagement/managedDevices/{victim.managed_device_id}"
    ).json()
    assert device["complianceState"] == "compliant"
    assert victim.open_app(tenant.name, "payroll").status_code == 200
    assert _incidents(ctx, status="active") == []
    assert [i["id"] for i in _incidents(ctx, status="resolved")] == [incident["id"]]

    # reopening the incident reopens its alerts, and the device loses access again
    r = ctx.client.patch(f"/api/incidents/{incident['id']}", json={"status": "active"})
    assert r.status_code == 200
    assert {a["status"] for a in r.json()["alerts"]} == {"new"}
    assert victim.open_app(tenant.name, "payroll").status_code == 403


def test_matches_within_the_window_update_one_alert_and_later_ones_raise_another(
    make_tenant, client: TestClient
) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    victim = fleet["WIN-001"]
    first = _step(victim, 0, T0)["alerts"][0]
    again = _step(victim, 0, T0 + timedelta(hours=23))["alerts"][0]
    assert again["id"] == first["id"]
    assert again["evidenceCount"] == 2
    # the window slides with the alert's last event: 23 h after the second match still joins
    assert _step(victim, 0, T0 + timedelta(hours=46))["alerts"][0]["id"] == first["id"]
    # an event older than the alert but within the window joins it too (late batches)
    assert _step(victim, 0, T0 - timedelta(hours=2))["alerts"][0]["id"] == first["id"]
    alert = ctx.client.get(f"/api/alerts/{first['id']}").json()
    assert alert["evidenceCount"] == 4
    assert alert["firstEventTime"].startswith("2026-11-20T07:00")
    assert alert["lastEventTime"].startswith("2026-11-22T07:00")

    later = _step(victim, 0, T0 + timedelta(hours=46 + 25))["alerts"][0]
    assert later["id"] != first["id"]
    assert later["evidenceCount"] == 1
    # the older alert keeps its evidence and status; each sits in its own incident
    assert ctx.client.get(f"/api/alerts/{first['id']}").json()["status"] == "new"
    assert later["incidentId"] != first["incidentId"]
    assert len(_incidents(ctx)) == 2


def test_a_resolved_alert_takes_no_new_evidence(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    victim = fleet["WIN-001"]
    first = _step(victim, 0, T0)["alerts"][0]
    ctx.client.patch(f"/api/alerts/{first['id']}", json={"status": "resolved"})
    (incident,) = _incidents(ctx)
    assert incident["status"] == "resolved"  # its only alert was resolved
    result = _step(victim, 0, T0)
    assert result["alerts"][0]["id"] != first["id"]
    assert result["riskScore"] == "High"
    assert ctx.client.get(f"/api/alerts/{first['id']}").json()["evidenceCount"] == 1
    assert len(_incidents(ctx, status="active")) == 1


def test_incidents_join_the_devices_of_one_user_not_of_another(
    make_tenant, client: TestClient
) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    _step(fleet["WIN-001"], 0, T0)
    _step(fleet["WIN-005"], 3, T0 + timedelta(hours=3))  # user01 again, another laptop
    _step(fleet["WIN-002"], 1, T0 + timedelta(hours=1))  # user02
    incidents = _incidents(ctx)
    assert len(incidents) == 2
    joined = next(i for i in incidents if len(i["alerts"]) == 2)
    assert sorted(d["deviceDnsName"] for d in joined["devices"]) == ["WIN-001", "WIN-005"]
    assert [u["userPrincipalName"] for u in joined["users"]] == ["user01@contoso.example"]
    assert "2 endpoints" in joined["incidentName"]
    alone = next(i for i in incidents if i is not joined)
    assert [d["deviceDnsName"] for d in alone["devices"]] == ["WIN-002"]
    # beyond the incident window the same user's next device starts a new incident
    _step(fleet["WIN-005"], 1, T0 + timedelta(hours=3 + 25))
    assert len(_incidents(ctx)) == 3


def test_an_alert_fitting_two_incidents_merges_them(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    victim = fleet["WIN-001"]
    early = _step(victim, 0, T0)["alerts"][0]
    late = _step(victim, 1, T0 + timedelta(hours=30))["alerts"][0]
    assert early["incidentId"] != late["incidentId"]
    # events from between the two arrive late: they fit both incidents
    bridge = _step(victim, 2, T0 + timedelta(hours=15))["alerts"][0]
    assert bridge["incidentId"] == early["incidentId"]  # the older incident survives
    survivors = _incidents(ctx, status="active")
    assert len(survivors) == 1 and len(survivors[0]["alerts"]) == 3
    redirected = ctx.client.get(f"/api/incidents/{late['incidentId']}").json()
    assert redirected["status"] == "redirected"
    assert redirected["redirectIncidentId"] == early["incidentId"]
    assert redirected["alerts"] == []
    r = ctx.client.patch(f"/api/incidents/{late['incidentId']}", json={"status": "resolved"})
    assert r.status_code == 409
    assert r.json()["redirectIncidentId"] == early["incidentId"]


def test_alert_triage_follows_defender_names_and_rules(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    victim = fleet["WIN-001"]
    alert_id = _step(victim, 0, T0)["alerts"][0]["id"]
    url = f"/api/alerts/{alert_id}"
    patch = ctx.client.patch

    r = patch(url, json={"status": "inProgress", "assignedTo": "alex@contoso.example"})
    assert r.status_code == 200
    assert r.json()["status"] == "inProgress" and r.json()["assignedTo"] == "alex@contoso.example"
    machine = ctx.client.get(f"/api/machines/{victim.machine_id}").json()
    assert machine["riskScore"] == "High"  # inProgress is still active

    r = patch(url, json={"comment": "user confirms the invoice came by mail"})
    assert r.status_code == 200
    (comment,) = r.json()["comments"]
    assert comment["comment"] == "user confirms the invoice came by mail"
    assert comment["createdBy"] and comment["createdTime"]

    r = patch(url, json={"classification": "truePositive", "determination": "malware"})
    assert (r.json()["classification"], r.json()["determination"]) == ("truePositive", "malware")
    # a new classification that no longer fits the determination clears it
    r = patch(url, json={"classification": "falsePositive"})
    assert (r.json()["classification"], r.json()["determination"]) == ("falsePositive", None)
    r = patch(url, json={"assignedTo": None})
    assert r.status_code == 200 and r.json()["assignedTo"] is None

    for body, field in [
        ({"status": "closed"}, "status"),
        ({"classification": "benign"}, "classification"),
        ({"determination": "aliens"}, "determination"),
        ({"classification": "falsePositive", "determination": "malware"}, "determination"),
        ({"severity": "low"}, "severity"),
        ({"comment": ""}, "comment"),
        ({}, "(body)"),
    ]:
        r = patch(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in r.text, (body, r.text)
    # nothing of the refused requests stuck
    after = ctx.client.get(url).json()
    assert after["classification"] == "falsePositive" and after["status"] == "inProgress"
    assert len(after["comments"]) == 1

    r = patch(url, json={"status": "resolved"})
    assert r.json()["resolvedTime"] is not None
    assert ctx.client.get(f"/api/machines/{victim.machine_id}").json()["riskScore"] == "None"
    # reopening the alert reactivates its incident
    r = patch(url, json={"status": "new"})
    assert r.json()["resolvedTime"] is None
    assert _incidents(ctx)[0]["status"] == "active"


def test_incident_patch_and_filters(make_tenant, client: TestClient) -> None:
    ctx, _, fleet = _world(make_tenant, client)
    _step(fleet["WIN-001"], 0, T0)
    _step(fleet["WIN-002"], 0, T0)
    a, b = _incidents(ctx)
    # "active" on an active incident keeps an alert already triaged as resolved
    _step(fleet["WIN-001"], 1, T0)
    a = next(i for i in _incidents(ctx) if len(i["alerts"]) == 2)
    fp = a["alerts"][0]["id"]
    ctx.client.patch(f"/api/alerts/{fp}", json={"status": "resolved"})
    r = ctx.client.patch(f"/api/incidents/{a['id']}", json={"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert ctx.client.get(f"/api/alerts/{fp}").json()["status"] == "resolved"
    r = ctx.client.patch(f"/api/incidents/{a['id']}", json={"assignedTo": "sam@contoso.example"})
    assert r.status_code == 200
    assert [i["id"] for i in _incidents(ctx, assignedTo="sam@contoso.example")] == [a["id"]]
    assert len(_incidents(ctx, severity="high")) == 2
    assert _incidents(ctx, severity="low") == []
    assert len(_incidents(ctx, **{"$top": "1"})) == 1
    assert [i["id"] for i in _incidents(ctx, **{"$top": "1", "$skip": "1"})] != [
        i["id"] for i in _incidents(ctx, **{"$top": "1"})
    ]
    for body, field in [
        ({"status": "redirected"}, "status"),
        ({"status": "inProgress"}, "status"),
        ({"determination": "malware"}, "determination"),
        ({"comment": "x"}, "comment"),
    ]:
        r = ctx.client.patch(f"/api/incidents/{b['id']}", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text
    assert ctx.client.get("/api/incidents", params={"status": "open"}).status_code == 422
    assert ctx.client.get("/api/incidents/nope").status_code == 404
