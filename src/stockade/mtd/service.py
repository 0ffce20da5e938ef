"""MTD use cases: onboarding, telemetry ingest, detection to alerts, risk, alert triage."""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from stockade.bus.base import Bus
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from stockade.core.events import MachineAlertsChanged, MachineRiskChanged
from stockade.core.ids import Credential, new_credential, new_id, parse_credential, secret_matches
from stockade.core.model import RiskScore, Severity
from stockade.detection.engine import DetectionEngine
from stockade.directory.model import DeviceRegistration
from stockade.directory.service import DirectoryService
from stockade.mtd import store
from stockade.mtd.findings import FINDING_RULES, finding_problems
from stockade.mtd.findings import rule_id as finding_rule_id
from stockade.mtd.grouping import (
    DEFAULT_ALERT_WINDOW,
    DEFAULT_INCIDENT_WINDOW,
    highest,
    incident_name,
    within_window,
)
from stockade.mtd.model import (
    Alert,
    AlertComment,
    AlertStatus,
    Classification,
    DetectionSource,
    Determination,
    FindingType,
    Incident,
    IncidentStatus,
    Machine,
    MobileFinding,
    Triage,
    UserRef,
)
from stockade.mtd.risk import at_least, machine_risk
from stockade.mtd.store import MtdStore
from stockade.mtd.triage import next_triage, triage_problem
from stockade.storage.database import Database
from stockade.telemetry.ndjson import LineProblem, event_time, parse_batch

ONBOARDING_PREFIX = "sob"
SENSOR_PREFIX = "sst"
OS_PLATFORMS = ("Windows10", "Windows11", "Android", "iOS", "Linux")


@dataclass(frozen=True)
class OnboardingPackage:
    tenant_id: str
    onboard_url: str
    ingest_url: str
    credential: str

    def as_blob(self) -> dict[str, str]:
        return {
            "tenantId": self.tenant_id,
            "onboardUrl": self.onboard_url,
            "ingestUrl": self.ingest_url,
            "onboardingCredential": self.credential,
        }


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    accepted: int
    alerts: tuple[Alert, ...]
    risk_score: RiskScore


@dataclass(frozen=True)
class Detection:
    """What one rule (or one kind of mobile finding) saw in one batch: raises or updates one
    alert."""

    rule_id: str
    title: str
    description: str
    severity: Severity
    category: str
    mitre_techniques: tuple[str, ...]
    source: DetectionSource
    evidence_ids: tuple[str, ...]
    first: datetime
    last: datetime


@dataclass(frozen=True)
class FindingsResult:
    batch_id: str
    accepted: int
    duplicates: int
    alerts: tuple[Alert, ...]
    risk_score: RiskScore


class BatchRejected(InvalidInput):
    """A malformed batch: nothing of it was stored."""

    def __init__(self, problems: list[LineProblem]) -> None:
        first = problems[0]
        super().__init__(
            f"line {first.line}: {first.message}"
            + (f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else "")
            + "; the batch was rejected whole, nothing was stored",
            status=400,
            errors=[{"line": p.line, "message": p.message} for p in problems],
        )


