"""The remediation link: a remediation activity (threat defense) becomes a security task
(device management), and the task's status and notes come back to the activity.

Neither side imports the other; this module holds both and translates between their words.
In the embedded deployment it is a direct call, like the threat-level pushes.
"""

from __future__ import annotations

from datetime import datetime

from stockade.mdm.tasks.model import SecurityTask, SecurityTaskPriority, SecurityTaskStatus
from stockade.mdm.tasks.service import SecurityTaskService
from stockade.vulnerability.service import VulnerabilityService

_PRIORITY = {"high": SecurityTaskPriority.HIGH, "low": SecurityTaskPriority.LOW}


class RemediationLink:
    def __init__(self, vulnerability: VulnerabilityService, tasks: SecurityTaskService) -> None:
        self.vulnerability = vulnerability
        self.tasks = tasks
        vulnerability.attach_channel(self)
        tasks.subscribe(self.on_task_changed)

    # threat defense -> device management
    def request_task(
        self,
        tenant_id: str,
        *,
        remediation_id: str,
        title: str,
        description: str,
        product: str,
        vendor: str,
        recommended_version: str | None,
        remediation_type: str,
        device_ids: list[str],
        priority: str,
        due_at: datetime | None,
        notes: str,
    ) -> str:
        task = self.tasks.create(
            tenant_id,
            remediation_id=remediation_id,
            display_name=title,
            description=description,
            app_name=product,
            app_publisher=vendor,
            app_version=recommended_version,
            mitigation_type=remediation_type.lower(),
            device_ids=device_ids,
            priority=_PRIORITY.get(priority.lower(), SecurityTaskPriority.NONE),
            due_date_time=due_at,
            note=("security administrator", notes) if notes else None,
        )
        return task.id

    def add_note(self, tenant_id: str, task_id: str, author: str, text: str) -> None:
        self.tasks.update(tenant_id, task_id, author=author, note=text)

    def complete_task(self, tenant_id: str, task_id: str, note: str) -> None:
        self.tasks.update(
            tenant_id,
            task_id,
            author="threat defense",
            status=SecurityTaskStatus.COMPLETED,
            note=note,
        )

    # device management -> threat defense
    def on_task_changed(self, tenant_id: str, task: SecurityTask) -> None:
        self.vulnerability.on_task_changed(
            tenant_id, task.remediation_id, task.status.value, list(task.notes)
        )
