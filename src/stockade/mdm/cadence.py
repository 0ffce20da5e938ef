"""When a device should check in next. Pure.

Intune's schedule: every 3 minutes for the first 15 minutes after enrollment, then every
15 minutes for the next 2 hours, then every 8 hours. Compliance does not wait for it: threat
levels, policy and assignment changes re-evaluate at once, and an admin's "sync now" reaches the
agent through its open wait for device actions (`/api/enrollment/deviceActions/wait`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

_SCHEDULE = (
    (timedelta(minutes=15), 180),
    (timedelta(minutes=15) + timedelta(hours=2), 900),
)
STEADY_SECONDS = 8 * 3600


def next_check_in_seconds(enrolled_at: datetime, now: datetime) -> int:
    age = now - enrolled_at
    for until, seconds in _SCHEDULE:
        if age < until:
            return seconds
    return STEADY_SECONDS
