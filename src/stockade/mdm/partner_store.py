"""Device management's record of the threat-defense partner, per platform and per device."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, String, Table, delete, insert, select

from stockade.mdm.model import PartnerCompliance
from stockade.storage.database import TenantStore
from stockade.storage.types import metadata

partner_compliance = Table(
    "mdm_partner_compliance",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("platform", String(16), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("responsive", Boolean, nullable=False),
    Column("blocked_on_missing_data", Boolean, nullable=False),
    Column("unsupported_os_blocked", Boolean, nullable=False),
)

partner_device_flags = Table(
    "mdm_partner_device_flags",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("device_id", String(36), primary_key=True),  # the directory (Azure AD) device id
    Column("unsupported_os", Boolean, nullable=False),
)


class PartnerStore(TenantStore):
    def get(self, platform: str) -> PartnerCompliance | None:
        row = (
            self.conn.execute(
                select(partner_compliance).where(
                    partner_compliance.c.tenant_id == self.tenant_id,
                    partner_compliance.c.platform == platform,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return PartnerCompliance(
            enabled=row["enabled"],
            responsive=row["responsive"],
            blocked_on_missing_data=row["blocked_on_missing_data"],
            unsupported_os_blocked=row["unsupported_os_blocked"],
        )

    def set(self, platform: str, value: PartnerCompliance) -> None:
        self.conn.execute(
            delete(partner_compliance).where(
                partner_compliance.c.tenant_id == self.tenant_id,
                partner_compliance.c.platform == platform,
            )
        )
        self.conn.execute(
            insert(partner_compliance).values(
                tenant_id=self.tenant_id,
                platform=platform,
                enabled=value.enabled,
                responsive=value.responsive,
                blocked_on_missing_data=value.blocked_on_missing_data,
                unsupported_os_blocked=value.unsupported_os_blocked,
            )
        )

    def unsupported_os(self, device_id: str) -> bool:
        row = self.conn.execute(
            select(partner_device_flags.c.unsupported_os).where(
                partner_device_flags.c.tenant_id == self.tenant_id,
                partner_device_flags.c.device_id == device_id,
            )
        ).first()
        return bool(row[0]) if row else False

    def set_unsupported_os(self, device_id: str, unsupported: bool) -> None:
        self.conn.execute(
            delete(partner_device_flags).where(
                partner_device_flags.c.tenant_id == self.tenant_id,
                partner_device_flags.c.device_id == device_id,
            )
        )
        self.conn.execute(
            insert(partner_device_flags).values(
                tenant_id=self.tenant_id, device_id=device_id, unsupported_os=unsupported
            )
        )
