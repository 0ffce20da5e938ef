"""MTD tables and queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    union,
    update,
)

from stockade.core.model import RiskScore, Severity
from stockade.mtd.model import (
    Alert,
    AlertComment,
    AlertStatus,
    Classification,
    DetectionSource,
    Determination,
    Incident,
    IncidentStatus,
    Machine,
)
from stockade.storage.database import TenantStore
from stockade.storage.types import Json, UtcDateTime, metadata

onboarding = Table(
    "mtd_onboarding",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

machines = Table(
    "mtd_machines",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("aad_device_id", String(36), nullable=False),
    Column("computer_dns_name", String(255), nullable=False),
    Column("os_platform", String(32), nullable=False),
    Column("os_version", String(64), nullable=False),
    Column("risk_score", String(16), nullable=False),
    Column("risk_sequence", BigInteger, nullable=False),
    Column("sensor_token_id", String(36), nullable=False, unique=True),
    Column("sensor_secret_digest", String(64), nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Index("ix_mtd_machines_device", "tenant_id", "aad_device_id", unique=True),
)

events = Table(
    "mtd_events",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("machine_id", String(40), nullable=False),
    Column("batch_id", String(36), nullable=False),
    Column("line", Integer, nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("event_time", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload", Json, nullable=False),
    Index("ix_mtd_events_machine", "tenant_id", "machine_id", "received_at"),
)

alerts = Table(
    "mtd_alerts",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("machine_id", String(40), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("category", String(64), nullable=False),
    Column("mitre_techniques", Json, nullable=False),
    Column("first_event_time", UtcDateTime, nullable=False),
    Column("last_event_time", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("classification", String(48), nullable=True),
    Column("determination", String(48), nullable=True),
    Column("assigned_to", String(255), nullable=True),
    Column("incident_id", String(36), nullable=True),
    Column("user_id", String(36), nullable=True),
    Column(
        "detection_source",
        String(32),
        nullable=False,
        server_default=DetectionSource.CUSTOM_DETECTION.value,
    ),
    Index("ix_mtd_alerts_machine", "tenant_id", "machine_id", "status"),
    Index("ix_mtd_alerts_incident", "tenant_id", "incident_id"),
    Index("ix_mtd_alerts_user", "tenant_id", "user_id"),
)

alert_comments = Table(
    "mtd_alert_comments",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("alert_id", String(36), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_time", UtcDateTime, nullable=False),
    Index("ix_mtd_alert_comments_alert", "tenant_id", "alert_id"),
)

incidents = Table(
    "mtd_incidents",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("classification", String(48), nullable=True),
    Column("determination", String(48), nullable=True),
    Column("assigned_to", String(255), nullable=True),
    Column("created_time", UtcDateTime, nullable=False),
    Column("last_update_time", UtcDateTime, nullable=False),
    Column("redirect_incident_id", String(36), nullable=True),
    Index("ix_mtd_incidents_status", "tenant_id", "status"),
)

mobile_findings = Table(
    "mtd_mobile_findings",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("machine_id", String(40), nullable=False),
    Column("batch_id", String(36), nullable=False),
    Column("finding_id", String(128), nullable=True),
    Column("finding_type", String(48), nullable=False),
    Column("detected_time", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload", Json, nullable=False),
    # the app's own finding id: a redelivered finding is recognised, never counted twice
    Index("ix_mtd_mobile_findings_app_id", "tenant_id", "machine_id", "finding_id", unique=True),
)

alert_evidence = Table(
    "mtd_alert_evidence",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("alert_id", String(36), primary_key=True),
    Column("event_row_id", String(36), primary_key=True),
)


# "in" rather than "!= resolved", so the (tenant, machine, status) index narrows the read
_ACTIVE = [s.value for s in AlertStatus if s.active]


def _machine(row: Any) -> Machine:
    return Machine(
        id=row["id"],
        aad_device_id=row["aad_device_id"],
        computer_dns_name=row["computer_dns_name"],
        os_platform=row["os_platform"],
        os_version=row["os_version"],
        risk_score=RiskScore(row["risk_score"]),
        risk_sequence=row["risk_sequence"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
    )


def _alert(row: Any, evidence_count: int = 0) -> Alert:
    return Alert(
        id=row["id"],
        machine_id=row["machine_id"],
        rule_id=row["rule_id"],
        title=row["title"],
        description=row["description"],
        severity=Severity(row["severity"]),
        status=AlertStatus(row["status"]),
        category=row["category"],
        mitre_techniques=tuple(row["mitre_techniques"]),
        first_event_time=row["first_event_time"],
        last_event_time=row["last_event_time"],
        created_at=row["created_at"],
        resolved_at=row["resolved_at"],
        evidence_count=evidence_count,
        classification=Classification(row["classification"]) if row["classification"] else None,
        determination=Determination(row["determination"]) if row["determination"] else None,
        assigned_to=row["assigned_to"],
        incident_id=row["incident_id"],
        user_id=row["user_id"],
        detection_source=DetectionSource(row["detection_source"]),
        updated_at=row["updated_at"],
    )


def _incident(row: Any) -> Incident:
    return Incident(
        id=row["id"],
        name=row["name"],
        severity=Severity(row["severity"]),
        status=IncidentStatus(row["status"]),
        classification=Classification(row["classification"]) if row["classification"] else None,
        determination=Determination(row["determination"]) if row["determination"] else None,
        assigned_to=row["assigned_to"],
        created_time=row["created_time"],
        last_update_time=row["last_update_time"],
        redirect_incident_id=row["redirect_incident_id"],
    )


def find_machine_by_sensor_token(conn: Any, token_id: str) -> tuple[str, Machine, str] | None:
    """Sensor token lookup before the tenant is known: (tenant id, machine, secret digest)."""
    row = (
        conn.execute(select(machines).where(machines.c.sensor_token_id == token_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return row["tenant_id"], _machine(row), row["sensor_secret_digest"]


class MtdStore(TenantStore):
    # onboarding package
    def onboarding_secret(self) -> str | None:
        row = self.conn.execute(
            select(onboarding.c.secret).where(onboarding.c.tenant_id == self.tenant_id)
        ).first()
        return row[0] if row else None

    def set_onboarding_secret(self, secret: str, at: datetime) -> None:
        self.conn.execute(
            insert(onboarding).values(tenant_id=self.tenant_id, secret=secret, created_at=at)
        )

    # machines
    def machine_by_device(self, aad_device_id: str) -> Machine | None:
        row = (
            self.conn.execute(
                select(machines).where(
                    machines.c.tenant_id == self.tenant_id,
                    machines.c.aad_device_id == aad_device_id,
                )
            )
            .mappings()
            .first()
        )
        return _machine(row) if row else None

    def get_machine(self, machine_id: str) -> Machine | None:
        row = (
            self.conn.execute(
                select(machines).where(
                    machines.c.tenant_id == self.tenant_id, machines.c.id == machine_id
                )
            )
            .mappings()
            .first()
        )
        return _machine(row) if row else None

    def lock_machine(self, machine_id: str) -> None:
        """Serialize alert and risk writers of one machine (row lock on PostgreSQL; SQLite
        writers already hold the database write lock)."""
        if self.conn.dialect.name != "sqlite":
            self.conn.execute(
                select(machines.c.id)
                .where(machines.c.tenant_id == self.tenant_id, machines.c.id == machine_id)
                .with_for_update()
            )

    def list_machines(self) -> list[Machine]:
        q = (
            select(machines)
            .where(machines.c.tenant_id == self.tenant_id)
            .order_by(machines.c.first_seen)
        )
        return [_machine(r) for r in self.conn.execute(q).mappings()]

    def add_machine(self, machine: Machine, token_id: str, secret_digest: str) -> None:
        self.conn.execute(
            insert(machines).values(
                tenant_id=self.tenant_id,
                id=machine.id,
                aad_device_id=machine.aad_device_id,
                computer_dns_name=machine.computer_dns_name,
                os_platform=machine.os_platform,
                os_version=machine.os_version,
                risk_score=machine.risk_score.value,
                risk_sequence=machine.risk_sequence,
                sensor_token_id=token_id,
                sensor_secret_digest=secret_digest,
                first_seen=machine.first_seen,
                last_seen=machine.last_seen,
            )
        )

    def update_machine(self, machine_id: str, **values: Any) -> None:
        self.conn.execute(
            update(machines)
            .where(machines.c.tenant_id == self.tenant_id, machines.c.id == machine_id)
            .values(**values)
        )

    # events
    def add_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(events), [{"tenant_id": self.tenant_id, **r} for r in rows])

    def events_by_ids(self, row_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not row_ids:
            return []
        q = (
            select(events)
            .where(events.c.tenant_id == self.tenant_id, events.c.id.in_(row_ids))
            .order_by(events.c.event_time, events.c.line)
        )
        return [dict(r) for r in self.conn.execute(q).mappings()]

    def count_events(self, machine_id: str) -> int:
        q = select(func.count()).where(
            events.c.tenant_id == self.tenant_id, events.c.machine_id == machine_id
        )
        return int(self.conn.execute(q).scalar_one())

    # alerts
    def active_alerts_for_rule(self, machine_id: str, rule_id: str) -> list[Alert]:
        """The rule's active alerts on the machine, latest events first."""
        q = (
            select(alerts)
            .where(
                alerts.c.tenant_id == self.tenant_id,
                alerts.c.machine_id == machine_id,
                alerts.c.rule_id == rule_id,
                alerts.c.status.in_(_ACTIVE),
            )
            .order_by(alerts.c.last_event_time.desc())
        )
        return [_alert(r) for r in self.conn.execute(q).mappings()]

    def add_alert(self, alert: Alert) -> None:
        self.conn.execute(
            insert(alerts).values(
                tenant_id=self.tenant_id,
                id=alert.id,
                machine_id=alert.machine_id,
                rule_id=alert.rule_id,
                title=alert.title,
                description=alert.description,
                severity=alert.severity.value,
                status=alert.status.value,
                category=alert.category,
                mitre_techniques=list(alert.mitre_techniques),
                first_event_time=alert.first_event_time,
                last_event_time=alert.last_event_time,
                created_at=alert.created_at,
                updated_at=alert.created_at,
                resolved_at=None,
                incident_id=alert.incident_id,
                user_id=alert.user_id,
                detection_source=alert.detection_source.value,
            )
        )

    def update_alert(self, alert_id: str, **values: Any) -> None:
        self.conn.execute(
            update(alerts)
            .where(alerts.c.tenant_id == self.tenant_id, alerts.c.id == alert_id)
            .values(**values)
        )

    def add_evidence(self, alert_id: str, event_row_ids: Sequence[str]) -> None:
        if event_row_ids:
            self.conn.execute(
                insert(alert_evidence),
                [
                    {"tenant_id": self.tenant_id, "alert_id": alert_id, "event_row_id": e}
                    for e in event_row_ids
                ],
            )

    def count_evidence(self, alert_id: str) -> int:
        q = select(func.count()).where(
            alert_evidence.c.tenant_id == self.tenant_id, alert_evidence.c.alert_id == alert_id
        )
        return int(self.conn.execute(q).scalar_one())

    def evidence_ids(self, alert_id: str) -> list[str]:
        q = select(alert_evidence.c.event_row_id).where(
            alert_evidence.c.tenant_id == self.tenant_id, alert_evidence.c.alert_id == alert_id
        )
        return [r[0] for r in self.conn.execute(q)]

    def get_alert(self, alert_id: str) -> Alert | None:
        row = (
            self.conn.execute(
                select(alerts).where(alerts.c.tenant_id == self.tenant_id, alerts.c.id == alert_id)
            )
            .mappings()
            .first()
        )
        return _alert(row, len(self.evidence_ids(alert_id))) if row else None

    def list_alerts(
        self,
        *,
        machine_id: str | None = None,
        status: AlertStatus | None = None,
        incident_ids: Sequence[str] | None = None,
    ) -> list[Alert]:
        counts = (
            select(alert_evidence.c.alert_id, func.count().label("n"))
            .where(alert_evidence.c.tenant_id == self.tenant_id)
            .group_by(alert_evidence.c.alert_id)
            .subquery()
        )
        q = (
            select(alerts, func.coalesce(counts.c.n, 0).label("evidence_n"))
            .outerjoin(counts, counts.c.alert_id == alerts.c.id)
            .where(alerts.c.tenant_id == self.tenant_id)
        )
        if machine_id:
            q = q.where(alerts.c.machine_id == machine_id)
        if status:
            q = q.where(alerts.c.status == status.value)
        if incident_ids is not None:
            q = q.where(alerts.c.incident_id.in_(incident_ids))
        q = q.order_by(alerts.c.created_at, alerts.c.id)
        return [_alert(r, r["evidence_n"]) for r in self.conn.execute(q).mappings()]

    def alert_severities(self, machine_id: str) -> list[tuple[Severity, AlertStatus]]:
        q = select(alerts.c.severity, alerts.c.status).where(
            alerts.c.tenant_id == self.tenant_id,
            alerts.c.machine_id == machine_id,
            alerts.c.status.in_(_ACTIVE),
        )
        return [(Severity(s), AlertStatus(st)) for s, st in self.conn.execute(q)]

    # comments
    def add_comment(self, alert_id: str, comment: AlertComment, comment_id: str) -> None:
        self.conn.execute(
            insert(alert_comments).values(
                tenant_id=self.tenant_id,
                id=comment_id,
                alert_id=alert_id,
                comment=comment.comment,
                created_by=comment.created_by,
                created_time=comment.created_time,
            )
        )

    def comments(self, alert_id: str) -> list[AlertComment]:
        q = (
            select(alert_comments)
            .where(
                alert_comments.c.tenant_id == self.tenant_id,
                alert_comments.c.alert_id == alert_id,
            )
            .order_by(alert_comments.c.created_time, alert_comments.c.id)
        )
        return [
            AlertComment(r["comment"], r["created_by"], r["created_time"])
            for r in self.conn.execute(q).mappings()
        ]

    # incidents
    def add_incident(self, incident: Incident) -> None:
        self.conn.execute(
            insert(incidents).values(
                tenant_id=self.tenant_id,
                id=incident.id,
                name=incident.name,
                severity=incident.severity.value,
                status=incident.status.value,
                classification=None,
                determination=None,
                assigned_to=None,
                created_time=incident.created_time,
                last_update_time=incident.last_update_time,
                redirect_incident_id=None,
            )
        )

    def update_incident(self, incident_id: str, **values: Any) -> None:
        self.conn.execute(
            update(incidents)
            .where(incidents.c.tenant_id == self.tenant_id, incidents.c.id == incident_id)
            .values(**values)
        )

    def get_incident(self, incident_id: str) -> Incident | None:
        row = (
            self.conn.execute(
                select(incidents).where(
                    incidents.c.tenant_id == self.tenant_id, incidents.c.id == incident_id
                )
            )
            .mappings()
            .first()
        )
        return _incident(row) if row else None

    def list_incidents(
        self,
        *,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        assigned_to: str | None = None,
        top: int | None = None,
        skip: int = 0,
    ) -> list[Incident]:
        q = select(incidents).where(incidents.c.tenant_id == self.tenant_id)
        if status:
            q = q.where(incidents.c.status == status.value)
        if severity:
            q = q.where(incidents.c.severity == severity.value)
        if assigned_to:
            q = q.where(incidents.c.assigned_to == assigned_to)
        q = q.order_by(incidents.c.last_update_time.desc(), incidents.c.id).offset(skip)
        if top is not None:
            q = q.limit(top)
        return [_incident(r) for r in self.conn.execute(q).mappings()]

    def incidents_near(
        self, machine_id: str, user_id: str | None, since: datetime, until: datetime
    ) -> list[str]:
        """Active incidents holding an alert on the machine (or on a machine of the user)
        whose events touch [since, until], oldest incident first."""

        def touching(*who: Any) -> Any:
            return select(alerts.c.incident_id).where(
                alerts.c.tenant_id == self.tenant_id,
                *who,
                alerts.c.last_event_time >= since,
                alerts.c.first_event_time <= until,
            )

        # a union, not an OR, so each half reads through its own index (machine, user)
        parts = [touching(alerts.c.machine_id == machine_id)]
        if user_id is not None:
            parts.append(touching(alerts.c.user_id == user_id))
        near = union(*parts)
        q = (
            select(incidents.c.id)
            .where(
                incidents.c.tenant_id == self.tenant_id,
                incidents.c.status == IncidentStatus.ACTIVE.value,
                incidents.c.id.in_(near),
            )
            .order_by(incidents.c.created_time, incidents.c.id)
        )
        return list(self.conn.execute(q).scalars())

    def incident_members(self, incident_id: str) -> list[Alert]:
        """The incident's alerts, without evidence counts (what naming and status need)."""
        q = select(alerts).where(
            alerts.c.tenant_id == self.tenant_id, alerts.c.incident_id == incident_id
        )
        return [_alert(r) for r in self.conn.execute(q).mappings()]

    def move_alerts(self, from_incident_ids: Sequence[str], to_incident_id: str) -> None:
        self.conn.execute(
            update(alerts)
            .where(
                alerts.c.tenant_id == self.tenant_id,
                alerts.c.incident_id.in_(from_incident_ids),
            )
            .values(incident_id=to_incident_id)
        )

    # mobile findings
    def known_finding_ids(self, machine_id: str, finding_ids: Sequence[str]) -> set[str]:
        if not finding_ids:
            return set()
        q = select(mobile_findings.c.finding_id).where(
            mobile_findings.c.tenant_id == self.tenant_id,
            mobile_findings.c.machine_id == machine_id,
            mobile_findings.c.finding_id.in_(finding_ids),
        )
        return set(self.conn.execute(q).scalars())

    def add_findings(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(
                insert(mobile_findings), [{"tenant_id": self.tenant_id, **r} for r in rows]
            )

    def findings_by_ids(self, row_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not row_ids:
            return []
        q = (
            select(mobile_findings)
            .where(
                mobile_findings.c.tenant_id == self.tenant_id,
                mobile_findings.c.id.in_(row_ids),
            )
            .order_by(mobile_findings.c.detected_time, mobile_findings.c.id)
        )
        return [dict(r) for r in self.conn.execute(q).mappings()]
