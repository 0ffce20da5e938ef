"""Correlation rules, streaming through the engine and flushed at the end of offline input."""

from __future__ import annotations

from typing import Any

from stockade.detection import DetectionEngine, Match, load_rule_text

BASE = """
title: Failed logon
id: 00000000-0000-4000-8000-00000000000a
name: failed_logon
logsource: {product: windows, service: security}
detection:
    sel:
        EventID: 4625
    condition: sel
level: low
---
title: Successful logon
id: 00000000-0000-4000-8000-00000000000b
name: logon
logsource: {product: windows, service: security}
detection:
    sel:
        EventID: 4624
    condition: sel
level: low
---
title: New service
id: 00000000-0000-4000-8000-00000000000c
name: new_service
logsource: {product: windows, service: system}
detection:
    sel:
        EventID: 7045
    condition: sel
level: low
"""


def correlation(body: str, generate: bool = False) -> str:
    return (
        "---\ntitle: Correlated\nid: 00000000-0000-4000-8000-0000000000ff\nlevel: high\n"
        f"correlation:\n{body}    generate: {str(generate).lower()}\n"
    )


def engine_for(body: str, generate: bool = False) -> DetectionEngine:
    rule_set = load_rule_text(BASE + correlation(body, generate), "c.yml")
    assert rule_set.problems == ()
    assert len(rule_set.correlations) == 1
    return DetectionEngine(rule_set.rules, rule_set.correlations)


def logon(event_id: int, second: int, user: str = "alex", **extra: Any) -> dict[str, Any]:
    channel = "System" if event_id == 7045 else "Security"
    return {
        "EventID": event_id,
        "Channel": channel,
        "TargetUserName": user,
        "UtcTime": f"2026-01-01 10:{second // 60:02d}:{second % 60:02d}.000",
        **extra,
    }


def run(engine: DetectionEngine, events: list[dict[str, Any]]) -> list[Match]:
    matches: list[Match] = []
    for number, event in enumerate(events, start=1):
        matches.extend(engine.match(event, reference=number))
    return matches + engine.flush()


def fired(matches: list[Match]) -> list[tuple[int, ...]]:
    return [tuple(match.events) for match in matches if match.is_correlation]  # type: ignore[misc]


EVENT_COUNT = (
    "    type: event_count\n    rules: [failed_logon]\n    group-by: [TargetUserName]\n"
    "    timespan: 1m\n    condition: {gte: 3}\n"
)


def test_event_count_fires_once_per_burst_per_group() -> None:
    engine = engine_for(EVENT_COUNT)
    events = [
        logon(4625, 0),
        logon(4625, 1, user="sam"),
        logon(4625, 2),
        logon(4625, 3),  # third for alex within a minute -> fires
        logon(4625, 4),  # starts afresh
        logon(4625, 100),  # outside the window of the previous one
    ]

    matches = run(engine, events)

    assert fired(matches) == [(1, 3, 4)]
    # the referenced rule does not report itself (generate: false)
    assert [match.rule.title for match in matches] == ["Correlated"]


def test_events_outside_the_timespan_do_not_count() -> None:
    engine = engine_for(EVENT_COUNT)

    matches = run(engine, [logon(4625, 0), logon(4625, 50), logon(4625, 110)])

    assert fired(matches) == []


def test_generate_true_keeps_the_base_matches() -> None:
    engine = engine_for(EVENT_COUNT, generate=True)

    matches = run(engine, [logon(4625, 0), logon(4625, 1), logon(4625, 2)])

    assert [match.rule.title for match in matches] == ["Failed logon"] * 3 + ["Correlated"]


def test_value_count_counts_distinct_values() -> None:
    engine = engine_for(
        "    type: value_count\n    rules: [failed_logon]\n    group-by: [IpAddress]\n"
        "    timespan: 5m\n    condition: {gte: 3, field: TargetUserName}\n"
    )
    events = [
        logon(4625, second, user=user, IpAddress="10.0.0.9")
        for second, user in [(0, "a"), (1, "a"), (2, "b"), (3, "b"), (4, "c")]
    ]

    assert fired(run(engine, events)) == [(1, 2, 3, 4, 5)]


def test_temporal_needs_every_rule_in_any_order() -> None:
    engine = engine_for(
        "    type: temporal\n    rules: [logon, new_service]\n    group-by: [TargetUserName]\n"
        "    timespan: 1m\n"
    )

    assert fired(run(engine, [logon(7045, 0), logon(4624, 10)])) == [(1, 2)]
    assert (
        fired(
            run(
                engine_for(
                    "    type: temporal\n    rules: [logon, new_service]\n    timespan: 1m\n"
                ),
                [logon(4624, 0), logon(4624, 10)],
            )
        )
        == []
    )


def test_temporal_ordered_needs_the_listed_order() -> None:
    body = (
        "    type: temporal_ordered\n    rules: [failed_logon, logon]\n"
        "    group-by: [TargetUserName]\n    timespan: 1m\n"
    )

    assert fired(run(engine_for(body), [logon(4624, 0), logon(4625, 1)])) == []
    assert fired(run(engine_for(body), [logon(4625, 0), logon(4624, 1)])) == [(1, 2)]


def test_aliases_join_differently_named_fields() -> None:
    engine = engine_for(
        "    type: temporal\n    rules: [logon, new_service]\n    group-by: [who]\n"
        "    aliases:\n        who:\n            logon: TargetUserName\n"
        "            new_service: AccountName\n"
        "    timespan: 1m\n"
    )
    events = [logon(4624, 0, user="alex"), logon(7045, 5, AccountName="ALEX")]

    assert fired(run(engine, events)) == [(1, 2)]


def test_lt_conditions_are_decided_when_the_window_closes() -> None:
    engine = engine_for(
        "    type: event_count\n    rules: [logon]\n    group-by: [TargetUserName]\n"
        "    timespan: 1m\n    condition: {lt: 2}\n"
    )
    events = [
        logon(4624, 0, user="once"),
        logon(4624, 0, user="twice"),
        logon(4624, 5, user="twice"),
    ]

    assert fired(run(engine, events)) == [(1,)]
