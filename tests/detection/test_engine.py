"""The engine returns exactly the rules whose predicate holds, in rule order."""

from __future__ import annotations

import itertools
from typing import Any

from stockade.core.model import Severity
from stockade.detection import CompiledRule, DetectionEngine, Match, load_rule_text
from stockade.detection.logsource import SECURITY_CHANNEL, SYSMON_CHANNEL
from stockade.detection.model import RuleInfo

RULES_TEXT = """\
title: Process cmd
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\\cmd.exe'}, condition: sel}
---
title: Network to 4444
logsource: {product: windows, category: network_connection}
detection: {sel: {DestinationPort: 4444}, condition: sel}
---
title: Anything with cmd
logsource: {product: windows, category: anything_new}
detection: {sel: {Image|contains: 'cmd'}, condition: sel}
---
title: Security channel cmd
logsource: {product: windows, service: security}
detection: {sel: {Image|endswith: '\\cmd.exe'}, condition: sel}
"""


def make_rules() -> tuple[CompiledRule, ...]:
    rule_set = load_rule_text(RULES_TEXT, "engine.yml")
    assert rule_set.problems == ()
    return rule_set.rules


def titles(matches: list[Match]) -> list[str]:
    return [match.rule.title for match in matches]


def test_match_returns_matching_rules_in_rule_order() -> None:
    engine = DetectionEngine(make_rules())

    sysmon_process = {"EventID": 1, "Channel": SYSMON_CHANNEL, "Image": r"C:\x\cmd.exe"}
    flat_process = {"Image": r"C:\x\cmd.exe", "DestinationPort": 4444}

    assert titles(engine.match(sysmon_process)) == ["Process cmd", "Anything with cmd"]
    assert titles(engine.match(flat_process)) == [
        "Process cmd",
        "Network to 4444",
        "Anything with cmd",
        "Security channel cmd",
    ]
    assert engine.match({"EventID": 3, "DestinationPort": 80}) == []


def test_index_gives_the_same_result_as_testing_every_rule() -> None:
    rules = make_rules()
    engine = DetectionEngine(rules)
    event_ids: list[Any] = [None, 1, "1", 3, 4688, 99, "junk"]
    channels: list[Any] = [None, SYSMON_CHANNEL, SECURITY_CHANNEL, "Application"]
    field_sets: list[dict[str, Any]] = [
        {"Image": r"C:\x\cmd.exe"},
        {"DestinationPort": 4444},
        {"Image": r"C:\x\cmd.exe", "DestinationPort": "4444"},
        {},
    ]

    for event_id, channel, fields in itertools.product(event_ids, channels, field_sets):
        event = dict(fields)
        if event_id is not None:
            event["EventID"] = event_id
        if channel is not None:
            event["Channel"] = channel
        expected = [rule.info for rule in rules if rule.matches(event)]
        assert [match.rule for match in engine.match(event)] == expected, event


def test_rules_built_by_hand_are_matched_by_their_predicate() -> None:
    info = RuleInfo(
        id="hand-made",
        title="Hand made",
        level=Severity.LOW,
        description="",
        tags=(),
        mitre_techniques=(),
        category="",
        source="test",
    )
    rule = CompiledRule(info=info, predicate=lambda event: event.get("x") == 1)
    engine = DetectionEngine([rule])

    assert engine.rules == (rule,)
    assert engine.match({"x": 1, "EventID": 1}) == [Match(rule=info)]
    assert engine.match({"x": 2}) == []


def test_empty_engine_matches_nothing() -> None:
    assert DetectionEngine([]).match({"EventID": 1}) == []
