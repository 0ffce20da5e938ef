"""Connector table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from stockade.connector.model import Connector, PartnerLink, PartnerState
from stockade.storage.database import TenantStore
from stockade.storage.types import UtcDateTime, metadata

connectors = Table(
    "connector_connectors",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("partner_state", String(16), nullable=False),
    Column("windows_enabled", Boolean, nullable=False),
    Column("android_enabled", Boolean, nullable=False),
    Column("ios_enabled", Boolean, nullable=False),
    Column("android_mam_enabled", Boolean, nullable=False),
    Column("ios_mam_enabled", Boolean, nullable=False),
    Column("unresponsiveness_threshold_days", Integer, nullable=False),
    Column("last_heartbeat", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("windows_blocked_on_missing_data", Boolean, nullable=False, default=False),
    Column("android_blocked_on_missing_data", Boolean, nullable=False, default=False),
    Column("ios_blocked_on_missing_data", Boolean, nullable=False, default=False),
    Column("unsupported_os_blocked", Boolean, nullable=False, default=False),
    Column("remote", Boolean, nullable=False, default=False),
    Column("partner_secret", String(128), nullable=True),
)

partner_links = Table(
    "connector_partner_links",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("mdm_url", String(500), nullable=False),
    Column("connector_id", String(36), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_push_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)

_FIELDS = (
    "partner_state",
    "windows_enabled",
    "android_enabled",
    "ios_enabled",
    "android_mam_enabled",
    "ios_mam_enabled",
    "unresponsiveness_threshold_days",
    "last_heartbeat",
    "created_at",
    "windows_blocked_on_missing_data",
    "android_blocked_on_missing_data",
    "ios_blocked_on_missing_data",
    "unsupported_os_blocked",
    "remote",
)


def _connector(row: Any) -> Connector:
    values = {f: row[f] for f in _FIELDS}
    values["partner_state"] = PartnerState(values["partner_state"])
    return Connector(id=row["id"], **values)


class ConnectorStore(TenantStore):
    def get(self, connector_id: str) -> Connector | None:
        row = (
            self.conn.execute(
                select(connectors).where(
                    connectors.c.tenant_id == self.tenant_id, connectors.c.id == connector_id
                )
            )
            .mappings()
            .first()
        )
        return _connector(row) if row else None

    def list(self) -> list[Connector]:
        q = select(connectors).where(connectors.c.tenant_id == self.tenant_id)
        return [_connector(r) for r in self.conn.execute(q).mappings()]

    def add(self, c: Connector, partner_secret: str | None = None) -> None:
        values = {f: getattr(c, f) for f in _FIELDS}
        values["partner_state"] = c.partner_state.value
        self.conn.execute(
            insert(connectors).values(
                tenant_id=self.tenant_id, id=c.id, partner_secret=partner_secret, **values
            )
        )

    def save(self, c: Connector) -> None:
        values = {f: getattr(c, f) for f in _FIELDS}
        values["partner_state"] = c.partner_state.value
        self.conn.execute(
            update(connectors)
            .where(connectors.c.tenant_id == self.tenant_id, connectors.c.id == c.id)
            .values(**values)
        )

    def delete(self, connector_id: str) -> bool:
        result = self.conn.execute(
            delete(connectors).where(
                connectors.c.tenant_id == self.tenant_id, connectors.c.id == connector_id
            )
        )
        return result.rowcount > 0

    def touch_heartbeat(self, connector_id: str, at: Any, state: PartnerState) -> None:
        self.conn.execute(
            update(connectors)
            .where(connectors.c.tenant_id == self.tenant_id, connectors.c.id == connector_id)
            .values(last_heartbeat=at, partner_state=state.value)
        )

    # threat defense side: the link to a remote device management
    def get_link(self) -> PartnerLink | None:
        row = (
            self.conn.execute(
                select(partner_links).where(partner_links.c.tenant_id == self.tenant_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return PartnerLink(
            mdm_url=row["mdm_url"],
            connector_id=row["connector_id"],
            secret=row["secret"],
            created_at=row["created_at"],
            last_push_at=row["last_push_at"],
            last_error=row["last_error"],
        )

    def set_link(self, link: PartnerLink) -> None:
        self.conn.execute(delete(partner_links).where(partner_links.c.tenant_id == self.tenant_id))
        self.conn.execute(
            insert(partner_links).values(
                tenant_id=self.tenant_id,
                mdm_url=link.mdm_url,
                connector_id=link.connector_id,
                secret=link.secret,
                created_at=link.created_at,
                last_push_at=link.last_push_at,
                last_error=link.last_error,
            )
        )

    def record_push(self, at: Any, error: str | None) -> None:
        values: dict[str, Any] = {"last_error": error}
        if error is None:
            values["last_push_at"] = at
        self.conn.execute(
            update(partner_links)
            .where(partner_links.c.tenant_id == self.tenant_id)
            .values(**values)
        )

    def delete_link(self) -> bool:
        result = self.conn.execute(
            delete(partner_links).where(partner_links.c.tenant_id == self.tenant_id)
        )
        return result.rowcount > 0


def find_remote_connector(conn: Any, connector_id: str) -> tuple[str, Connector, str] | None:
    """A remote partner's connector by id, before the tenant is known: (tenant, connector,
    shared secret)."""
    row = (
        conn.execute(
            select(connectors).where(connectors.c.id == connector_id, connectors.c.remote.is_(True))
        )
        .mappings()
        .first()
    )
    if row is None or not row["partner_secret"]:
        return None
    return row["tenant_id"], _connector(row), row["partner_secret"]


def linked_tenants(conn: Any) -> list[str]:
    """Tenants of this deployment whose device management lives elsewhere."""
    return [r[0] for r in conn.execute(select(partner_links.c.tenant_id))]


def all_connector_tenants(conn: Any) -> list[str]:
    return [r[0] for r in conn.execute(select(connectors.c.tenant_id).distinct())]
