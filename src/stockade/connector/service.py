"""The link between threat defense and device management.

In the embedded deployment both halves run in this process and the link is a direct call to
the MDM service; pushes happen on every risk change, synchronously on the in-process bus.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

from stockade.access.service import AccessService
from stockade.bus.base import Bus
from stockade.connector.model import (
    STOCKADE_PARTNER_ID,
    Connector,
    PartnerLink,
    PartnerState,
    os_supported,
    platform_of,
    threat_level_for,
)
from stockade.connector.partner_client import PartnerClient, PartnerError
from stockade.connector.store import (
    ConnectorStore,
    all_connector_tenants,
    find_remote_connector,
    linked_tenants,
)
from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from stockade.core.events import MachineRiskChanged
from stockade.core.ids import Credential, new_id, parse_credential
from stockade.core.model import Platform, RiskScore, ThreatLevel
from stockade.directory.service import DirectoryService
from stockade.mdm.model import PartnerCompliance
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
        directory: DirectoryService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.mtd = mtd
        self.mdm = mdm
        self.access = access
        self.directory = directory
        bus.subscribe(MachineRiskChanged, self.on_risk_changed)

    def create(
        self, tenant_id: str, *, remote: bool = False, **settings: Any
    ) -> tuple[Connector, str | None]:
        """A connector for this deployment's own threat defense, or (`remote`) for a partner
        elsewhere that will push over the partner API, with the partner's credential (returned
        once, never stored in the clear anywhere but the shared-secret column)."""
        _check(settings)
        now = self.clock.now()
        secret = secrets.token_urlsafe(32) if remote else None
        connector = Connector(
            id=new_id() if remote else STOCKADE_PARTNER_ID,
            windows_enabled=bool(settings.get("windows_enabled", False)),
            android_enabled=bool(settings.get("android_enabled", False)),
            ios_enabled=bool(settings.get("ios_enabled", False)),
            android_mam_enabled=bool(settings.get("android_mam_enabled", False)),
            ios_mam_enabled=bool(settings.get("ios_mam_enabled", False)),
            unresponsiveness_threshold_days=int(settings.get("unresponsiveness_threshold_days", 7)),
            last_heartbeat=now,
            created_at=now,
            windows_blocked_on_missing_data=bool(
                settings.get("windows_blocked_on_missing_data", False)
            ),
            android_blocked_on_missing_data=bool(
                settings.get("android_blocked_on_missing_data", False)
            ),
            ios_blocked_on_missing_data=bool(settings.get("ios_blocked_on_missing_data", False)),
            unsupported_os_blocked=bool(settings.get("unsupported_os_blocked", False)),
            remote=remote,
            partner_state=PartnerState.AVAILABLE if remote else PartnerState.ENABLED,
        )
        with self.db.begin() as conn:
            s = ConnectorStore(conn, tenant_id)
            existing = s.list()
            if not remote and any(not c.remote for c in existing):
                raise Conflict("this tenant already has the built-in threat-defense connector")
            _one_partner_per_platform(connector, existing)
            s.add(connector, secret)
        self.access.create_classic_policy(tenant_id, connector.id)
        self._app_protection(tenant_id)
        self._partner_compliance(tenant_id)
        if remote:
            return connector, str(Credential(PARTNER_PREFIX, connector.id, secret or ""))
        package = self.mtd.onboarding_package(tenant_id)
        self.mdm.upsert_onboarding_profile(tenant_id, package.as_blob())
        self.sync(tenant_id)
        return connector, None

    def update(self, tenant_id: str, connector_id: str, **changes: Any) -> Connector:
        _check(changes)
        with self.db.begin() as conn:
            s = ConnectorStore(conn, tenant_id)
            current = s.get(connector_id)
            if current is None:
                raise NotFound(f"no connector {connector_id}")
            connector = replace(current, **changes)
            _one_partner_per_platform(connector, [c for c in s.list() if c.id != connector_id])
            s.save(connector)
        self._app_protection(tenant_id)
        self._partner_compliance(tenant_id)
        if not connector.remote:
            self.sync(tenant_id)
        return connector

    def delete(self, tenant_id: str, connector_id: str) -> None:
        with self.db.begin() as conn:
            if not ConnectorStore(conn, tenant_id).delete(connector_id):
                raise NotFound(f"no connector {connector_id}")
        self.access.remove_classic_policies(tenant_id, connector_id)
        self._app_protection(tenant_id)
        self._partner_compliance(tenant_id)

    def _partner_compliance(self, tenant_id: str) -> None:
        """Tell device management, per platform, whether a partner's threat level counts.

        Turning a platform off (or deleting the connector, or the partner going silent)
        re-evaluates that platform's devices at once, so a device noncompliant only because of
        this partner is compliant again immediately.
        """
        connectors = self.list(tenant_id)
        for platform in (Platform.WINDOWS, Platform.ANDROID, Platform.IOS):
            holder = next((c for c in connectors if c.enabled_for(platform)), None)
            value = (
                PartnerCompliance(enabled=False)
                if holder is None
                else PartnerCompliance(
                    enabled=True,
                    responsive=holder.partner_state is not PartnerState.UNRESPONSIVE,
                    blocked_on_missing_data=holder.blocked_on_missing_data(platform),
                    unsupported_os_blocked=holder.unsupported_os_blocked,
                )
            )
            self.mdm.set_partner_compliance(tenant_id, platform, value)

    def _app_protection(self, tenant_id: str) -> None:
        """App protection may use partner threat levels only where a MAM toggle is on."""
        connectors = self.list(tenant_id)
        self.mdm.set_partner_app_protection(
            tenant_id, Platform.ANDROID, any(c.android_mam_enabled for c in connectors)
        )
        self.mdm.set_partner_app_protection(
            tenant_id, Platform.IOS, any(c.ios_mam_enabled for c in connectors)
        )

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
        """Push at once: over the partner API when this tenant's device management lives in
        another deployment, else straight to the MDM service of this one."""
        link = self.get_link(event.tenant_id)
        if link is not None:
            machine = self.mtd.machine_for_device(event.tenant_id, event.device_id)
            item = _item(event.device_id, event.platform, event.risk_score, event.sequence)
            item["unsupportedOs"] = not os_supported(
                event.platform, machine.os_version if machine else ""
            )
            self._push_remote(event.tenant_id, link, [item])
            return
        local = self._local(event.tenant_id)
        if local is not None:
            machine = self.mtd.machine_for_device(event.tenant_id, event.device_id)
            self._push(
                event.tenant_id,
                local,
                event.device_id,
                event.platform,
                event.risk_score,
                event.sequence,
                machine.os_version if machine else "",
            )

    def _local(self, tenant_id: str) -> Connector | None:
        return next((c for c in self.list(tenant_id) if not c.remote), None)

    def sync(self, tenant_id: str) -> int:
        """Full reconciliation: push every machine's current level. Returns pushes applied."""
        machines = self.mtd.list_machines(tenant_id)
        link = self.get_link(tenant_id)
        if link is not None:
            items = [
                {
                    **_item(m.aad_device_id, m.os_platform, m.risk_score, m.risk_sequence),
                    "unsupportedOs": not os_supported(m.os_platform, m.os_version),
                }
                for m in machines
            ]
            return self._push_remote(tenant_id, link, items) if items else 0
        local = self._local(tenant_id)
        if local is None:
            return 0
        applied = 0
        for machine in machines:
            applied += self._push(
                tenant_id,
                local,
                machine.aad_device_id,
                machine.os_platform,
                machine.risk_score,
                machine.risk_sequence,
                machine.os_version,
            )
        return applied

    def _push_remote(self, tenant_id: str, link: PartnerLink, items: list[dict[str, Any]]) -> int:
        now = self.clock.now()
        try:
            answer = self._client(link).push_levels(items)
        except PartnerError as exc:
            # the next push or the periodic reconciliation repairs what this one missed
            log.warning("threat-level push for tenant %s failed: %s", tenant_id, exc)
            with self.db.begin() as conn:
                ConnectorStore(conn, tenant_id).record_push(now, str(exc))
            return 0
        with self.db.begin() as conn:
            ConnectorStore(conn, tenant_id).record_push(now, None)
        return sum(1 for r in answer["value"] if r["result"] == "applied")

    def _client(self, link: PartnerLink) -> PartnerClient:
        return PartnerClient(link)

    # device management side of the partner API
    def authenticate_partner(self, connector_id: str) -> tuple[str, Connector, str]:
        with self.db.read() as conn:
            found = find_remote_connector(conn, connector_id)
        if found is None:
            raise Unauthenticated("unknown partner")
        return found

    def receive_heartbeat(self, tenant_id: str, connector: Connector) -> Connector:
        now = self.clock.now()
        state = PartnerState.ENABLED
        with self.db.begin() as conn:
            ConnectorStore(conn, tenant_id).touch_heartbeat(connector.id, now, state)
        if connector.partner_state is not state:
            self._partner_compliance(tenant_id)  # back from silence: its levels count again
        return replace(connector, last_heartbeat=now, partner_state=state)

    def receive_levels(
        self, tenant_id: str, connector: Connector, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Apply a partner's pushes; each answers applied, stale, platformDisabled or
        unknownDevice. Stale pushes (sequence not newer) never overwrite newer ones."""
        self.receive_heartbeat(tenant_id, connector)
        results = []
        for item in items:
            platform = platform_of(item["platform"])
            if platform is None or not connector.enabled_for(platform):
                results.append({"deviceId": item["deviceId"], "result": "platformDisabled"})
                continue
            if self.mdm.device_by_aad_id(tenant_id, item["deviceId"]) is None:
                results.append({"deviceId": item["deviceId"], "result": "unknownDevice"})
                continue
            applied = self.mdm.apply_threat_level(
                tenant_id,
                item["deviceId"],
                ThreatLevel(item["threatLevel"]),
                item["sequence"],
                unsupported_os=item.get("unsupportedOs"),
            )
            results.append(
                {"deviceId": item["deviceId"], "result": "applied" if applied else "stale"}
            )
        return results

    def receive_onboarding(self, tenant_id: str, blob: dict[str, Any]) -> None:
        self.mdm.upsert_onboarding_profile(tenant_id, blob)

    # threat defense side: the link to device management elsewhere
    def link(self, tenant_id: str, mdm_url: str, credential: str) -> PartnerLink:
        """Point this tenant's threat defense at a device management deployment: hand it our
        onboarding package, then push every machine's level."""
        parsed = parse_credential(credential, PARTNER_PREFIX)
        if parsed is None:
            raise InvalidInput(
                "credential must be a partner credential (spk_...)", field="credential"
            )
        link = PartnerLink(mdm_url.rstrip("/"), parsed.id, parsed.secret, self.clock.now())
        client = self._client(link)
        try:
            client.heartbeat()
            client.put_onboarding(self.mtd.onboarding_package(tenant_id).as_blob())
        except PartnerError as exc:
            raise InvalidInput(f"the device management side refused the link: {exc}") from exc
        with self.db.begin() as conn:
            ConnectorStore(conn, tenant_id).set_link(link)
        self.sync(tenant_id)
        return link

    def get_link(self, tenant_id: str) -> PartnerLink | None:
        with self.db.read() as conn:
            return ConnectorStore(conn, tenant_id).get_link()

    def unlink(self, tenant_id: str) -> None:
        with self.db.begin() as conn:
            if not ConnectorStore(conn, tenant_id).delete_link():
                raise NotFound("this tenant has no partner link")

    def device_registered(self, tenant_id: str, device_id: str) -> bool:
        """The classic rule's question, asked of whichever deployment holds the directory."""
        link = self.get_link(tenant_id)
        if link is None:
            return self.directory.is_device_registered(tenant_id, device_id)
        try:
            return self._client(link).device_registered(device_id)
        except PartnerError as exc:
            log.warning("registration check for %s failed: %s", device_id, exc)
            return False  # fail closed: an unverifiable device may not report

    def mark_unresponsive(self) -> int:
        """Device management side: a partner silent past its threshold becomes unresponsive."""
        now = self.clock.now()
        with self.db.read() as conn:
            tenants = all_connector_tenants(conn)
        marked = 0
        for tenant_id in tenants:
            for c in self.list(tenant_id):
                silent = c.last_heartbeat is None or (
                    now - c.last_heartbeat > timedelta(days=c.unresponsiveness_threshold_days)
                )
                if c.remote and silent and c.partner_state is not PartnerState.UNRESPONSIVE:
                    with self.db.begin() as conn:
                        ConnectorStore(conn, tenant_id).touch_heartbeat(
                            c.id, c.last_heartbeat, PartnerState.UNRESPONSIVE
                        )
                    self._partner_compliance(tenant_id)
                    marked += 1
        return marked

    def sync_all(self) -> int:
        """Full reconciliation for every tenant this deployment pushes for."""
        with self.db.read() as conn:
            tenants = set(linked_tenants(conn)) | set(all_connector_tenants(conn))
        return sum(self.sync(t) for t in tenants)

    def heartbeat_all(self) -> int:
        """Threat defense side: tell every linked device management we are alive."""
        with self.db.read() as conn:
            tenants = linked_tenants(conn)
        sent = 0
        for tenant_id in tenants:
            link = self.get_link(tenant_id)
            if link is None:
                continue
            try:
                self._client(link).heartbeat()
                sent += 1
            except PartnerError as exc:
                log.warning("heartbeat for tenant %s failed: %s", tenant_id, exc)
        return sent

    def _push(
        self,
        tenant_id: str,
        connector: Connector,
        device_id: str,
        os_platform: str,
        risk: Any,
        sequence: int,
        os_version: str = "",
    ) -> int:
        platform = platform_of(os_platform)
        if platform is None or not connector.enabled_for(platform):
            return 0
        device = self.mdm.apply_threat_level(
            tenant_id,
            device_id,
            threat_level_for(risk),
            sequence,
            unsupported_os=not os_supported(os_platform, os_version),
        )
        now = self.clock.now()
        # the built-in partner is this process: record contact at most once a minute rather
        # than writing on every push of the containment path
        if connector.last_heartbeat is None or now - connector.last_heartbeat > HEARTBEAT_EVERY:
            with self.db.begin() as conn:
                ConnectorStore(conn, tenant_id).touch_heartbeat(
                    connector.id, now, connector.partner_state
                )
        return 1 if device is not None else 0


PARTNER_PREFIX = "spk"
HEARTBEAT_EVERY = timedelta(minutes=1)


def _item(device_id: str, os_platform: str, risk: RiskScore, sequence: int) -> dict[str, Any]:
    return {
        "deviceId": device_id,
        "platform": os_platform,
        "threatLevel": threat_level_for(risk).value,
        "riskScore": risk.value,
        "sequence": sequence,
    }


def _one_partner_per_platform(connector: Connector, others: list[Connector]) -> None:
    for toggle in TOGGLES:
        if getattr(connector, toggle) and any(getattr(o, toggle) for o in others):
            raise Conflict(
                f"{toggle} is already on for another threat-defense partner; "
                "a platform takes one partner",
                setting=toggle,
            )


def _check(settings: dict[str, Any]) -> None:
    days = settings.get("unresponsiveness_threshold_days")
    if days is not None and not 1 <= int(days) <= 90:
        raise InvalidInput(
            "partnerUnresponsivenessThresholdInDays must be between 1 and 90",
            field="partnerUnresponsivenessThresholdInDays",
        )
