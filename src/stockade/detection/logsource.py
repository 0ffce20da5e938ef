"""Routing of Sigma log sources to the events that carry them.

A Sigma rule names a log source (`product`, `category`, `service`) instead of an event type.
The table below says which Windows events belong to which log source; a compiled rule only
looks at events the table admits (its *pre-condition*).

Categories (product ``windows``), as (channel, EventID) pairs:

=====================  ==========================================================
category               events
=====================  ==========================================================
process_creation       Sysmon EventID 1, Security EventID 4688
network_connection     Sysmon EventID 3
image_load             Sysmon EventID 7
create_remote_thread   Sysmon EventID 8
process_access         Sysmon EventID 10
file_event             Sysmon EventID 11
registry_set           Sysmon EventID 13
=====================  ==========================================================

Services (product ``windows``), by channel only:

=========  =====================================
service    Channel
=========  =====================================
security   Security
sysmon     Microsoft-Windows-Sysmon/Operational
=========  =====================================

How the pre-condition treats an event:

1. No ``EventID`` and no ``Channel``: admitted. Simple sensors send flat telemetry without
   either, and a rule would otherwise never fire on them.
2. ``EventID`` and ``Channel`` both present: the pair must be in the table.
3. Only one of them present: that one must be in the table.
4. A log source that is not in the table has no pre-condition at all (the rule's own
   detection decides), so rules for other products still work on suitable events.

A category takes precedence over a service when a rule names both. The channel comparison
ignores case, as Windows does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CATEGORY_EVENTS",
    "SECURITY_CHANNEL",
    "SERVICE_CHANNELS",
    "SYSMON_CHANNEL",
    "LogsourceFilter",
    "event_id_of",
    "logsource_filter",
]

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SECURITY_CHANNEL = "Security"

CATEGORY_EVENTS: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {
    ("windows", "process_creation"): ((SYSMON_CHANNEL, 1), (SECURITY_CHANNEL, 4688)),
    ("windows", "network_connection"): ((SYSMON_CHANNEL, 3),),
    ("windows", "image_load"): ((SYSMON_CHANNEL, 7),),
    ("windows", "create_remote_thread"): ((SYSMON_CHANNEL, 8),),
    ("windows", "process_access"): ((SYSMON_CHANNEL, 10),),
    ("windows", "file_event"): ((SYSMON_CHANNEL, 11),),
    ("windows", "registry_set"): ((SYSMON_CHANNEL, 13),),
}

SERVICE_CHANNELS: dict[tuple[str, str], str] = {
    ("windows", "security"): SECURITY_CHANNEL,
    ("windows", "sysmon"): SYSMON_CHANNEL,
}


def event_id_of(event: Mapping[str, Any]) -> int | None:
    """The event's EventID as an int, or None if it is absent or not a whole number.

    Sensors send it as int or as text ("1"); both mean the same event.
    """
    raw = event.get("EventID")
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class LogsourceFilter:
    """Pre-condition derived from a log source: which events a rule may look at."""

    pairs: frozenset[tuple[str, int]]
    """Admitted (lower-cased channel, EventID) pairs; empty when only channels are known."""
    event_ids: frozenset[int]
    """Admitted EventIDs; empty means any EventID."""
    channels: frozenset[str]
    """Admitted channels, lower-cased; empty means any channel."""

    def admits(self, event: Mapping[str, Any]) -> bool:
        raw_id = event.get("EventID")
        raw_channel = event.get("Channel")
        if raw_id is None and raw_channel is None:
            return True
        channel = raw_channel.lower() if isinstance(raw_channel, str) else None
        if raw_id is not None and self.event_ids:
            event_id = event_id_of(event)
            if event_id not in self.event_ids:
                return False
            if channel is not None and self.pairs:
                return (channel, event_id) in self.pairs
        if raw_channel is not None and self.channels:
            return channel in self.channels
        return True


def logsource_filter(
    product: str | None, category: str | None, service: str | None
) -> LogsourceFilter | None:
    """The pre-condition for a log source, or None if the table does not know it."""
    product_key = (product or "").lower()
    if category is not None:
        events = CATEGORY_EVENTS.get((product_key, category.lower()))
        if events is not None:
            pairs = frozenset((channel.lower(), event_id) for channel, event_id in events)
            return LogsourceFilter(
                pairs=pairs,
                event_ids=frozenset(event_id for _, event_id in pairs),
                channels=frozenset(channel for channel, _ in pairs),
            )
    if service is not None:
        channel = SERVICE_CHANNELS.get((product_key, service.lower()))
        if channel is not None:
            return LogsourceFilter(
                pairs=frozenset(), event_ids=frozenset(), channels=frozenset({channel.lower()})
            )
    return None
