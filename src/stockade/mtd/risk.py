"""Machine risk from alerts. Pure.

The rule: a machine's `riskScore` is the highest severity among its **active** alerts (status
`new` or `inProgress`): high -> High, medium -> Medium, low -> Low, informational ->
Informational; with no active alert it is None. Resolved alerts never count, so resolving the
last high alert lowers the risk at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from stockade.core.model import RiskScore, Severity
from stockade.mtd.model import AlertStatus

_BY_SEVERITY = {
    Severity.INFORMATIONAL: RiskScore.INFORMATIONAL,
    Severity.LOW: RiskScore.LOW,
    Severity.MEDIUM: RiskScore.MEDIUM,
    Severity.HIGH: RiskScore.HIGH,
}


def machine_risk(alerts: Iterable[tuple[Severity, AlertStatus]]) -> RiskScore:
    top: Severity | None = None
    for severity, status in alerts:
        if status.active and (top is None or severity.rank > top.rank):
            top = severity
    return RiskScore.NONE if top is None else _BY_SEVERITY[top]
