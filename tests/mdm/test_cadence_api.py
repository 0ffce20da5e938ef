"""Check-in cadence, sync now through the agent's open wait, and re-evaluation on each change."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from mdm_tenant import START, MdmTenant

from stockade.core.clock import FrozenClock
from stockade.mdm.cadence import next_check_in_seconds
from stockade.services import Services

WINDOWS = "#microsoft.graph.windows10CompliancePolicy"


@pytest.mark.parametrize(
    ("age", "seconds"),
    [
        (timedelta(0), 180),
        (timedelta(minutes=14, seconds=59), 180),
        (timedelta(minutes=15), 900),
        (timedelta(hours=2, minutes=14), 900),
        (timedelta(hours=2, minutes=15), 8 * 3600),
        (timedelta(days=40), 8 * 3600),
    ],
)
def test_cadence_is_fast_after_enrollment(age: timedelta, seconds: int) -> None:
    assert next_check_in_seconds(START, START + age) == seconds


def test_check_in_tells_the_device_when_to_come_back(mdm: MdmTenant, clock: FrozenClock) -> None:
    device = mdm.enroll()
    assert mdm.check_in(device)["nextCheckInSeconds"] == 180
    clock.at += timedelta(hours=1)
    assert mdm.check_in(device)["nextCheckInSeconds"] == 900
    clock.at += timedelta(hours=2)
    assert mdm.check_in(device)["nextCheckInSeconds"] == 8 * 3600


def test_sync_now_wakes_the_waiting_device(mdm: MdmTenant) -> None:
    device = mdm.enroll()
    wait = "/api/enrollment/deviceActions/wait"
    r = mdm.device_client.get(wait, params={"waitSeconds": 0}, headers=device.auth)
    assert r.json() == {"pendingActionCount": 0, "checkInNow": False}

    def later() -> None:
        time.sleep(0.4)
        mdm.admin.post(f"/api/deviceManagement/managedDevices/{device.id}/syncDevice")

    started = time.monotonic()
    threading.Thread(target=later).start()
    r = mdm.device_client.get(wait, params={"waitSeconds": 20}, headers=device.auth)
    elapsed = time.monotonic() - started
    assert r.json()["checkInNow"] is True
    assert 0.3 < elapsed < 5
    assert [a["actionName"] for a in mdm.check_in(device)["deviceActions"]] == ["syncDevice"]
    r = mdm.device_client.get(wait, params={"waitSeconds": 301}, headers=device.auth)
    assert r.status_code == 422


def test_compliance_follows_policy_and_group_changes(
    mdm: MdmTenant, frozen_services: Services
) -> None:
    policy = mdm.policy(
        {"@odata.type": WINDOWS, "displayName": "FW", "activeFirewallRequired": True}
    )
    device = mdm.enroll(facts={"firewallEnabled": False})
    assert mdm.device(device)["complianceState"] == "noncompliant"
    # a policy change applies at once
    mdm.admin.patch(
        f"/api/deviceManagement/deviceCompliancePolicies/{policy['id']}",
        json={"activeFirewallRequired": False},
    )
    assert mdm.device(device)["complianceState"] == "compliant"
    mdm.admin.patch(
        f"/api/deviceManagement/deviceCompliancePolicies/{policy['id']}",
        json={"activeFirewallRequired": True},
    )
    assert mdm.device(device)["complianceState"] == "noncompliant"
    # the user leaves the group: the policy no longer applies at the next sweep
    user_id = mdm.admin.get("/api/users").json()["value"][0]["id"]
    r = mdm.admin.delete(f"/api/groups/{mdm.group_id}/members/{user_id}/$ref")
    assert r.status_code == 204
    frozen_services.mdm.run_due_actions()
    assert mdm.device(device)["complianceState"] == "compliant"
    mdm.admin.post(f"/api/groups/{mdm.group_id}/members/$ref", json={"@odata.id": user_id})
    frozen_services.mdm.run_due_actions()
    assert mdm.device(device)["complianceState"] == "noncompliant"
