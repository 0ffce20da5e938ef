"""Machine risk from alerts. Pure.

The rule: a machine's `riskScore` is the highest severity among its **active** alerts (status
`new` or `inProgress`): high -> High, medium -> Medium, low -> Low, informational ->
Informational; with no active alert it is None. Resolved alerts never count, so resolving the
last high alert lowers the risk at once.

A floor may raise it: when the tenant turned on `raiseRiskForExploitedVulnerabilities` and the
device has software with a vulnerability exploited in the wild (CISA KEV), the risk is at least
High until that software is fixed or the setting is turned off (see docs/vulnerability.md).
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


_ORDER = [RiskScore.NONE, RiskScore.INFORMATIONAL, RiskScore.LOW, RiskScore.MEDIUM, RiskScore.HIGH]


def at_least(risk: RiskScore, floor: RiskScore) -> RiskScore:
    return risk if _ORDER.index(risk) >= _ORDER.index(floor) else floor
