"""Access tables and queries: policies, named locations, app settings and the sign-in log."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from ipaddress import ip_network
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from stockade.access.model import AccessPolicy, NamedLocation
from stockade.access.policy_json import build_policy
from stockade.storage.database import TenantStore
from stockade.storage.types import Json, UtcDateTime, metadata

policies = Table(
    "access_policies",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("state", String(40), nullable=False),
    Column("definition", Json, nullable=False),
    Column("classic", Boolean, nullable=False, default=False),
    Column("connector_id", String(36), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

named_locations = Table(
    "access_named_locations",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),  # ip | country
    Column("is_trusted", Boolean, nullable=False),
    Column("ip_ranges", Json, nullable=False),
    Column("countries", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

app_settings = Table(
    "access_app_settings",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("app_id", String(200), primary_key=True),
    Column("fail_open", Boolean, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

signins = Table(
    "access_signins",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("user_principal_name", String(320), nullable=True),
    Column("app_id", String(200), nullable=False),
    Column("device_id", String(36), nullable=True),
    Column("device_name", String(200), nullable=True),
    Column("ip_address", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("allowed", Boolean, nullable=False),
    Column("applied_policies", Json, nullable=False),
    Column("reasons", Json, nullable=False),
    Column("failure_reason", Text, nullable=True),
    Index("ix_access_signins_time", "tenant_id", "created_at"),
)


def _policy(row: Any) -> AccessPolicy:
    return replace(
        build_policy(row["definition"], classic=row["classic"]),
        id=row["id"],
        classic=row["classic"],
        connector_id=row["connector_id"],
        created_at=row["created_at"],
        modified_at=row["modified_at"],
    )


def _location(row: Any) -> NamedLocation:
    return NamedLocation(
        id=row["id"],
        display_name=row["display_name"],
        is_trusted=row["is_trusted"],
        ranges=tuple(ip_network(r, strict=False) for r in row["ip_ranges"]),
        countries=tuple(row["countries"]),
        created_at=row["created_at"],
        modified_at=row["modified_at"],
    )


class AccessStore(TenantStore):
    # policies
    def add_policy(self, policy: AccessPolicy) -> None:
        self.conn.execute(
            insert(policies).values(
                tenant_id=self.tenant_id,
                id=policy.id,
                display_name=policy.display_name,
                state=policy.state.value,
                definition=policy.definition,
                classic=policy.classic,
                connector_id=policy.connector_id,
                created_at=policy.created_at,
                modified_at=policy.modified_at,
            )
        )

    def replace_policy(self, policy: AccessPolicy) -> None:
        self.conn.execute(
            update(policies)
            .where(policies.c.tenant_id == self.tenant_id, policies.c.id == policy.id)
            .values(
                display_name=policy.display_name,
                state=policy.state.value,
                definition=policy.definition,
                modified_at=policy.modified_at,
            )
        )

    def get_policy(self, policy_id: str) -> AccessPolicy | None:
        row = (
            self.conn.execute(
                select(policies).where(
                    policies.c.tenant_id == self.tenant_id, policies.c.id == policy_id
                )
            )
            .mappings()
            .first()
        )
        return _policy(row) if row else None

    def list_policies(self) -> list[AccessPolicy]:
        q = select(policies).where(policies.c.tenant_id == self.tenant_id)
        return [_policy(r) for r in self.conn.execute(q.order_by(policies.c.created_at)).mappings()]

    def delete_policy(self, policy_id: str) -> bool:
        result = self.conn.execute(
            delete(policies).where(
                policies.c.tenant_id == self.tenant_id, policies.c.id == policy_id
            )
        )
        return result.rowcount > 0

    def delete_classic(self, connector_id: str) -> int:
        result = self.conn.execute(
            delete(policies).where(
                policies.c.tenant_id == self.tenant_id,
                policies.c.classic.is_(True),
                policies.c.connector_id == connector_id,
            )
        )
        return result.rowcount

    # named locations
    def add_location(self, location: NamedLocation) -> None:
        self.conn.execute(
            insert(named_locations).values(
                tenant_id=self.tenant_id,
                id=location.id,
                display_name=location.display_name,
                kind="country" if location.countries else "ip",
                is_trusted=location.is_trusted,
                ip_ranges=[str(r) for r in location.ranges],
                countries=list(location.countries),
                created_at=location.created_at,
                modified_at=location.modified_at,
            )
        )

    def replace_location(self, location: NamedLocation) -> None:
        self.conn.execute(
            update(named_locations)
            .where(
                named_locations.c.tenant_id == self.tenant_id,
                named_locations.c.id == location.id,
            )
            .values(
                display_name=location.display_name,
                is_trusted=location.is_trusted,
                ip_ranges=[str(r) for r in location.ranges],
                countries=list(location.countries),
                modified_at=location.modified_at,
            )
        )

    def list_locations(self) -> list[NamedLocation]:
        q = select(named_locations).where(named_locations.c.tenant_id == self.tenant_id)
        return [
            _location(r)
            for r in self.conn.execute(q.order_by(named_locations.c.created_at)).mappings()
        ]

    def delete_location(self, location_id: str) -> bool:
        result = self.conn.execute(
            delete(named_locations).where(
                named_locations.c.tenant_id == self.tenant_id,
                named_locations.c.id == location_id,
            )
        )
        return result.rowcount > 0

    # application settings
    def fail_open_apps(self) -> set[str]:
        q = select(app_settings.c.app_id).where(
            app_settings.c.tenant_id == self.tenant_id, app_settings.c.fail_open.is_(True)
        )
        return {r[0] for r in self.conn.execute(q)}

    def set_fail_open(self, app_id: str, fail_open: bool, at: datetime) -> None:
        self.conn.execute(
            delete(app_settings).where(
                app_settings.c.tenant_id == self.tenant_id, app_settings.c.app_id == app_id
            )
        )
        self.conn.execute(
            insert(app_settings).values(
                tenant_id=self.tenant_id, app_id=app_id, fail_open=fail_open, modified_at=at
            )
        )

    # sign-in log
    def add_signin(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(signins).values(tenant_id=self.tenant_id, **row))

    def list_signins(
        self,
        *,
        limit: int,
        offset: int,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        user: str | None = None,
        app_id: str | None = None,
        device_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        where = [signins.c.tenant_id == self.tenant_id]
        if status:
            where.append(signins.c.status == status)
        if since:
            where.append(signins.c.created_at >= since)
        if until:
            where.append(signins.c.created_at < until)
        if user:
            where.append(
                (signins.c.user_id == user) | (signins.c.user_principal_name == user.lower())
            )
        if app_id:
            where.append(signins.c.app_id == app_id)
        if device_id:
            where.append(signins.c.device_id == device_id)
        total = int(self.conn.execute(select(func.count()).where(*where)).scalar_one())
        q = (
            select(signins)
            .where(*where)
            .order_by(signins.c.created_at.desc(), signins.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [dict(r) for r in self.conn.execute(q).mappings()], total


def purge_signins(conn: Any, before: datetime) -> int:
    """Retention: drop sign-ins older than `before`, across tenants (an operator duty)."""
    return int(conn.execute(delete(signins).where(signins.c.created_at < before)).rowcount)
