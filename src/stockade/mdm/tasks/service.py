"""Security tasks on the device-management side: received from threat defense through the
connector, accepted or rejected (with notes) and completed by the Intune admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from stockade.core.clock import Clock
from stockade.core.errors import Conflict, InvalidInput, NotFound
from stockade.mdm.tasks.model import (
    TRANSITIONS,
    SecurityTask,
    SecurityTaskPriority,
    SecurityTaskStatus,
)
from stockade.mdm.tasks.store import SecurityTaskStore
from stockade.storage.database import Database

TaskListener = Callable[[str, SecurityTask], None]


class SecurityTaskService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._listeners: list[TaskListener] = []

    def subscribe(self, listener: TaskListener) -> None:
        """Called with (tenant id, task) after every change; the connector listens."""
        self._listeners.append(listener)

    def _notify(self, tenant_id: str, task: SecurityTask) -> None:
        for listener in self._listeners:
            listener(tenant_id, task)

    def create(
        self,
        tenant_id: str,
        *,
        remediation_id: str,
        display_name: str,
        description: str,
        app_name: str,
        app_publisher: str,
        app_version: str | None,
        mitigation_type: str,
        device_ids: list[str],
        priority: SecurityTaskPriority,
        due_date_time: datetime | None,
        note: tuple[str, str] | None,
    ) -> SecurityTask:
        now = self.clock.now()
        task = SecurityTask(
            id=str(uuid.uuid4()),
            remediation_id=remediation_id,
            display_name=display_name,
            description=description,
            app_name=app_name,
            app_publisher=app_publisher,
            app_version=app_version,
            mitigation_type=mitigation_type,
            device_ids=tuple(device_ids),
            priority=priority,
            due_date_time=due_date_time,
            status=SecurityTaskStatus.PENDING,
            notes=(_note(note[0], note[1], now),) if note else (),
            created_date_time=now,
            last_modified_date_time=now,
        )
        with self.db.begin() as conn:
            SecurityTaskStore(conn, tenant_id).add(task)
        return task

    def get(self, tenant_id: str, task_id: str) -> SecurityTask:
        with self.db.read() as conn:
            task = SecurityTaskStore(conn, tenant_id).get(task_id)
        if task is None:
            raise NotFound(f"no security task {task_id}")
        return task

    def list(self, tenant_id: str, status: SecurityTaskStatus | None = None) -> list[SecurityTask]:
        with self.db.read() as conn:
            return SecurityTaskStore(conn, tenant_id).list(status)

    def update(
        self,
        tenant_id: str,
        task_id: str,
        *,
        author: str,
        status: SecurityTaskStatus | None = None,
        note: str | None = None,
    ) -> SecurityTask:
        """Move the task on (accept, reject, complete) and/or add a note. Rejecting needs a
        note saying why, so the security admin learns it."""
        if status is SecurityTaskStatus.REJECTED and not note:
            raise InvalidInput("a rejected task needs a note saying why", field="note")
        now = self.clock.now()
        with self.db.begin() as conn:
            s = SecurityTaskStore(conn, tenant_id)
            task = s.get(task_id)
            if task is None:
                raise NotFound(f"no security task {task_id}")
            if status is not None and status is not task.status:
                if status not in TRANSITIONS[task.status]:
                    raise Conflict(
                        f"task is {task.status.value}; it cannot become {status.value}",
                        currentStatus=task.status.value,
                    )
                task = replace(task, status=status)
            if note:
                task = replace(task, notes=(*task.notes, _note(author, note, now)))
            task = replace(task, last_modified_date_time=now)
            s.save(task)
        self._notify(tenant_id, task)
        return task


def _note(author: str, text: str, at: datetime) -> dict[str, str]:
    return {"author": author, "text": text, "createdDateTime": at.isoformat()}
