"""Actions for noncompliance over HTTP: grace periods that access honours, e-mail through a real
SMTP server, pushes and locks queued for the device, the retire list; timers that survive a
restart and fire once; admin device actions that are audited and revoke the device."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mdm_tenant import MdmTenant, make_mdm_tenant

from conftest import SmtpSink
from stockade.core.clock import FrozenClock
from stockade.http.app import create_app
from stockade.services import Services

WINDOWS = "#microsoft.graph.windows10CompliancePolicy"


def _firewall_policy(template_id: str | None = None) -> dict[str, Any]:
    def action(kind: str, hours: int, **extra: Any) -> dict[str, Any]:
        return {"actionType": kind, "gracePeriodHours": hours, **extra}

    return {
        "@odata.type": WINDOWS,
        "displayName": "Firewall on",
        "activeFirewallRequired": True,
        "scheduledActionsForRule": [
            {
                "ruleName": "PasswordRequired",
                "scheduledActionConfigurations": [
                    action("block", 24),
                    action(
                        "notification",
                        0,
                        notificationTemplateId=template_id or "",
                        notificationMessageCCList=["helpdesk@contoso.example"],
                    ),
                    action("pushNotification", 2),
                    action("remoteLock", 30),
                    action("retire", 48),
                ],
            }
        ],
    }


def _actions(mdm: MdmTenant, device: Any) -> list[str]:
    return [a["actionName"] for a in mdm.check_in(device)["deviceActions"]]


def test_grace_email_push_lock_and_retire_list(
    mailing_mdm: tuple[MdmTenant, Services], smtp_sink: tuple[SmtpSink, int], clock: FrozenClock
) -> None:
    mdm, services = mailing_mdm
    sink, _ = smtp_sink
    template = mdm.admin.post(
        "/api/deviceManagement/notificationMessageTemplates",
        json={
            "displayName": "Noncompliance",
            "defaultLocale": "en-us",
            "localizedNotificationMessages": [
                {
                    "locale": "en-us",
                    "subject": "{{DeviceName}} is not compliant",
                    "messageTemplate": "Hi {{UserName}}, fix {{PolicyName}}:\n{{Reasons}}",
                    "isDefault": True,
                }
            ],
        },
    ).json()
    mdm.policy(_firewall_policy(template["id"]))
    mdm.require_compliant_device()
    device = mdm.enroll(facts={"firewallEnabled": True}, name="WIN-042")
    assert mdm.open_app(device) == 200

    # the firewall goes off: in grace (access still allowed), e-mail sent at once
    mdm.check_in(device, facts={"firewallEnabled": False})
    assert mdm.device(device)["complianceState"] == "inGracePeriod"
    assert mdm.open_app(device) == 200
    (mail,) = sink.messages
    assert mail["Subject"] == "WIN-042 is not compliant"
    assert "Hi alex@contoso.example, fix Firewall on" in mail.get_content()
    assert "activeFirewallRequired" in mail.get_content()
    assert sink.recipients[0] == ["alex@contoso.example", "helpdesk@contoso.example"]
    assert services.mdm.run_due_actions() == 0  # nothing else due yet

    clock.at += timedelta(hours=2)
    assert services.mdm.run_due_actions() == 1
    assert _actions(mdm, device) == ["pushNotification"]
    assert _actions(mdm, device) == []  # delivered once

    clock.at += timedelta(hours=22)  # the grace period ends
    assert services.mdm.run_due_actions() == 1
    view = mdm.device(device)
    assert view["complianceState"] == "noncompliant"
    assert mdm.open_app(device) == 403
    clock.at += timedelta(hours=6)
    services.mdm.run_due_actions()
    assert _actions(mdm, device) == ["remoteLock"]
    clock.at += timedelta(hours=18)
    services.mdm.run_due_actions()
    retire = mdm.admin.get("/api/deviceManagement/retireNoncompliantDevices").json()
    assert [d["managedDeviceId"] for d in retire["value"]] == [device.id]
    assert len(sink.messages) == 1  # each action fired once


def test_compliant_again_cancels_pending_actions(mdm: MdmTenant, clock: FrozenClock) -> None:
    mdm.policy(_firewall_policy())
    device = mdm.enroll(facts={"firewallEnabled": False})
    assert mdm.device(device)["complianceState"] == "inGracePeriod"
    mdm.check_in(device, facts={"firewallEnabled": True})
    clock.at += timedelta(days=3)
    mdm.check_in(device)
    view = mdm.device(device)
    assert view["complianceState"] == "compliant"
    assert view["deviceActionResults"] == []
    # a new episode starts its own grace period
    mdm.check_in(device, facts={"firewallEnabled": False})
    assert mdm.device(device)["complianceState"] == "inGracePeriod"


def test_timers_survive_a_restart_and_fire_once(
    frozen_services: Services, clock: FrozenClock
) -> None:
    mdm = make_mdm_tenant(frozen_services, create_app(frozen_services))
    mdm.policy(_firewall_policy())
    device = mdm.enroll(facts={"firewallEnabled": False})
    frozen_services.close()  # the server stops with every timer pending

    clock.at += timedelta(days=3)
    restarted = [Services.build(frozen_services.settings, clock=clock) for _ in range(2)]
    try:
        fired = [s.mdm.run_due_actions() for s in restarted]
        # push, lock, retire and the end of grace: once each, whichever process ran first
        assert fired[0] >= 1 and fired[1] == 0
        assert restarted[0].mdm.run_due_actions() == 0
        names = [c.action_name for c in restarted[1].mdm.device_commands_for(device.id)]
        assert sorted(names) == ["pushNotification", "remoteLock"]
        tenant_id = restarted[1].mdm.device_tenant(device.id)
        assert [d.id for d, _, _ in restarted[1].mdm.retire_list(tenant_id)] == [device.id]
        state = restarted[1].mdm.get_device(tenant_id, device.id).compliance_state
        assert state == "noncompliant"
    finally:
        for s in restarted:
            s.close()


def test_retire_and_wipe_are_audited_and_revoke_the_device(mdm: MdmTenant) -> None:
    device = mdm.enroll()
    other = mdm.enroll()
    base = "/api/deviceManagement/managedDevices"
    reader = mdm.admin.post("/api/apiTokens", json={"name": "r", "role": "GlobalReader"}).json()
    r = mdm.device_client.post(
        f"{base}/{device.id}/retire", headers={"Authorization": f"Bearer {reader['token']}"}
    )
    assert r.status_code == 403 and "mdm:device:retire" in r.json()["detail"]

    assert mdm.admin.post(f"{base}/{device.id}/remoteLock").status_code == 204
    assert mdm.admin.post(f"{base}/{device.id}/retire").status_code == 204
    assert mdm.admin.post(f"{base}/{other.id}/wipe").status_code == 204
    assert mdm.device(device)["managementState"] == "retirePending"
    audit = mdm.admin.get("/api/deviceManagement/auditEvents").json()["value"]
    assert [(e["activity"], e["resources"][0]["resourceId"]) for e in audit] == [
        ("remoteLock", device.id),
        ("retire", device.id),
        ("wipe", other.id),
    ]
    assert audit[1]["actor"]["userRoles"] == ["GlobalAdministrator"]

    # the device receives the retire at its next check-in, then its credential stops working
    assert _actions(mdm, device) == ["remoteLock", "retire"]
    assert mdm.device(device)["managementState"] == "retireIssued"
    r = mdm.device_client.post("/api/enrollment/checkin", json={}, headers=device.auth)
    assert r.status_code == 401 and "retired" in r.json()["detail"]
    assert _actions(mdm, other) == ["wipe"]
    r = mdm.device_client.post("/api/enrollment/checkin", json={}, headers=other.auth)
    assert r.status_code == 401 and "wiped" in r.json()["detail"]
    assert mdm.admin.post(f"{base}/{device.id}/retire").status_code == 409
