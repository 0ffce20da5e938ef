"""Log source pre-conditions: a rule only looks at the events of its log source."""

from __future__ import annotations

from typing import Any

import pytest

from stockade.detection import CompiledRule, load_rule_text
from stockade.detection.logsource import (
    SECURITY_CHANNEL,
    SYSMON_CHANNEL,
    event_id_of,
    logsource_filter,
)

PROCESS_FIELDS = {
    "Image": r"C:\Windows\System32\cmd.exe",
    "CommandLine": "cmd.exe /c whoami",
}


def make_rule(logsource: str) -> CompiledRule:
    text = (
        "title: Shell runs whoami\n"
        f"logsource:\n{logsource}\n"
        "detection:\n"
        "    sel:\n"
        "        Image|endswith: '\\cmd.exe'\n"
        "        CommandLine|contains: 'whoami'\n"
        "    condition: sel\n"
    )
    rule_set = load_rule_text(text, "test.yml")
    assert rule_set.problems == ()
    return rule_set.rules[0]


PROCESS_CREATION = "    product: windows\n    category: process_creation"


def event(**overrides: Any) -> dict[str, Any]:
    return {**PROCESS_FIELDS, **overrides}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"EventID": 1, "Channel": SYSMON_CHANNEL}, True),
        ({"EventID": 4688, "Channel": SECURITY_CHANNEL}, True),
        ({"EventID": 4688}, True),
        ({"EventID": "1"}, True),
        ({"Channel": SYSMON_CHANNEL}, True),
        ({"Channel": "microsoft-windows-sysmon/operational"}, True),
        ({}, True),  # flat telemetry from simple sensors
        ({"EventID": 3, "Channel": SYSMON_CHANNEL}, False),
        ({"EventID": 3}, False),
        ({"EventID": 4688, "Channel": SYSMON_CHANNEL}, False),
        ({"EventID": 1, "Channel": SECURITY_CHANNEL}, False),
        ({"Channel": "Application"}, False),
        ({"EventID": "one"}, False),
    ],
)
def test_process_creation_precondition(extra: dict[str, Any], expected: bool) -> None:
    rule = make_rule(PROCESS_CREATION)

    assert rule.matches(event(**extra)) is expected


def test_precondition_does_not_replace_the_detection() -> None:
    rule = make_rule(PROCESS_CREATION)

    assert not rule.matches({"EventID": 1, "Image": r"C:\x\cmd.exe", "CommandLine": "dir"})


def test_service_precondition_checks_channel_only() -> None:
    rule = make_rule("    product: windows\n    service: security")

    assert rule.matches(event(EventID=4688, Channel="Security"))
    assert rule.matches(event(EventID=1234))  # no channel to check
    assert not rule.matches(event(EventID=1, Channel=SYSMON_CHANNEL))


def test_unknown_windows_logsource_has_no_precondition() -> None:
    rule = make_rule("    product: windows\n    category: something_new")

    assert rule.event_ids == frozenset()
    assert rule.matches(event(EventID=3, Channel="whatever"))


def test_rules_of_other_products_never_see_windows_event_logs() -> None:
    rule = make_rule("    product: zeek\n    category: process_creation")

    assert rule.event_ids == frozenset()
    assert not rule.matches(event(EventID=1, Channel=SYSMON_CHANNEL))
    assert rule.matches(event())  # flat telemetry: the detection decides
    assert rule.matches(event(Channel="Linux-Sysmon/Operational"))


@pytest.mark.parametrize(
    ("category", "event_ids"),
    [
        ("process_creation", {1, 4688}),
        ("network_connection", {3}),
        ("image_load", {7}),
        ("create_remote_thread", {8}),
        ("process_access", {10}),
        ("file_event", {11}),
        ("registry_set", {13}),
    ],
)
def test_category_table(category: str, event_ids: set[int]) -> None:
    log_filter = logsource_filter("windows", category, None)

    assert log_filter is not None
    assert log_filter.event_ids == event_ids
    assert make_rule(f"    product: windows\n    category: {category}").event_ids == event_ids


def test_category_takes_precedence_over_service() -> None:
    log_filter = logsource_filter("windows", "process_creation", "sysmon")

    assert log_filter is not None
    assert log_filter.event_ids == {1, 4688}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, 1), ("4688", 4688), (" 7 ", 7), (None, None), ("x", None), (True, None)],
)
def test_event_id_of(raw: Any, expected: int | None) -> None:
    assert event_id_of({"EventID": raw}) == expected
