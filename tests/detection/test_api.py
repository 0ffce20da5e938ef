"""Detection rules per tenant over HTTP, and the live ingest using the tenant's rule set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from stockade.sim.fleet import bring_up, fleet_specs, provision
from stockade.sim.scenario import attack_steps

RULES = "/api/security/rules/detectionRules"
OWN_RULE = """title: Contoso canary tool
id: 9a1c6f3e-2b7d-4e8a-9c0f-1d2e3f4a5b6c
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        CommandLine|contains: 'contoso-canary'
    condition: sel
level: high
tags:
    - attack.execution
    - attack.t1204.002
"""


def canary_event(computer: str) -> dict[str, Any]:
    step = attack_steps(computer, datetime.now(UTC))[0]
    return {
        **step.events[0],
        "Image": "C:\\Tools\\tool.exe",
        "OriginalFileName": "tool.exe",
        "CommandLine": "tool.exe --contoso-canary",
        "ParentImage": "C:\\Windows\\explorer.exe",
        "ParentCommandLine": "C:\\Windows\\Explorer.EXE",
    }


def test_catalogue_and_own_rules(make_tenant: Any) -> None:
    ctx = make_tenant("contoso")

    created = ctx.client.post(RULES, json={"queryCondition": {"queryText": OWN_RULE}})
    listed = ctx.client.get(RULES).json()["value"]

    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["displayName"] == "Contoso canary tool"
    assert rule["severity"] == "high"
    assert rule["source"] == "custom"
    assert rule["mitreTechniques"] == ["T1204.002"]
    assert rule["isEnabled"] is True
    assert {r["source"] for r in listed} == {"catalogue", "custom"}
    assert ctx.client.get(f"{RULES}/{rule['id']}").json()["queryCondition"]["queryText"] == (
        OWN_RULE
    )
    # the same id again, or a catalogue rule's id
    assert ctx.client.post(RULES, json={"queryCondition": {"queryText": OWN_RULE}}).status_code == (
        409
    )


def test_bad_rules_are_refused_naming_the_field(make_tenant: Any) -> None:
    ctx = make_tenant("contoso")

    broken = ctx.client.post(RULES, json={"queryCondition": {"queryText": "title: [\n"}})
    no_body = ctx.client.post(RULES, json={"isEnabled": True})

    assert broken.status_code == 400
    assert broken.json()["errors"][0]["field"] == "queryCondition.queryText"
    assert broken.json()["errors"][0]["line"] == 2
    assert no_body.status_code == 422
    assert "queryCondition" in no_body.text


def test_catalogue_rules_can_be_disabled_not_deleted(make_tenant: Any) -> None:
    ctx = make_tenant("contoso")
    builtin = next(r for r in ctx.client.get(RULES).json()["value"] if r["source"] == "catalogue")

    off = ctx.client.patch(f"{RULES}/{builtin['id']}", json={"isEnabled": False})
    gone = ctx.client.delete(f"{RULES}/{builtin['id']}")

    assert off.status_code == 200 and off.json()["isEnabled"] is False
    assert gone.status_code == 409
    assert ctx.client.get(f"{RULES}/{builtin['id']}").json()["isEnabled"] is False
    assert ctx.client.get(f"{RULES}/no-such-rule").status_code == 404


def test_live_ingest_uses_the_tenants_rule_set(make_tenant: Any, client: TestClient) -> None:
    ctx = make_tenant("contoso")
    tenant = provision(ctx.client, ctx.name, users=1)
    (device,) = fleet_specs(client, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)
    other = make_tenant("fabrikam")
    other_tenant = provision(other.client, other.name, users=1)
    (other_device,) = fleet_specs(client, other_tenant.users, 1)
    bring_up(other_device, other_tenant.enrollment_token)

    def alert_titles(ctx: Any) -> list[str]:
        return sorted(a["title"] for a in ctx.client.get("/api/alerts").json()["value"])

    device.send([canary_event(device.name)])
    assert "Contoso canary tool" not in alert_titles(ctx)

    rule_id = ctx.client.post(RULES, json={"queryCondition": {"queryText": OWN_RULE}}).json()["id"]
    device.send([canary_event(device.name)])
    other_device.send([canary_event(other_device.name)])
    assert "Contoso canary tool" in alert_titles(ctx)
    assert "Contoso canary tool" not in alert_titles(other)  # the rule is contoso's only

    # a disabled catalogue rule raises nothing any more, for this tenant only
    shell_rule = "Office Application Spawns A Shell Or Script Host"
    builtin = next(
        r for r in ctx.client.get(RULES).json()["value"] if r["displayName"] == shell_rule
    )
    ctx.client.patch(f"{RULES}/{builtin['id']}", json={"isEnabled": False})
    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    other_device.send(attack_steps(other_device.name, datetime.now(UTC))[0].events)
    assert shell_rule not in alert_titles(ctx)
    assert shell_rule in alert_titles(other)

    assert ctx.client.delete(f"{RULES}/{rule_id}").status_code == 204
    assert ctx.client.get(f"{RULES}/{rule_id}").status_code == 404


def test_rule_directories_join_the_catalogue(tmp_path: Any) -> None:
    from stockade.services import Services
    from stockade.settings import Settings

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "canary.yml").write_text(OWN_RULE, "utf-8")
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}", rule_dirs=str(rules)
    )

    services = Services.build(settings)
    try:
        titles = {r.info.title for r in services.detection.catalogue.rules}
        assert "Contoso canary tool" in titles
        assert "Office Application Spawns A Shell Or Script Host" in titles
        assert (tmp_path / "rule-cache").is_dir()
    finally:
        services.close()