class MtdService:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        directory: DirectoryService,
        engine: DetectionEngine,
        public_url: str,
        max_batch_events: int = 5000,
        engines: Callable[[str], DetectionEngine] | None = None,
        alert_window: timedelta = DEFAULT_ALERT_WINDOW,
        incident_window: timedelta = DEFAULT_INCIDENT_WINDOW,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.directory = directory
        self.engine = engine
        # A tenant's own rule set, when the composition root provides one; else `engine`.
        self.engines = engines
        self.public_url = public_url
        self.max_batch_events = max_batch_events
        self.registration: Callable[[str, str], bool] = directory.is_device_registered
        """Whether a device is registered (the classic rule); the composition root points it
        at the connector when the directory lives in another deployment."""
        self.alert_window = alert_window
        self.incident_window = incident_window
        self.risk_floor: Callable[[str, str], RiskScore] | None = None
        """The lowest risk a device may have apart from its alerts (exploited vulnerabilities,
        when the tenant asks for it); set by the composition root, which owns both rooms."""

    # onboarding
    def onboarding_package(self, tenant_id: str) -> OnboardingPackage:
        """The tenant's onboarding package, created on first use (like Defender's)."""
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            secret = s.onboarding_secret()
            if secret is None:
                secret = secrets.token_urlsafe(32)
                s.set_onboarding_secret(secret, self.clock.now())
        return OnboardingPackage(
            tenant_id=tenant_id,
            onboard_url=f"{self.public_url}/api/mtd/onboard",
            ingest_url=f"{self.public_url}/api/mtd/telemetry",
            credential=str(Credential(ONBOARDING_PREFIX, tenant_id, secret)),
        )

    def onboard(
        self,
        raw_credential: str,
        *,
        device_id: str,
        computer_dns_name: str,
        os_platform: str,
        os_version: str,
    ) -> tuple[Machine, Credential]:
        credential = parse_credential(raw_credential, ONBOARDING_PREFIX)
        if credential is None:
            raise Unauthenticated("not an onboarding credential")
        tenant_id = credential.id
        with self.db.read() as conn:
            stored = MtdStore(conn, tenant_id).onboarding_secret()
        if stored is None or not secrets.compare_digest(stored, credential.secret):
            raise Unauthenticated("unknown onboarding credential")
        if os_platform not in OS_PLATFORMS:
            raise InvalidInput(
                f"osPlatform must be one of {', '.join(OS_PLATFORMS)}", field="osPlatform"
            )
        self._require_registered(tenant_id, device_id)
        now = self.clock.now()
        sensor = new_credential(SENSOR_PREFIX)
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            machine = s.machine_by_device(device_id)
            if machine is not None:  # re-onboarding rotates the sensor credential
                s.update_machine(
                    machine.id,
                    sensor_token_id=sensor.id,
                    sensor_secret_digest=sensor.secret_digest,
                    computer_dns_name=computer_dns_name,
                    os_platform=os_platform,
                    os_version=os_version,
                    last_seen=now,
                )
                return replace(machine, computer_dns_name=computer_dns_name), sensor
            machine = Machine(
                id=hashlib.sha1(new_id().encode()).hexdigest(),
                aad_device_id=device_id,
                computer_dns_name=computer_dns_name,
                os_platform=os_platform,
                os_version=os_version,
                risk_score=RiskScore.NONE,
                risk_sequence=1,
                first_seen=now,
                last_seen=now,
            )
            s.add_machine(machine, sensor.id, sensor.secret_digest)
        # the first push tells device management the machine is known and clean
        self._publish_risk(tenant_id, machine, None)
        return machine, sensor

    def _require_registered(self, tenant_id: str, device_id: str) -> DeviceRegistration | None:
        """The classic rule. Returns the registration from this deployment's directory, or None
        when the device is registered in device management elsewhere (then its owner is not
        known here)."""
        registration = self.directory.get_device(tenant_id, device_id)
        if registration is not None and registration.account_enabled:
            return registration
        if registration is None and self.registration(tenant_id, device_id):
            return None
        raise Forbidden(
            f"device {device_id} is not registered (or is disabled) in the directory; "
            "the classic access policy requires registration before a device may talk to "
            "threat defense",
            policy="classic",
        )

    def authenticate_sensor(self, raw: str) -> tuple[str, Machine]:
        credential = parse_credential(raw, SENSOR_PREFIX)
        if credential is None:
            raise Unauthenticated("not a sensor credential")
        with self.db.read() as conn:
            found = store.find_machine_by_sensor_token(conn, credential.id)
        if found is None or not secret_matches(credential, found[2]):
            raise Unauthenticated("unknown or revoked sensor credential")
        tenant_id, machine, _ = found
        registration = self._require_registered(tenant_id, machine.aad_device_id)
        # the registration was read anyway: carry its owner so alerting need not read it again
        owner = registration.registered_owner_id if registration else None
        return tenant_id, replace(machine, user_id=owner)

    # ingest
    def ingest(self, tenant_id: str, machine: Machine, body: bytes) -> IngestResult:
        parsed = parse_batch(body, max_events=self.max_batch_events)
        if parsed.problems:
            raise BatchRejected(parsed.problems)
        if not parsed.events:
            raise InvalidInput("the batch holds no events", status=400)
        now = self.clock.now()
        batch_id = new_id()
        rows = [
            {
                "id": new_id(),
                "machine_id": machine.id,
                "batch_id": batch_id,
                "line": n,
                "event_id": ev["EventID"],
                "event_time": event_time(ev, now),
                "received_at": now,
                "payload": ev,
            }
            for n, ev in enumerate(parsed.events, start=1)
        ]
        # Accepted means stored: events commit before detection runs, so a detection failure
        # never loses telemetry.
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            s.add_events(rows)
            s.update_machine(machine.id, last_seen=now)

        hits: dict[str, list[dict]] = defaultdict(list)
        infos = {}
        engine = self.engines(tenant_id) if self.engines is not None else self.engine
        for row in rows:
            for match in engine.match(row["payload"]):
                hits[match.rule.id].append(row)
                infos[match.rule.id] = match.rule
        if not hits:
            return IngestResult(batch_id, len(rows), (), machine.risk_score)
        detections = [
            Detection(
                rule_id=rule_id,
                title=infos[rule_id].title,
                description=infos[rule_id].description,
                severity=infos[rule_id].level,
                category=infos[rule_id].category,
                mitre_techniques=infos[rule_id].mitre_techniques,
                source=DetectionSource.CUSTOM_DETECTION,
                evidence_ids=tuple(r["id"] for r in matched),
                first=min(r["event_time"] for r in matched),
                last=max(r["event_time"] for r in matched),
            )
            for rule_id, matched in hits.items()
        ]
        touched, risk = self._record(tenant_id, machine, detections, now)
        return IngestResult(batch_id, len(rows), touched, risk)

    def ingest_findings(
        self, tenant_id: str, machine: Machine, findings: list[MobileFinding]
    ) -> FindingsResult:
        """Store the findings of a mobile threat-defense app and raise their alerts.

        All-or-nothing like telemetry: any bad finding rejects the batch (422 naming each
        field). A finding whose `findingId` was seen before is counted as a duplicate and
        raises nothing again.
        """
        if not machine.is_mobile:
            raise Conflict(
                f"mobile findings come from Android and iOS machines; machine "
                f"{machine.computer_dns_name} is {machine.os_platform} (send telemetry instead)",
                osPlatform=machine.os_platform,
            )
        errors = [
            {"field": f"findings.{n}.{name}", "message": message}
            for n, finding in enumerate(findings)
            for name, message in finding_problems(finding, machine.os_platform)
        ]
        if errors:
            raise InvalidInput(
                f"invalid fields: {', '.join(e['field'] for e in errors)}; "
                "the batch was rejected whole, nothing was stored",
                errors=errors,
            )
        now = self.clock.now()
        batch_id = new_id()
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            # two deliveries of one finding at once: the second waits, then sees the first
            s.lock_machine(machine.id)
            ids = [f.finding_id for f in findings if f.finding_id]
            seen = s.known_finding_ids(machine.id, ids)
            rows: list[dict[str, Any]] = []
            for finding in findings:
                if finding.finding_id and finding.finding_id in seen:
                    continue
                if finding.finding_id:
                    seen.add(finding.finding_id)  # a repeat inside the batch counts once
                rows.append(
                    {
                        "id": new_id(),
                        "machine_id": machine.id,
                        "batch_id": batch_id,
                        "finding_id": finding.finding_id,
                        "finding_type": finding.finding_type.value,
                        "detected_time": finding.detected_time or now,
                        "received_at": now,
                        "payload": {
                            "findingType": finding.finding_type.value,
                            **({"findingId": finding.finding_id} if finding.finding_id else {}),
                            **finding.details,
                        },
                    }
                )
            s.add_findings(rows)
            s.update_machine(machine.id, last_seen=now)
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_type[row["finding_type"]].append(row)
        detections = []
        for kind, found in by_type.items():
            finding_type = FindingType(kind)
            rule = FINDING_RULES[finding_type]
            detections.append(
                Detection(
                    rule_id=finding_rule_id(finding_type),
                    title=rule.title,
                    description=rule.description,
                    severity=rule.severity,
                    category=rule.category,
                    mitre_techniques=rule.mitre_techniques,
                    source=DetectionSource.MOBILE_THREAT_DEFENSE,
                    evidence_ids=tuple(r["id"] for r in found),
                    first=min(r["detected_time"] for r in found),
                    last=max(r["detected_time"] for r in found),
                )
            )
        duplicates = len(findings) - len(rows)
        if not detections:
            return FindingsResult(batch_id, 0, duplicates, (), machine.risk_score)
        touched, risk = self._record(tenant_id, machine, detections, now)
        return FindingsResult(batch_id, len(rows), duplicates, touched, risk)

    def _record(
        self, tenant_id: str, machine: Machine, detections: list[Detection], now: datetime
    ) -> tuple[tuple[Alert, ...], RiskScore]:
        """Raise or update one alert per detection, group new alerts into incidents, and
        recompute the machine's risk; publishes the changes after the commit."""
        user_id = machine.user_id
        if user_id is None:  # a machine not read by sensor authentication
            registration = self.directory.get_device(tenant_id, machine.aad_device_id)
            user_id = registration.registered_owner_id if registration else None
        touched: list[Alert] = []
        joined: Counter[str] = Counter()
        fresh: set[str] = set()
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            s.lock_machine(machine.id)
            for d in detections:
                span = (d.first, d.last)
                alert = next(
                    (
                        a
                        for a in s.active_alerts_for_rule(machine.id, d.rule_id)
                        if within_window(
                            (a.first_event_time, a.last_event_time), span, self.alert_window
                        )
                    ),
                    None,
                )
                if alert is None:
                    incident_id, created = self._incident_for(s, machine, user_id, d, now)
                    if created:
                        fresh.add(incident_id)
                    alert = Alert(
                        id=new_id(),
                        machine_id=machine.id,
                        rule_id=d.rule_id,
                        title=d.title,
                        description=d.description,
                        severity=d.severity,
                        status=AlertStatus.NEW,
                        category=d.category,
                        mitre_techniques=d.mitre_techniques,
                        first_event_time=d.first,
                        last_event_time=d.last,
                        created_at=now,
                        resolved_at=None,
                        incident_id=incident_id,
                        user_id=user_id,
                        detection_source=d.source,
                        updated_at=now,
                    )
                    s.add_alert(alert)
                    evidence_count = len(d.evidence_ids)
                else:
                    alert = replace(
                        alert,
                        first_event_time=min(alert.first_event_time, d.first),
                        last_event_time=max(alert.last_event_time, d.last),
                        updated_at=now,
                    )
                    s.update_alert(
                        alert.id,
                        first_event_time=alert.first_event_time,
                        last_event_time=alert.last_event_time,
                        updated_at=now,
                    )
                    evidence_count = len(d.evidence_ids) + s.count_evidence(alert.id)
                s.add_evidence(alert.id, d.evidence_ids)
                touched.append(replace(alert, evidence_count=evidence_count))
                if alert.incident_id:
                    joined[alert.incident_id] += 1
            for incident_id, count in joined.items():
                # an incident opened by this batch for one alert was named at creation
                if incident_id not in fresh or count > 1:
                    self._refresh_incident(s, incident_id, now)
            changed = self._recompute_risk(s, machine.id)
        self._publish_alerts(tenant_id, machine)
        if changed:
            self._publish_risk(tenant_id, changed[0], changed[1])
            return tuple(touched), changed[0].risk_score
        return tuple(touched), machine.risk_score

    def _incident_for(
        self,
        s: MtdStore,
        machine: Machine,
        user_id: str | None,
        d: Detection,
        now: datetime,
    ) -> tuple[str, bool]:
        """The active incident a new alert of `d` joins (see `grouping`), or a new one named
        for it; and whether it was created."""
        window = self.incident_window
        found = s.incidents_near(machine.id, user_id, d.first - window, d.last + window)
        if not found:
            incident = Incident(
                id=new_id(),
                name=incident_name([(d.title, d.category)], 1, 1 if user_id else 0)[:500],
                severity=d.severity,
                status=IncidentStatus.ACTIVE,
                classification=None,
                determination=None,
                assigned_to=None,
                created_time=now,
                last_update_time=now,
            )
            s.add_incident(incident)
            return incident.id, True
        target, merged = found[0], found[1:]
        if merged:
            s.move_alerts(merged, target)
            for other in merged:
                s.update_incident(
                    other,
                    status=IncidentStatus.REDIRECTED.value,
                    redirect_incident_id=target,
                    last_update_time=now,
                )
        return target, False

    def _refresh_incident(self, s: MtdStore, incident_id: str, now: datetime) -> None:
        """Name, severity and status follow the incident's alerts."""
        incident = s.get_incident(incident_id)
        if incident is None:
            return
        members = s.incident_members(incident_id)
        values: dict[str, Any] = {"last_update_time": now}
        if members:
            values["severity"] = highest(a.severity for a in members).value
            values["name"] = incident_name(
                ((a.title, a.category) for a in members),
                len({a.machine_id for a in members}),
                len({a.user_id for a in members if a.user_id}),
            )[:500]
        if incident.status is not IncidentStatus.REDIRECTED:
            active = any(a.status.active for a in members)
            values["status"] = (IncidentStatus.ACTIVE if active else IncidentStatus.RESOLVED).value
        s.update_incident(incident_id, **values)

    def _recompute_risk(self, s: MtdStore, machine_id: str) -> tuple[Machine, RiskScore] | None:
        machine = s.get_machine(machine_id)
        assert machine is not None
        risk = machine_risk(s.alert_severities(machine_id))
        if self.risk_floor is not None:
            risk = at_least(risk, self.risk_floor(s.tenant_id, machine.aad_device_id))
        if risk == machine.risk_score:
            return None
        sequence = machine.risk_sequence + 1
        s.update_machine(machine_id, risk_score=risk.value, risk_sequence=sequence)
        return replace(machine, risk_score=risk, risk_sequence=sequence), machine.risk_score

    def refresh_risk(self, tenant_id: str, device_id: str) -> RiskScore | None:
        """Recompute a device's machine risk now (its risk floor may have moved); publishes the
        change like any other. None when the device has no machine here."""
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            machine = s.machine_by_device(device_id)
            if machine is None:
                return None
            s.lock_machine(machine.id)
            changed = self._recompute_risk(s, machine.id)
        if changed:
            self._publish_risk(tenant_id, changed[0], changed[1])
            return changed[0].risk_score
        return machine.risk_score

    def _publish_alerts(self, tenant_id: str, machine: Machine) -> None:
        self.bus.publish(
            MachineAlertsChanged(
                tenant_id=tenant_id,
                occurred_at=self.clock.now(),
                machine_id=machine.id,
                device_id=machine.aad_device_id,
            )
        )

    def _publish_risk(self, tenant_id: str, machine: Machine, previous: RiskScore | None) -> None:
        self.bus.publish(
            MachineRiskChanged(
                tenant_id=tenant_id,
                occurred_at=self.clock.now(),
                machine_id=machine.id,
                device_id=machine.aad_device_id,
                platform=machine.os_platform,
                risk_score=machine.risk_score,
                previous=previous,
                sequence=machine.risk_sequence,
            )
        )

    # reads and triage
    def list_machines(self, tenant_id: str) -> list[Machine]:
        with self.db.read() as conn:
            return MtdStore(conn, tenant_id).list_machines()

    def get_machine(self, tenant_id: str, machine_id: str) -> Machine:
        with self.db.read() as conn:
            machine = MtdStore(conn, tenant_id).get_machine(machine_id)
        if machine is None:
            raise NotFound(f"no machine {machine_id}")
        return machine

    def machine_for_device(self, tenant_id: str, device_id: str) -> Machine | None:
        with self.db.read() as conn:
            return MtdStore(conn, tenant_id).machine_by_device(device_id)

    def list_alerts(
        self,
        tenant_id: str,
        *,
        machine_id: str | None = None,
        status: AlertStatus | None = None,
    ) -> list[Alert]:
        with self.db.read() as conn:
            return MtdStore(conn, tenant_id).list_alerts(machine_id=machine_id, status=status)

    def active_alerts_for_device(self, tenant_id: str, device_id: str) -> list[Alert]:
        with self.db.read() as conn:
            s = MtdStore(conn, tenant_id)
            machine = s.machine_by_device(device_id)
            if machine is None:
                return []
            return [a for a in s.list_alerts(machine_id=machine.id) if a.status.active]

    def get_alert(self, tenant_id: str, alert_id: str, *, with_evidence: bool = True) -> Alert:
        with self.db.read() as conn:
            s = MtdStore(conn, tenant_id)
            alert = s.get_alert(alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            alert = replace(alert, comments=tuple(s.comments(alert_id)))
            if with_evidence:
                ids = s.evidence_ids(alert_id)
                evidence = [_evidence(r) for r in s.events_by_ids(ids)]
                evidence += [_finding_evidence(r) for r in s.findings_by_ids(ids)]
                alert = replace(alert, evidence=tuple(evidence))
        return alert

    def update_alert(self, tenant_id: str, alert_id: str, change: Triage, *, author: str) -> Alert:
        """Triage one alert (Defender's PATCH): status, classification, determination,
        assignedTo, a comment. Resolving lowers the machine's risk at once."""
        now = self.clock.now()
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            alert = s.get_alert(alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            s.lock_machine(alert.machine_id)
            values = self._triage_values(alert.classification, alert.determination, change)
            if change.status is not None and change.status is not alert.status:
                values["status"] = change.status.value
                values["resolved_at"] = now if change.status is AlertStatus.RESOLVED else None
            values["updated_at"] = now
            s.update_alert(alert_id, **values)
            if change.comment:
                s.add_comment(alert_id, AlertComment(change.comment, author, now), new_id())
            if alert.incident_id:
                self._refresh_incident(s, alert.incident_id, now)
            changed = self._recompute_risk(s, alert.machine_id)
            machine = s.get_machine(alert.machine_id)
        assert machine is not None
        self._publish_alerts(tenant_id, machine)
        if changed:
            self._publish_risk(tenant_id, changed[0], changed[1])
        return self.get_alert(tenant_id, alert_id, with_evidence=False)

    def set_alert_status(self, tenant_id: str, alert_id: str, status: AlertStatus) -> Alert:
        return self.update_alert(tenant_id, alert_id, Triage(status=status), author="system")

    @staticmethod
    def _triage_values(
        classification: Classification | None,
        determination: Determination | None,
        change: Triage,
    ) -> dict[str, Any]:
        new_class, new_det = next_triage(
            (classification, determination), change.classification, change.determination
        )
        problem = triage_problem(new_class, new_det)
        if problem:
            raise InvalidInput(problem, field="determination")
        values: dict[str, Any] = {
            "classification": new_class.value if new_class else None,
            "determination": new_det.value if new_det else None,
        }
        if change.unassign:
            values["assigned_to"] = None
        elif change.assigned_to is not None:
            values["assigned_to"] = change.assigned_to
        return values

    # incidents
    def list_incidents(
        self,
        tenant_id: str,
        *,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        assigned_to: str | None = None,
        top: int | None = None,
        skip: int = 0,
    ) -> list[Incident]:
        with self.db.read() as conn:
            s = MtdStore(conn, tenant_id)
            found = s.list_incidents(
                status=status, severity=severity, assigned_to=assigned_to, top=top, skip=skip
            )
            return self._with_members(tenant_id, s, found)

    def get_incident(self, tenant_id: str, incident_id: str) -> Incident:
        with self.db.read() as conn:
            s = MtdStore(conn, tenant_id)
            incident = s.get_incident(incident_id)
            if incident is None:
                raise NotFound(f"no incident {incident_id}")
            return self._with_members(tenant_id, s, [incident])[0]

    def _with_members(self, tenant_id: str, s: MtdStore, found: list[Incident]) -> list[Incident]:
        if not found:
            return []
        members: dict[str, list[Alert]] = defaultdict(list)
        for alert in s.list_alerts(incident_ids=[i.id for i in found]):
            members[alert.incident_id or ""].append(alert)
        machines = {m.id: m for m in s.list_machines()}
        users: dict[str, UserRef] = {}
        out = []
        for incident in found:
            alerts = members.get(incident.id, [])
            for user_id in {a.user_id for a in alerts if a.user_id} - users.keys():
                user = self.directory.find_user(tenant_id, user_id)
                users[user_id] = UserRef(user_id, user.user_principal_name if user else "")
            machine_ids = list(dict.fromkeys(a.machine_id for a in alerts))
            user_ids = list(dict.fromkeys(a.user_id for a in alerts if a.user_id))
            out.append(
                replace(
                    incident,
                    alerts=tuple(alerts),
                    devices=tuple(machines[m] for m in machine_ids if m in machines),
                    users=tuple(users[u] for u in user_ids),
                )
            )
        return out

    def update_incident(
        self,
        tenant_id: str,
        incident_id: str,
        change: Triage,
        *,
        status: IncidentStatus | None = None,
    ) -> Incident:
        """Triage an incident; its alerts follow (Defender's behaviour): resolving resolves
        every alert, so each machine's risk drops at once; reopening a resolved incident
        reopens them as `new`;
        classification, determination and assignedTo are set on every alert too."""
        if status is IncidentStatus.REDIRECTED:
            raise InvalidInput(
                "status redirected is set by merging, not by request; use active or resolved",
                field="status",
            )
        now = self.clock.now()
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            incident = s.get_incident(incident_id)
            if incident is None:
                raise NotFound(f"no incident {incident_id}")
            if incident.status is IncidentStatus.REDIRECTED:
                raise Conflict(
                    f"incident {incident_id} was merged into {incident.redirect_incident_id}; "
                    "change that incident",
                    redirectIncidentId=incident.redirect_incident_id,
                )
            values = self._triage_values(incident.classification, incident.determination, change)
            alerts = s.list_alerts(incident_ids=[incident_id])
            machine_ids = sorted({a.machine_id for a in alerts})
            for machine_id in machine_ids:  # one order everywhere, so writers never deadlock
                s.lock_machine(machine_id)
            for alert in alerts:
                alert_values = dict(values)
                if status is IncidentStatus.RESOLVED and alert.status.active:
                    alert_values.update(status=AlertStatus.RESOLVED.value, resolved_at=now)
                elif (
                    status is IncidentStatus.ACTIVE
                    and incident.status is IncidentStatus.RESOLVED
                    and not alert.status.active
                ):  # reopening a resolved incident; an active one keeps its triaged alerts
                    alert_values.update(status=AlertStatus.NEW.value, resolved_at=None)
                s.update_alert(alert.id, updated_at=now, **alert_values)
            s.update_incident(incident_id, **values)
            self._refresh_incident(s, incident_id, now)
            changes = [self._recompute_risk(s, m) for m in machine_ids]
            machines = [s.get_machine(m) for m in machine_ids]
        for machine in machines:
            assert machine is not None
            self._publish_alerts(tenant_id, machine)
        for changed in changes:
            if changed:
                self._publish_risk(tenant_id, changed[0], changed[1])
        return self.get_incident(tenant_id, incident_id)


def _evidence(row: dict) -> dict:
    return {
        "eventId": row["event_id"],
        "eventTime": row["event_time"],
        "receivedAt": row["received_at"],
        "batchId": row["batch_id"],
        "fields": row["payload"],
    }


def _finding_evidence(row: dict) -> dict:
    return {
        "findingType": row["finding_type"],
        "eventTime": row["detected_time"],
        "receivedAt": row["received_at"],
        "batchId": row["batch_id"],
        "fields": row["payload"],
    }
