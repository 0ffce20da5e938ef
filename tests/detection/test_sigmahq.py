"""The compiler against the public SigmaHQ rule set and its regression events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockade.detection import CompiledRule, RuleSet, load_rule_paths

# ../shared/data beside the repository, as in CI
SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
PROCESS_CREATION = SIGMA / "rules" / "windows" / "process_creation"
PROCESS_CREATION_REGRESSION = SIGMA / "regression_data" / "rules" / "windows" / "process_creation"


@pytest.fixture(scope="module")
def process_creation_rules() -> RuleSet:
    return load_rule_paths([PROCESS_CREATION])


def test_at_least_nine_in_ten_process_creation_rules_compile(
    process_creation_rules: RuleSet,
) -> None:
    rule_files = sorted(PROCESS_CREATION.glob("*.yml"))
    failed_files = {problem.source for problem in process_creation_rules.problems}
    compiled = len(process_creation_rules.rules)
    print(
        f"\nSigmaHQ windows/process_creation: {len(rule_files)} files, {compiled} rules "
        f"compiled, {len(process_creation_rules.problems)} problems in "
        f"{len(failed_files)} files"
    )
    for problem in process_creation_rules.problems:
        print(f"  {problem}")

    assert len(rule_files) > 1000
    assert compiled >= 0.9 * len(rule_files)
    assert all(rule.event_ids == {1, 4688} for rule in process_creation_rules.rules)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Regression files hold one or more concatenated JSON objects (evtx dumps)."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    events: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return events
        record, position = decoder.raw_decode(text, position)
        events.append(record)


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """Turn an evtx JSON record into the flat Sysmon-field event detection expects."""
    event = record["Event"]
    data = event.get("EventData") or {}
    flat = dict(data) if isinstance(data, dict) else {}
    flat["EventID"] = event["System"]["EventID"]
    flat["Channel"] = event["System"]["Channel"]
    return flat


def test_rules_fire_on_their_sigmahq_regression_events(
    process_creation_rules: RuleSet,
) -> None:
    by_id: dict[str, CompiledRule] = {rule.info.id: rule for rule in process_creation_rules.rules}
    checked = 0
    missed: list[str] = []
    for path in sorted(PROCESS_CREATION_REGRESSION.rglob("*.json")):
        rule = by_id.get(path.stem)
        if rule is None:  # regression data of a rule that did not compile
            continue
        events = [flatten(record) for record in read_events(path)]
        checked += 1
        # Some files also hold the benign events around the attack: one hit is enough.
        if not any(rule.matches(event) for event in events):
            missed.append(f"{rule.info.title} ({path.parent.name})")
        # The same events as network connections must not reach a process rule.
        assert not any(rule.matches({**event, "EventID": 3}) for event in events)
    print(f"\nSigmaHQ regression events checked for {checked} process_creation rules")

    assert checked >= 100
    assert missed == []
