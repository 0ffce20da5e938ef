"""Security task records, named after Intune's `appVulnerabilityTask`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class SecurityTaskStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    COMPLETED = "completed"


class SecurityTaskPriority(StrEnum):
    NONE = "none"
    HIGH = "high"
    LOW = "low"


# pending -> active (accepted) | rejected (with notes); active -> completed | rejected.
TRANSITIONS: dict[SecurityTaskStatus, frozenset[SecurityTaskStatus]] = {
    SecurityTaskStatus.PENDING: frozenset(
        {SecurityTaskStatus.ACTIVE, SecurityTaskStatus.REJECTED, SecurityTaskStatus.COMPLETED}
    ),
    SecurityTaskStatus.ACTIVE: frozenset(
        {SecurityTaskStatus.COMPLETED, SecurityTaskStatus.REJECTED}
    ),
    SecurityTaskStatus.REJECTED: frozenset(),
    SecurityTaskStatus.COMPLETED: frozenset(),
}


@dataclass(frozen=True)
class SecurityTask:
    id: str
    remediation_id: str
    display_name: str
    description: str
    app_name: str
    app_publisher: str
    app_version: str | None
    """The version to reach (the recommendation's recommendedVersion)."""
    mitigation_type: str
    """`update`, `upgrade` or `uninstall`."""
    device_ids: tuple[str, ...]
    priority: SecurityTaskPriority
    due_date_time: datetime | None
    status: SecurityTaskStatus
    notes: tuple[dict[str, Any], ...]
    created_date_time: datetime
    last_modified_date_time: datetime
    category: str = field(default="advancedThreatProtection")
