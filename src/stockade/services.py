"""The composition root: builds every service from `Settings` and wires the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from stockade.access.identity import JwtVerifier
from stockade.access.posture import PostureSource
from stockade.access.service import AccessService
from stockade.bus import InProcessBus
from stockade.bus.base import Bus
from stockade.connector.service import ConnectorService
from stockade.core.clock import Clock, SystemClock
from stockade.detection.engine import DetectionEngine
from stockade.detection.load import builtin_rules
from stockade.directory.service import DirectoryService
from stockade.mdm.service import MdmService
from stockade.mtd.service import MtdService
from stockade.settings import Settings
from stockade.storage.database import Database
from stockade.storage.migrate import upgrade


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
        mtd = MtdService(
            db,
            bus,
            clock,
            directory,
            DetectionEngine(rules.rules),
            public_url,
            max_batch_events=settings.max_batch_events,
            alert_window=timedelta(minutes=settings.alert_window_minutes),
            incident_window=timedelta(minutes=settings.incident_window_minutes),
        )
        mdm = MdmService(db, bus, clock, directory, public_url)
        access = AccessService(
            db,
            bus,
            clock,
            directory,
            PostureSource(mdm, mtd),
            signin_retention_days=settings.signin_retention_days,
        )
        connector = ConnectorService(db, bus, clock, mtd, mdm, access)
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
        return cls(settings, db, bus, clock, directory, mdm, mtd, access, connector, verifier)

    def close(self) -> None:
        self.db.dispose()
