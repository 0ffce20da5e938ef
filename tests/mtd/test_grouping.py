"""The window, naming and triage rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stockade.core.model import Severity
from stockade.mtd.grouping import highest, incident_name, within_window
from stockade.mtd.model import Classification as C
from stockade.mtd.model import Determination as D
from stockade.mtd.triage import DETERMINATIONS, next_triage, triage_problem

T = datetime(2026, 11, 20, 12, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        ((T, T), True),
        ((T + 24 * H, T + 24 * H), True),  # on the edge after the last event
        ((T + 24 * H + timedelta(seconds=1),) * 2, False),
        ((T - 2 * H - 24 * H, T - 2 * H - 24 * H), True),  # on the edge before the first
        ((T - 27 * H, T - 27 * H), False),
        ((T - 30 * H, T + 30 * H), True),  # a batch spanning the alert
    ],
)
def test_within_window(at: tuple[datetime, datetime], inside: bool) -> None:
    assert within_window((T - 2 * H, T), at, 24 * H) is inside


def test_highest_severity() -> None:
    assert highest([Severity.LOW, Severity.HIGH, Severity.MEDIUM]) is Severity.HIGH
    assert highest([]) is Severity.INFORMATIONAL


def test_incident_names() -> None:
    assert incident_name([("Reverse shell", "Execution")], 1, 1) == (
        "'Reverse shell' on one endpoint"
    )
    assert incident_name([("A", "Execution"), ("B", "Execution")], 2, 1) == (
        "Multiple alerts (Execution) on 2 endpoints"
    )
    assert incident_name(
        [("A", "Execution"), ("B", "PrivilegeEscalation"), ("C", "DefenseEvasion")], 3, 2
    ) == (
        "Multi-stage incident involving Execution, PrivilegeEscalation & DefenseEvasion "
        "on 3 endpoints of 2 users"
    )


def test_every_determination_has_a_classification() -> None:
    paired = set().union(*DETERMINATIONS.values())
    assert paired == set(D)


def test_triage_pairs() -> None:
    assert triage_problem(C.TRUE_POSITIVE, D.MALWARE) is None
    assert triage_problem(C.INFORMATIONAL_EXPECTED_ACTIVITY, D.SECURITY_TESTING) is None
    assert triage_problem(None, None) is None
    assert triage_problem(C.TRUE_POSITIVE, None) is None
    assert "needs a classification" in (triage_problem(None, D.MALWARE) or "")
    assert "securityTesting" in (triage_problem(C.FALSE_POSITIVE, D.SECURITY_TESTING) or "")


def test_next_triage_clears_a_determination_that_no_longer_fits() -> None:
    current = (C.TRUE_POSITIVE, D.MALWARE)
    assert next_triage(current, C.FALSE_POSITIVE, None) == (C.FALSE_POSITIVE, None)
    assert next_triage(current, C.TRUE_POSITIVE, None) == current
    assert next_triage(current, None, D.APT) == (C.TRUE_POSITIVE, D.APT)
    assert next_triage(current, None, None) == current
    # an explicit misfit is kept so that the validation refuses it
    assert next_triage(current, C.FALSE_POSITIVE, D.MALWARE) == (C.FALSE_POSITIVE, D.MALWARE)
