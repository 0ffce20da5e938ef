"""The security task table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ForeignKey, String, Table, Text, insert, select, update

from stockade.mdm.tasks.model import SecurityTask, SecurityTaskPriority, SecurityTaskStatus
from stockade.storage.database import TenantStore
from stockade.storage.types import Json, UtcDateTime, metadata

tasks = Table(
    "mdm_security_tasks",
    metadata,
    Column("tenant_id", String(36), ForeignKey("directory_tenants.id"), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("remediation_id", String(36), nullable=False),
    Column("display_name", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("app_name", String(300), nullable=False),
    Column("app_publisher", String(300), nullable=False),
    Column("app_version", String(128), nullable=True),
    Column("mitigation_type", String(16), nullable=False),
    Column("device_ids", Json, nullable=False),
    Column("priority", String(8), nullable=False),
    Column("due_date_time", UtcDateTime, nullable=True),
    Column("status", String(16), nullable=False),
    Column("notes", Json, nullable=False),
    Column("created_date_time", UtcDateTime, nullable=False),
    Column("last_modified_date_time", UtcDateTime, nullable=False),
)

_FIELDS = (
    "remediation_id",
    "display_name",
    "description",
    "app_name",
    "app_publisher",
    "app_version",
    "mitigation_type",
    "due_date_time",
    "created_date_time",
    "last_modified_date_time",
)


def _task(row: Any) -> SecurityTask:
    return SecurityTask(
        id=row["id"],
        device_ids=tuple(row["device_ids"]),
        priority=SecurityTaskPriority(row["priority"]),
        status=SecurityTaskStatus(row["status"]),
        notes=tuple(row["notes"]),
        **{f: row[f] for f in _FIELDS},
    )


def _values(t: SecurityTask) -> dict[str, Any]:
    values = {f: getattr(t, f) for f in _FIELDS}
    values.update(
        device_ids=list(t.device_ids),
        priority=t.priority.value,
        status=t.status.value,
        notes=list(t.notes),
    )
    return values


class SecurityTaskStore(TenantStore):
    def add(self, t: SecurityTask) -> None:
        self.conn.execute(insert(tasks).values(tenant_id=self.tenant_id, id=t.id, **_values(t)))

    def save(self, t: SecurityTask) -> None:
        self.conn.execute(
            update(tasks)
            .where(tasks.c.tenant_id == self.tenant_id, tasks.c.id == t.id)
            .values(**_values(t))
        )

    def get(self, task_id: str) -> SecurityTask | None:
        q = select(tasks).where(tasks.c.tenant_id == self.tenant_id, tasks.c.id == task_id)
        row = self.conn.execute(q).mappings().first()
        return _task(row) if row else None

    def list(self, status: SecurityTaskStatus | None = None) -> list[SecurityTask]:
        q = select(tasks).where(tasks.c.tenant_id == self.tenant_id)
        if status is not None:
            q = q.where(tasks.c.status == status.value)
        return [
            _task(r) for r in self.conn.execute(q.order_by(tasks.c.created_date_time)).mappings()
        ]
