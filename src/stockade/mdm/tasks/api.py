"""Security tasks HTTP API (Intune's `deviceAppManagementTasks`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from stockade.core.errors import InvalidInput
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import require, services
from stockade.http.schema import Body, collection
from stockade.mdm.tasks.model import SecurityTask, SecurityTaskStatus
from stockade.services import Services

router = APIRouter(prefix="/api/deviceManagement", tags=["device management"])


def task_json(t: SecurityTask) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.appVulnerabilityTask",
        "id": t.id,
        "displayName": t.display_name,
        "description": t.description,
        "category": t.category,
        "priority": t.priority.value,
        "status": t.status.value,
        "dueDateTime": t.due_date_time,
        "createdDateTime": t.created_date_time,
        "lastModifiedDateTime": t.last_modified_date_time,
        "appName": t.app_name,
        "appPublisher": t.app_publisher,
        "appVersion": t.app_version,
        "mitigationType": t.mitigation_type,
        "managedDeviceCount": len(t.device_ids),
        "deviceIds": list(t.device_ids),
        "remediationActivityId": t.remediation_id,
        "notes": list(t.notes),
    }


class TaskPatch(Body):
    status: SecurityTaskStatus | None = None
    note: str | None = Field(default=None, max_length=4000)


@router.get("/deviceAppManagementTasks")
def list_tasks(
    status: SecurityTaskStatus | None = None,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return collection([task_json(t) for t in s.security_tasks.list(p.tenant_id, status)])


@router.get("/deviceAppManagementTasks/{task_id}")
def get_task(
    task_id: str,
    p: AdminPrincipal = require(Permission.MDM_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return task_json(s.security_tasks.get(p.tenant_id, task_id))


@router.patch("/deviceAppManagementTasks/{task_id}")
def patch_task(
    task_id: str,
    body: TaskPatch,
    p: AdminPrincipal = require(Permission.MDM_TASK_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Accept (`active`), reject (`rejected`, with a `note` saying why), complete, or add a
    note; the remediation activity on the threat-defense side follows."""
    if body.status is None and not body.note:
        raise InvalidInput("give a status, a note or both", field="status")
    task = s.security_tasks.update(
        p.tenant_id,
        task_id,
        author=f"{p.role.value} (token {p.token_id})",
        status=body.status,
        note=body.note,
    )
    return task_json(task)
