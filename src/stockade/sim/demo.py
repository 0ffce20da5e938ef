"""`stockade demo`: the seed scenario, played through the real HTTP API, step by step, timed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from rich.console import Console
from rich.markup import escape

from stockade.sim.device import SimulatedDevice, StepFailed, expect
from stockade.sim.fleet import (
    CORPORATE_APPS,
    Tenant,
    admin_client,
    bring_up,
    fleet_specs,
    provision,
)
from stockade.sim.scenario import attack_steps, benign_events, mobile_attack_steps


class Clocked:
    """Prints lines stamped with milliseconds since the scenario began."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.perf_counter()

    def restart(self) -> None:
        self.t0 = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000

    def say(self, text: str, style: str = "") -> None:
        self.console.print(
            f"[dim]\\[{self.ms():8.1f} ms][/dim] {text}",
            style=style,
            highlight=False,
            soft_wrap=True,
        )


def contain_once(tenant: Tenant, victim: SimulatedDevice, events: list[dict], app: str) -> float:
    """Send `events` and ask forward auth until it denies; milliseconds from send to first deny.

    The clock starts before the batch is sent, so the figure includes the ingest round trip.
    """
    t0 = time.perf_counter()
    victim.send(events)
    deadline = t0 + 10
    while time.perf_counter() < deadline:
        if victim.open_app(tenant.name, app).status_code == 403:
            return (time.perf_counter() - t0) * 1000
    raise StepFailed("access was not denied within 10 s of the malicious event")


def resolve_all(tenant: Tenant, victim: SimulatedDevice) -> int:
    alerts = expect(tenant.admin.get(f"/api/machines/{victim.machine_id}/alerts"), 200)["value"]
    active = [a for a in alerts if a["status"] != "resolved"]
    for alert in active:
        expect(tenant.admin.patch(f"/api/alerts/{alert['id']}", json={"status": "resolved"}), 200)
    return len(active)


def one_incident(tenant: Tenant, expected_alerts: int) -> dict:
    active = expect(tenant.admin.get("/api/incidents", params={"status": "active"}), 200)
    if len(active["value"]) != 1 or len(active["value"][0]["alerts"]) != expected_alerts:
        shape = [len(i["alerts"]) for i in active["value"]]
        raise StepFailed(
            f"expected one active incident with {expected_alerts} alerts, got alerts {shape}"
        )
    return active["value"][0]  # type: ignore[no-any-return]


def resolve_incident(tenant: Tenant, incident: dict) -> int:
    body = {"status": "resolved", "classification": "truePositive", "determination": "other"}
    done = expect(tenant.admin.patch(f"/api/incidents/{incident['id']}", json=body), 200)
    return len(done["alerts"])


def play_mobile(tenant: Tenant, fleet: list[SimulatedDevice], log: Clocked) -> None:
    """The user's iPhone: a blocked phishing site, a malicious app, then a jailbreak."""
    phone = next(d for d in fleet if d.platform == "iOS")
    app = CORPORATE_APPS[0]
    log.console.rule(f"mobile: the threat-defense app on {phone.name} reports findings")
    log.restart()
    for step in mobile_attack_steps(phone.name, phone.platform, datetime.now(UTC)):
        log.say(step.name, "bold")
        result = phone.report(step.events)
        for alert in result["alerts"]:
            log.say(escape(f"  alert [{alert['severity']}] {alert['title']}"))
        log.say(f"  machine risk: {result['riskScore']}")
    denied = phone.open_app(tenant.name, app)
    if denied.status_code != 403:
        raise StepFailed(f"the jailbroken phone was not denied: {denied.status_code}")
    log.say(escape(f"  access to {app}: DENIED — {denied.json()['detail']}"), "red")
    incident = one_incident(tenant, expected_alerts=3)
    log.say(escape(f"incident [{incident['severity']}] {incident['incidentName']}"), "bold")
    resolve_incident(tenant, incident)
    if phone.open_app(tenant.name, app).status_code != 200:
        raise StepFailed("the phone's access did not return after its incident was resolved")
    log.say(f"incident resolved; access to {app} from {phone.name}: allowed again", "green")


