"""MTD use cases: onboarding, telemetry ingest, detection to alerts, risk, alert triage."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from stockade.bus.base import Bus
from stockade.core.clock import Clock
from stockade.core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from stockade.core.events import MachineAlertsChanged, MachineRiskChanged
from stockade.core.ids import Credential, new_credential, new_id, parse_credential, secret_matches
from stockade.core.model import RiskScore
from stockade.detection.engine import DetectionEngine
from stockade.directory.service import DirectoryService
from stockade.mtd import store
from stockade.mtd.model import Alert, AlertStatus, Machine
from stockade.mtd.risk import machine_risk
from stockade.mtd.store import MtdStore
from stockade.storage.database import Database
from stockade.telemetry.ndjson import LineProblem, event_time, parse_batch

ONBOARDING_PREFIX = "sob"
SENSOR_PREFIX = "sst"
OS_PLATFORMS = ("Windows10", "Windows11", "Android", "iOS")


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
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.directory = directory
        self.engine = engine
        self.public_url = public_url
        self.max_batch_events = max_batch_events
        self.registration: Callable[[str, str], bool] = directory.is_device_registered
        """Whether a device is registered (the classic rule); the composition root points it
        at the connector when the directory lives in another deployment."""

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

    def _require_registered(self, tenant_id: str, device_id: str) -> None:
        if not self.registration(tenant_id, device_id):
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
        self._require_registered(tenant_id, machine.aad_device_id)
        return tenant_id, machine

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
        for row in rows:
            for match in self.engine.match(row["payload"]):
                hits[match.rule.id].append(row)
                infos[match.rule.id] = match.rule
        if not hits:
            return IngestResult(batch_id, len(rows), (), machine.risk_score)

        touched: list[Alert] = []
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            s.lock_machine(machine.id)
            for rule_id, matched in hits.items():
                rule = infos[rule_id]
                first = min(r["event_time"] for r in matched)
                last = max(r["event_time"] for r in matched)
                alert = s.open_alert_for_rule(machine.id, rule_id)
                if alert is None:  # one alert per rule and machine while it is active
                    alert = Alert(
                        id=new_id(),
                        machine_id=machine.id,
                        rule_id=rule_id,
                        title=rule.title,
                        description=rule.description,
                        severity=rule.level,
                        status=AlertStatus.NEW,
                        category=rule.category,
                        mitre_techniques=rule.mitre_techniques,
                        first_event_time=first,
                        last_event_time=last,
                        created_at=now,
                        resolved_at=None,
                    )
                    s.add_alert(alert)
                else:
                    s.update_alert(
                        alert.id,
                        first_event_time=min(alert.first_event_time, first),
                        last_event_time=max(alert.last_event_time, last),
                        updated_at=now,
                    )
                s.add_evidence(alert.id, [r["id"] for r in matched])
                touched.append(alert)
            changed = self._recompute_risk(s, machine.id)
        self._publish_alerts(tenant_id, machine)
        if changed:
            self._publish_risk(tenant_id, changed[0], changed[1])
            risk = changed[0].risk_score
        else:
            risk = machine.risk_score
        return IngestResult(batch_id, len(rows), tuple(touched), risk)

    def _recompute_risk(self, s: MtdStore, machine_id: str) -> tuple[Machine, RiskScore] | None:
        machine = s.get_machine(machine_id)
        assert machine is not None
        risk = machine_risk(s.alert_severities(machine_id))
        if risk == machine.risk_score:
            return None
        sequence = machine.risk_sequence + 1
        s.update_machine(machine_id, risk_score=risk.value, risk_sequence=sequence)
        return replace(machine, risk_score=risk, risk_sequence=sequence), machine.risk_score

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
            if with_evidence:
                rows = s.events_by_ids(s.evidence_ids(alert_id))
                alert = replace(alert, evidence=tuple(_evidence(r) for r in rows))
        return alert

    def set_alert_status(self, tenant_id: str, alert_id: str, status: AlertStatus) -> Alert:
        now = self.clock.now()
        with self.db.begin() as conn:
            s = MtdStore(conn, tenant_id)
            alert = s.get_alert(alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            s.lock_machine(alert.machine_id)
            s.update_alert(
                alert_id,
                status=status.value,
                updated_at=now,
                resolved_at=now if status is AlertStatus.RESOLVED else None,
            )
            changed = self._recompute_risk(s, alert.machine_id)
            machine = s.get_machine(alert.machine_id)
        assert machine is not None
        self._publish_alerts(tenant_id, machine)
        if changed:
            self._publish_risk(tenant_id, changed[0], changed[1])
        return self.get_alert(tenant_id, alert_id, with_evidence=False)

    def current_risks(self, tenant_id: str) -> list[Machine]:
        """Every machine with its risk, for a full reconciliation over the connector."""
        return self.list_machines(tenant_id)


def _evidence(row: dict) -> dict:
    return {
        "eventId": row["event_id"],
        "eventTime": row["event_time"],
        "receivedAt": row["received_at"],
        "batchId": row["batch_id"],
        "fields": row["payload"],
    }
