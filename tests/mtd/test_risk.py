"""Machine risk: the highest severity among active alerts."""

from __future__ import annotations

import pytest

from stockade.core.model import RiskScore, Severity
from stockade.mtd.model import AlertStatus
from stockade.mtd.risk import machine_risk


def test_no_alerts_is_none() -> None:
    assert machine_risk([]) is RiskScore.NONE


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.INFORMATIONAL, RiskScore.INFORMATIONAL),
        (Severity.LOW, RiskScore.LOW),
        (Severity.MEDIUM, RiskScore.MEDIUM),
        (Severity.HIGH, RiskScore.HIGH),
    ],
)
def test_single_active_alert_sets_the_risk(severity: Severity, expected: RiskScore) -> None:
    assert machine_risk([(severity, AlertStatus.NEW)]) is expected


@pytest.mark.parametrize("status", [AlertStatus.NEW, AlertStatus.IN_PROGRESS])
def test_new_and_in_progress_alerts_are_active(status: AlertStatus) -> None:
    assert machine_risk([(Severity.MEDIUM, status)]) is RiskScore.MEDIUM


def test_highest_active_severity_wins_whatever_the_order() -> None:
    alerts = [
        (Severity.LOW, AlertStatus.NEW),
        (Severity.HIGH, AlertStatus.IN_PROGRESS),
        (Severity.INFORMATIONAL, AlertStatus.NEW),
        (Severity.MEDIUM, AlertStatus.NEW),
    ]
    assert machine_risk(alerts) is RiskScore.HIGH
    assert machine_risk(reversed(alerts)) is RiskScore.HIGH


def test_resolved_alerts_never_count() -> None:
    alerts = [
        (Severity.HIGH, AlertStatus.RESOLVED),
        (Severity.LOW, AlertStatus.NEW),
    ]
    assert machine_risk(alerts) is RiskScore.LOW


def test_only_resolved_alerts_is_none() -> None:
    alerts = [(Severity.HIGH, AlertStatus.RESOLVED), (Severity.MEDIUM, AlertStatus.RESOLVED)]
    assert machine_risk(alerts) is RiskScore.NONE


def test_resolving_the_last_high_alert_lowers_the_risk_at_once() -> None:
    before = [(Severity.HIGH, AlertStatus.NEW), (Severity.MEDIUM, AlertStatus.IN_PROGRESS)]
    after = [(Severity.HIGH, AlertStatus.RESOLVED), (Severity.MEDIUM, AlertStatus.IN_PROGRESS)]
    assert machine_risk(before) is RiskScore.HIGH
    assert machine_risk(after) is RiskScore.MEDIUM


def test_informational_only_is_informational_not_none() -> None:
    alerts = [(Severity.INFORMATIONAL, AlertStatus.NEW)] * 3
    assert machine_risk(alerts) is RiskScore.INFORMATIONAL


def test_accepts_any_iterable_such_as_a_generator() -> None:
    alerts = ((s, AlertStatus.NEW) for s in (Severity.LOW, Severity.MEDIUM))
    assert machine_risk(alerts) is RiskScore.MEDIUM
