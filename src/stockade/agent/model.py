"""What the agent keeps between runs, and how it stops."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class AgentStopped(Exception):
    """The server no longer accepts this device; the agent stops and says why."""

    exit_code = 3


class NotEnrolled(Exception):
    exit_code = 2


@dataclass
class AgentState:
    server: str
    managed_device_id: str
    device_id: str
    credential: str
    """The device credential (`sdv_...`); the state file is readable by its owner only."""
    user_principal_name: str
    sensor_credential: str = ""
    ingest_url: str = ""
    onboarded_profile: str = ""
    """`id@lastModifiedDateTime` of the onboarding profile last applied."""
    profile_statuses: list[dict[str, Any]] = field(default_factory=list)
    """Outcomes to report at the next check-in."""
    offsets: dict[str, int] = field(default_factory=dict)
    """Bytes of each tailed file already copied into the buffer."""
    next_check_in_seconds: int = 180

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AgentState:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def __repr__(self) -> str:  # credentials stay out of logs
        return f"AgentState(server={self.server!r}, device={self.managed_device_id!r})"
