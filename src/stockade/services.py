"""The composition root: builds every service from `Settings` and wires the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from stockade.access.identity import JwtVerifier
from stockade.access.posture import PostureSource
from stockade.access.service import AccessService
from stockade.bus import InProcessBus
from stockade.bus.base import Bus
from stockade.connector.remediation import RemediationLink
from stockade.connector.service import ConnectorService
from stockade.core.clock import Clock, SystemClock
from stockade.core.model import RiskScore
from stockade.detection.engine import DetectionEngine
from stockade.detection.load import builtin_rules, load_rule_paths
from stockade.detection.service import DetectionService
from stockade.directory.service import DirectoryService
from stockade.mdm.mail import SmtpMailer
from stockade.mdm.service import MdmService
from stockade.mdm.tasks.service import SecurityTaskService
from stockade.mtd.service import MtdService
from stockade.settings import Settings
from stockade.storage.database import Database
from stockade.storage.migrate import upgrade
from stockade.vulnerability.service import VulnerabilityService


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: Bus
    clock: Clock
    directory: DirectoryService
    mdm: MdmService
    mtd: MtdService
    access: AccessService
    connector: ConnectorService
    detection: DetectionService
    vulnerability: VulnerabilityService
    security_tasks: SecurityTaskService
    remediation: RemediationLink
    jwt: JwtVerifier | None = None
    tenant_ids: dict[str, str] = field(default_factory=dict)
    """Tenant name or id -> id, for forward auth (tenants are never renamed)."""

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, migrate: bool = True
    ) -> Services:
        db = Database(settings.effective_database_url)
        if migrate:
            upgrade(db)
        bus = InProcessBus()
        clock = clock or SystemClock()
        public_url = settings.effective_public_url
        directory = DirectoryService(db, clock, bus)
        rules = builtin_rules()
        if settings.rule_directories:
            rules += load_rule_paths(
                settings.rule_directories, cache_dir=settings.data_dir / "rule-cache"
            )
        detection = DetectionService(db, clock, rules)
        mtd = MtdService(
            db,
            bus,
            clock,
            directory,
            DetectionEngine(rules.rules),
            public_url,
            max_batch_events=settings.max_batch_events,
            engines=detection.engine_for,
            alert_window=timedelta(minutes=settings.alert_window_minutes),
            incident_window=timedelta(minutes=settings.incident_window_minutes),
        )
        mailer = (
            SmtpMailer(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_sender,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
            if settings.smtp_host
            else None
        )
        mdm = MdmService(db, bus, clock, directory, public_url, mailer=mailer)
        access = AccessService(
            db,
            bus,
            clock,
            directory,
            PostureSource(mdm, mtd),
            signin_retention_days=settings.signin_retention_days,
        )
        connector = ConnectorService(db, bus, clock, mtd, mdm, access, directory)
        # the classic rule asks whichever deployment holds the directory (a late-bound hook:
        # threat defense cannot import the connector that joins it to device management)
        mtd.registration = connector.device_registered
        verifier = (
            JwtVerifier(
                settings.jwt_jwks_url,
                settings.jwt_issuer,
                settings.jwt_audience,
                settings.jwt_user_claim,
            )
            if settings.jwt_jwks_url
            else None
        )
        vulnerability = VulnerabilityService(db, clock, directory, mtd)
        security_tasks = SecurityTaskService(db, clock)
        remediation = RemediationLink(vulnerability, security_tasks)
        # exploited-in-the-wild vulnerabilities can raise machine risk (tenant setting, off by
        # default): threat defense asks for the floor, vulnerability management says when it moved
        mtd.risk_floor = lambda tenant_id, device_id: (
            RiskScore.HIGH if vulnerability.exploited_risk(tenant_id, device_id) else RiskScore.NONE
        )
        vulnerability.on_findings_changed = mtd.refresh_risk
        return cls(
            settings,
            db,
            bus,
            clock,
            directory,
            mdm,
            mtd,
            access,
            connector,
            detection,
            vulnerability,
            security_tasks,
            remediation,
            verifier,
        )

    def close(self) -> None:
        self.db.dispose()
