"""When evidence joins an alert and alerts join an incident. Pure.

Alert window: a match (or a mobile finding) of one rule on one machine joins that rule's
**active** alert on the machine when its event time is within the window of the alert's events
(no earlier than `firstEventTime - window`, no later than `lastEventTime + window`). The window
slides: each joining event stretches the alert, so a signal that keeps recurring stays one
alert. A match further away raises a new alert; the older one keeps its evidence and status
(and counts for risk until it is resolved). A resolved alert never takes new evidence.

Incident window: a new alert joins an **active** incident that holds an alert on the same
machine, or on a machine of the same user, whose events are within the window of the new
alert's events (same test as above). With no such incident, the alert opens a new one. When
the alert fits several incidents, they are merged: the oldest one takes every alert and the
others become `redirected` to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from stockade.core.model import Severity

DEFAULT_ALERT_WINDOW = timedelta(hours=24)
DEFAULT_INCIDENT_WINDOW = timedelta(hours=24)


def within_window(
    span: tuple[datetime, datetime], at: tuple[datetime, datetime], window: timedelta
) -> bool:
    """True when the events of `at` (first, last) lie within `window` of `span` (first, last)."""
    return at[0] <= span[1] + window and at[1] >= span[0] - window


def highest(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.INFORMATIONAL)


def incident_name(alerts: Iterable[tuple[str, str]], machine_count: int, user_count: int) -> str:
    """Defender-style name from its alerts' (title, category) pairs.

    One alert title: "'<title>' on one endpoint"; several: "Multi-stage incident involving
    <categories> on <n> endpoints" (and "reported by <n> users" when more than one user).
    """
    pairs = list(alerts)
    titles = list(dict.fromkeys(title for title, _ in pairs))
    categories = list(dict.fromkeys(cat for _, cat in pairs if cat))
    where = "one endpoint" if machine_count <= 1 else f"{machine_count} endpoints"
    if user_count > 1:
        where += f" of {user_count} users"
    if len(titles) <= 1:
        return f"'{titles[0] if titles else 'Alert'}' on {where}"
    if len(categories) <= 1:
        return f"Multiple alerts ({categories[0] if categories else 'Unknown'}) on {where}"
    shown = " & ".join([", ".join(categories[:-1]), categories[-1]])
    return f"Multi-stage incident involving {shown} on {where}"
