"""The link between threat defense and device management.

In the embedded deployment both halves run in this process and the link is a direct call to
the MDM service; pushes happen on every risk change, synchronously on the in-process bus.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from stockade.access.service import AccessService
from stockade.bus.base import Bus
from stockade.connector.model import (
    STOCKADE_PARTNER_ID,
    Connector,
    PartnerState,
    platform_of,
    threat_level_for,
)
from stockade.connector.store import ConnectorStore
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound
from stockade.core.events import MachineRiskChanged
from stockade.core.model import Platform
from stockade.mdm.service import MdmService
from stockade.mtd.service import MtdService
from stockade.storage.database import Database

log = logging.getLogger(__name__)

TOGGLES = (
    "windows_enabled",
    "android_enabled",
    "ios_enabled",
    "android_mam_enabled",
    "ios_mam_enabled",
)


class ConnectorService:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        clock: Clock,
        mtd: MtdService,
        mdm: MdmService,
        access: AccessService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.mtd = mtd
        self.mdm = mdm
        self.access = access
        bus.subscribe(MachineRiskChanged, self.on_risk_changed)

    def create(self, tenant_id: str, **settings: Any) -> Connector:
        _check(settings)
        now = self.clock.now()
        connector = Connector(
            id=STOCKADE_PARTNER_ID,
            partner_state=PartnerState.ENABLED,
            windows_enabled=bool(settings.get("windows_enabled", False)),
            android_enabled=bool(settings.get("android_enabled", False)),
            ios_enabled=bool(settings.get("ios_enabled", False)),
            android_mam_enabled=bool(settings.get("android_mam_enabled", False)),
            ios_mam_enabled=bool(settings.get("ios_mam_enabled", False)),
            unresponsiveness_threshold_days=int(settings.get("unresponsiveness_threshold_days", 7)),
            last_heartbeat=now,
            created_at=now,
        )
        with self.db.begin() as conn:
            s = ConnectorStore(conn, tenant_id)
            if s.list():
                raise Conflict("this tenant already has a threat-defense connector")
            s.add(connector)
        self.access.create_classic_policy(tenant_id, connector.id)
        self._app_protection(tenant_id, connector)
        package = self.mtd.onboarding_package(tenant_id)
        self.mdm.upsert_onboarding_profile(tenant_id, package.as_blob())
        self.sync(tenant_id)
        return connector

    def update(self, tenant_id: str, connector_id: str, **changes: Any) -> Connector:
        _check(changes)
        with self.db.begin() as conn:
            s = ConnectorStore(conn, tenant_id)
            current = s.get(connector_id)
            if current is None:
                raise NotFound(f"no connector {connector_id}")
            connector = replace(current, **changes)
            s.save(connector)
        self._app_protection(tenant_id, connector)
        self.sync(tenant_id)
        return connector

    def delete(self, tenant_id: str, connector_id: str) -> None:
        with self.db.begin() as conn:
            if not ConnectorStore(conn, tenant_id).delete(connector_id):
                raise NotFound(f"no connector {connector_id}")
        self.access.remove_classic_policies(tenant_id, connector_id)
        for platform in (Platform.ANDROID, Platform.IOS):
            self.mdm.set_partner_app_protection(tenant_id, platform, False)

    def _app_protection(self, tenant_id: str, connector: Connector) -> None:
        """App protection may use our threat levels only where the MAM toggle is on."""
        self.mdm.set_partner_app_protection(
            tenant_id, Platform.ANDROID, connector.android_mam_enabled
        )
        self.mdm.set_partner_app_protection(tenant_id, Platform.IOS, connector.ios_mam_enabled)

    def get(self, tenant_id: str, connector_id: str) -> Connector:
        with self.db.read() as conn:
            connector = ConnectorStore(conn, tenant_id).get(connector_id)
        if connector is None:
            raise NotFound(f"no connector {connector_id}")
        return connector

    def list(self, tenant_id: str) -> list[Connector]:
        with self.db.read() as conn:
            return ConnectorStore(conn, tenant_id).list()

    # pushes
    def on_risk_changed(self, event: MachineRiskChanged) -> None:
        connectors = self.list(event.tenant_id)
        if not connectors:
            return
        self._push(
            event.tenant_id,
            connectors[0],
            event.device_id,
            event.platform,
            event.risk_score,
            event.sequence,
        )

    def sync(self, tenant_id: str) -> int:
        """Full reconciliation: push every machine's current level. Returns pushes applied."""
        connectors = self.list(tenant_id)
        if not connectors:
            return 0
        applied = 0
        for machine in self.mtd.current_risks(tenant_id):
            applied += self._push(
                tenant_id,
                connectors[0],
                machine.aad_device_id,
                machine.os_platform,
                machine.risk_score,
                machine.risk_sequence,
            )
        return applied

    def _push(
        self,
        tenant_id: str,
        connector: Connector,
        device_id: str,
        os_platform: str,
        risk: Any,
        sequence: int,
    ) -> int:
        platform = platform_of(os_platform)
        if platform is None or not connector.enabled_for(platform):
            return 0
        device = self.mdm.apply_threat_level(tenant_id, device_id, threat_level_for(risk), sequence)
        with self.db.begin() as conn:
            s = ConnectorStore(conn, tenant_id)
            s.save(replace(connector, last_heartbeat=self.clock.now()))
        return 1 if device is not None else 0


def _check(settings: dict[str, Any]) -> None:
    days = settings.get("unresponsiveness_threshold_days")
    if days is not None and not 1 <= int(days) <= 90:
        raise InvalidInput(
            "partnerUnresponsivenessThresholdInDays must be between 1 and 90",
            field="partnerUnresponsivenessThresholdInDays",
        )
