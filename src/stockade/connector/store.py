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
    delete,
    insert,
    select,
    update,
)

from stockade.connector.model import Connector, PartnerState
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

    def add(self, c: Connector) -> None:
        values = {f: getattr(c, f) for f in _FIELDS}
        values["partner_state"] = c.partner_state.value
        self.conn.execute(insert(connectors).values(tenant_id=self.tenant_id, id=c.id, **values))

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
