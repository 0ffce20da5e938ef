"""Detection tables: each tenant's own rules, per-rule switches, and a revision counter.

The revision grows with every change of a tenant's rule set, in the same transaction, so
every process can tell cheaply whether the engine it holds for the tenant is still current.
"""

from __future__ import annotations

from datetime import datetime
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

from stockade.storage.database import TenantStore
from stockade.storage.types import UtcDateTime, metadata

__all__ = ["DetectionStore", "custom_rules", "rule_sets", "rule_states"]

custom_rules = Table(
    "detection_custom_rules",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("query_text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

rule_states = Table(
    "detection_rule_states",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("is_enabled", Boolean, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

rule_sets = Table(
    "detection_rule_sets",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("revision", Integer, nullable=False),
)


class DetectionStore(TenantStore):
    def revision(self) -> int:
        value = self.conn.execute(
            select(rule_sets.c.revision).where(rule_sets.c.tenant_id == self.tenant_id)
        ).scalar()
        return int(value or 0)

    def bump_revision(self) -> None:
        changed = self.conn.execute(
            update(rule_sets)
            .where(rule_sets.c.tenant_id == self.tenant_id)
            .values(revision=rule_sets.c.revision + 1)
        ).rowcount
        if not changed:
            self.conn.execute(insert(rule_sets).values(tenant_id=self.tenant_id, revision=1))

    def custom_rules(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(custom_rules)
            .where(custom_rules.c.tenant_id == self.tenant_id)
            .order_by(custom_rules.c.created_at, custom_rules.c.id)
        ).mappings()
        return [dict(row) for row in rows]

    def custom_rule(self, rule_id: str) -> dict[str, Any] | None:
        row = (
            self.conn.execute(
                select(custom_rules).where(
                    custom_rules.c.tenant_id == self.tenant_id, custom_rules.c.id == rule_id
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    def add_custom_rule(self, rule_id: str, query_text: str, now: datetime) -> None:
        self.conn.execute(
            insert(custom_rules).values(
                tenant_id=self.tenant_id,
                id=rule_id,
                query_text=query_text,
                created_at=now,
                modified_at=now,
            )
        )

    def delete_custom_rule(self, rule_id: str) -> None:
        self.conn.execute(
            delete(custom_rules).where(
                custom_rules.c.tenant_id == self.tenant_id, custom_rules.c.id == rule_id
            )
        )
        self.conn.execute(
            delete(rule_states).where(
                rule_states.c.tenant_id == self.tenant_id, rule_states.c.rule_id == rule_id
            )
        )

    def disabled(self) -> set[str]:
        rows = self.conn.execute(
            select(rule_states.c.rule_id).where(
                rule_states.c.tenant_id == self.tenant_id, rule_states.c.is_enabled.is_(False)
            )
        )
        return {row[0] for row in rows}

    def set_enabled(self, rule_id: str, enabled: bool, now: datetime) -> None:
        changed = self.conn.execute(
            update(rule_states)
            .where(rule_states.c.tenant_id == self.tenant_id, rule_states.c.rule_id == rule_id)
            .values(is_enabled=enabled, modified_at=now)
        ).rowcount
        if not changed:
            self.conn.execute(
                insert(rule_states).values(
                    tenant_id=self.tenant_id, rule_id=rule_id, is_enabled=enabled, modified_at=now
                )
            )
