"""Access tables and queries: policies and the sign-in log."""

from __future__ import annotations

from datetime import datetime
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

from stockade.access.model import AccessPolicy, Conditions, Control, PolicyState
from stockade.storage.database import TenantStore
from stockade.storage.types import Json, UtcDateTime, metadata

policies = Table(
    "access_policies",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), nullable=False),
    Column("id", String(36), primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("state", String(40), nullable=False),
    Column("conditions", Json, nullable=False),
    Column("grant_controls", Json, nullable=False),
    Column("classic", Boolean, nullable=False, default=False),
    Column("connector_id", String(36), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
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


def conditions_to_json(c: Conditions) -> dict[str, Any]:
    out: dict[str, Any] = {
        "users": {
            "includeUsers": list(c.include_users),
            "excludeUsers": list(c.exclude_users),
            "includeGroups": list(c.include_groups),
            "excludeGroups": list(c.exclude_groups),
        },
        "applications": {
            "includeApplications": list(c.include_applications),
            "excludeApplications": list(c.exclude_applications),
        },
        "platforms": None,
    }
    if c.include_platforms or c.exclude_platforms:
        out["platforms"] = {
            "includePlatforms": list(c.include_platforms),
            "excludePlatforms": list(c.exclude_platforms),
        }
    return out


def conditions_from_json(raw: dict[str, Any]) -> Conditions:
    users = raw.get("users") or {}
    apps = raw.get("applications") or {}
    platforms = raw.get("platforms") or {}
    return Conditions(
        include_users=tuple(users.get("includeUsers", ())),
        exclude_users=tuple(users.get("excludeUsers", ())),
        include_groups=tuple(users.get("includeGroups", ())),
        exclude_groups=tuple(users.get("excludeGroups", ())),
        include_applications=tuple(apps.get("includeApplications", ())),
        exclude_applications=tuple(apps.get("excludeApplications", ())),
        include_platforms=tuple(platforms.get("includePlatforms", ())),
        exclude_platforms=tuple(platforms.get("excludePlatforms", ())),
    )


def _policy(row: Any) -> AccessPolicy:
    grant = row["grant_controls"]
    return AccessPolicy(
        id=row["id"],
        display_name=row["display_name"],
        state=PolicyState(row["state"]),
        conditions=conditions_from_json(row["conditions"]),
        controls=tuple(Control(c) for c in grant.get("builtInControls", ())),
        operator=grant.get("operator", "OR"),
        classic=row["classic"],
        connector_id=row["connector_id"],
        created_at=row["created_at"],
        modified_at=row["modified_at"],
    )


class AccessStore(TenantStore):
    def add_policy(self, policy: AccessPolicy) -> None:
        self.conn.execute(
            insert(policies).values(
                tenant_id=self.tenant_id,
                id=policy.id,
                display_name=policy.display_name,
                state=policy.state.value,
                conditions=conditions_to_json(policy.conditions),
                grant_controls={
                    "operator": policy.operator,
                    "builtInControls": [c.value for c in policy.controls],
                },
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
                conditions=conditions_to_json(policy.conditions),
                grant_controls={
                    "operator": policy.operator,
                    "builtInControls": [c.value for c in policy.controls],
                },
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

    def add_signin(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(signins).values(tenant_id=self.tenant_id, **row))

    def list_signins(
        self, *, limit: int, offset: int, status: str | None, since: datetime | None
    ) -> tuple[list[dict[str, Any]], int]:
        where = [signins.c.tenant_id == self.tenant_id]
        if status:
            where.append(signins.c.status == status)
        if since:
            where.append(signins.c.created_at >= since)
        total = int(self.conn.execute(select(func.count()).where(*where)).scalar_one())
        q = (
            select(signins)
            .where(*where)
            .order_by(signins.c.created_at.desc(), signins.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [dict(r) for r in self.conn.execute(q).mappings()], total
