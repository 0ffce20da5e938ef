"""MTD records, named after the Defender API's machine and alert entities."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from stockade.core.model import RiskScore, Severity


class AlertStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "inProgress"
    RESOLVED = "resolved"

    @property
    def active(self) -> bool:
        return self is not AlertStatus.RESOLVED


@dataclass(frozen=True)
class Machine:
    id: str
    aad_device_id: str
    computer_dns_name: str
    os_platform: str
    """`Windows10`, `Windows11`, `Android` or `iOS` (Defender `osPlatform`)."""
    os_version: str
    risk_score: RiskScore
    risk_sequence: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Alert:
    id: str
    machine_id: str
    rule_id: str
    title: str
    description: str
    severity: Severity
    status: AlertStatus
    category: str
    mitre_techniques: tuple[str, ...]
    first_event_time: datetime
    last_event_time: datetime
    created_at: datetime
    resolved_at: datetime | None
    evidence_count: int = 0
    evidence: tuple[dict[str, Any], ...] = field(default=())