def play(
    base_url: str,
    tenant_name: str,
    admin_token: str,
    *,
    devices: int = 20,
    console: Console | None = None,
    on_ready: Callable[[], None] | None = None,
) -> float:
    """Provision, enroll the fleet, play the attack and the recovery. Returns time-to-contain."""
    console = console or Console()
    log = Clocked(console)
    app = CORPORATE_APPS[0]
    console.rule(f"Stockade demo — tenant {tenant_name}")
    tenant = provision(admin_client(base_url, admin_token), tenant_name)
    log.say(
        "tenant ready: connector on (Windows, Android, iOS), compliance 'machine risk at or "
        "under Medium', access policy 'require a compliant device' for " + ", ".join(CORPORATE_APPS)
    )
    client = httpx.Client(base_url=base_url, timeout=30.0)
    fleet = fleet_specs(client, tenant.users, devices)
    for device in fleet:
        bring_up(device, tenant.enrollment_token)
    states = Counter(
        d["complianceState"]
        for d in expect(tenant.admin.get("/api/deviceManagement/managedDevices"), 200)["value"]
    )
    by_platform = Counter(d.platform for d in fleet)
    log.say(
        f"{len(fleet)} devices enrolled, checked in and onboarded "
        f"({', '.join(f'{n} {p}' for p, n in by_platform.items())}); compliance: {dict(states)}"
    )
    machines = expect(tenant.admin.get("/api/machines"), 200)["value"]
    if len(machines) != len(fleet):
        raise StepFailed(f"{len(machines)} machines onboarded, expected {len(fleet)}")

    victim = next(d for d in fleet if d.platform == "windows")
    now = datetime.now(UTC)
    victim.send(benign_events(victim.name, now))
    response = victim.open_app(tenant.name, app)
    if response.status_code != 200:
        raise StepFailed(f"clean device was denied: {response.text}")
    log.say(f"{victim.name} ({victim.user_principal_name}) opens {app}: allowed", "green")

    console.rule("attack: a macro document is opened on " + victim.name)
    log.restart()
    time_to_contain: float | None = None
    for number, step in enumerate(attack_steps(victim.name, now), start=1):
        log.say(f"step {number}/4: {step.name}", "bold")
        if time_to_contain is None:
            time_to_contain = contain_once(tenant, victim, step.events, app)
            log.say(f"  event accepted, and access denied {time_to_contain:.1f} ms after sending")
        else:
            victim.send(step.events)
            log.say("  events accepted")
        alerts = expect(tenant.admin.get(f"/api/machines/{victim.machine_id}/alerts"), 200)["value"]
        for alert in alerts:
            if alert["status"] != "resolved":
                log.say(escape(f"  alert [{alert['severity']}] {alert['title']}"))
        machine = expect(tenant.admin.get(f"/api/machines/{victim.machine_id}"), 200)
        log.say(f"  machine risk: {machine['riskScore']}")
        managed = expect(
            tenant.admin.get(f"/api/deviceManagement/managedDevices/{victim.managed_device_id}"),
            200,
        )
        log.say(f"  compliance: {managed['complianceState']} — {managed['complianceReason']}")
        denied = victim.open_app(tenant.name, app)
        if denied.status_code != 403:
            raise StepFailed(f"expected a deny after step {number}, got {denied.status_code}")
        log.say(escape(f"  access to {app}: DENIED — {denied.json()['detail']}"), "red")
    if time_to_contain is None or machine["riskScore"] != "High":
        raise StepFailed("the device did not reach risk High")
    incident = one_incident(tenant, expected_alerts=4)
    log.say(escape(f"incident [{incident['severity']}] {incident['incidentName']}"), "bold")

    console.rule("recovery: the security team resolves the incident")
    log.restart()
    resolved = resolve_incident(tenant, incident)
    log.say(f"incident resolved with its {resolved} alerts")
    machine = expect(tenant.admin.get(f"/api/machines/{victim.machine_id}"), 200)
    managed = expect(
        tenant.admin.get(f"/api/deviceManagement/managedDevices/{victim.managed_device_id}"), 200
    )
    log.say(f"  machine risk: {machine['riskScore']}; compliance: {managed['complianceState']}")
    allowed = victim.open_app(tenant.name, app)
    if allowed.status_code != 200:
        raise StepFailed(f"access did not return after recovery: {allowed.text}")
    log.say(f"  access to {app}: allowed again", "green")
    play_mobile(tenant, fleet, log)
    signins = expect(tenant.admin.get("/api/auditLogs/signIns", params={"$top": 1000}), 200)
    counts = Counter(s["conditionalAccessStatus"] for s in signins["value"])
    log.say(f"sign-in log: {dict(counts)}")
    if on_ready:
        on_ready()
    return time_to_contain
