"""Conformance: the SigmaHQ regression tests and the whole SigmaHQ rule set.

Every positive regression test (``info.yml``: a rule id, a sample, maybe ``match_count``) must
fire at least ``match_count`` times on its sample, read through the same inputs `stockade hunt`
uses: the .evtx file through the EVTX reader and the .json beside it through the JSON reader.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from stockade.detection import DetectionEngine, RuleSet, load_rule_paths
from stockade.telemetry.sources import InputFile, InputProblem, read_file

# ../shared/data beside the repository, as in CI
SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
REGRESSION = SIGMA / "regression_data"

# Rules the engine cannot evaluate, with the reason, as listed in docs/detection.md.
NOT_EVALUABLE: dict[str, str] = {}


@dataclass(frozen=True)
class RegressionTest:
    rule_id: str
    sample: Path
    match_count: int

    def __str__(self) -> str:
        return f"{self.sample.relative_to(REGRESSION)}"


def regression_tests() -> list[RegressionTest]:
    tests: list[RegressionTest] = []
    for info_path in sorted(REGRESSION.rglob("info.yml")):
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
        rule_id = str(info["rule_metadata"][0]["id"])
        for entry in info.get("regression_tests_info") or []:
            sample = SIGMA / entry["path"]
            tests.append(RegressionTest(rule_id, sample, int(entry.get("match_count") or 1)))
    return tests


@pytest.fixture(scope="module")
def sigmahq() -> RuleSet:
    return load_rule_paths(RULE_DIRS)


@pytest.fixture(scope="module")
def engine(sigmahq: RuleSet) -> DetectionEngine:
    return DetectionEngine(sigmahq.rules)


def test_every_sigmahq_rule_loads_and_is_evaluable(sigmahq: RuleSet) -> None:
    files = [path for folder in RULE_DIRS for path in folder.rglob("*.yml")]
    unexpected = [
        str(problem) for problem in sigmahq.problems if problem.rule_id not in NOT_EVALUABLE
    ]

    assert len(files) > 3700
    assert unexpected == []
    assert len(sigmahq.rules) + len(NOT_EVALUABLE) == len(files)


def test_there_are_the_202_positive_regression_tests() -> None:
    tests = regression_tests()

    assert len(tests) >= 202
    assert all(test.sample.is_file() for test in tests)


def fired(engine: DetectionEngine, sample: Path, rule_id: str) -> tuple[int, list[str]]:
    count = 0
    problems: list[str] = []
    for item in read_file(InputFile(str(sample), sample)):
        if isinstance(item, InputProblem):
            problems.append(str(item))
            continue
        count += sum(1 for match in engine.match(item.event) if match.rule.id == rule_id)
    return count, problems


@pytest.mark.parametrize("kind", [".evtx", ".json"])
def test_every_regression_test_passes(engine: DetectionEngine, kind: str) -> None:
    failures: list[str] = []
    checked = Counter[str]()
    for test in regression_tests():
        sample = test.sample.with_suffix(kind)
        if not sample.is_file():
            continue
        count, problems = fired(engine, sample, test.rule_id)
        checked[kind] += 1
        if problems or count < test.match_count:
            failures.append(f"{test}: fired {count} < {test.match_count} {problems}")

    assert checked[kind] >= 200
    assert failures == []


def test_engine_shortcuts_never_change_the_result(
    sigmahq: RuleSet, engine: DetectionEngine
) -> None:
    """Buckets and the literal prefilter against every rule evaluated on every sample event."""
    from stockade.detection.logsource import with_aliases

    events = [
        item.event
        for test in regression_tests()
        for item in read_file(InputFile(str(test.sample), test.sample))
        if not isinstance(item, InputProblem)
    ]
    # The same events with their values upper-cased, as another source might write them.
    events += [
        {
            key: value.upper() if isinstance(value, str) and key != "Channel" else value
            for key, value in event.items()
        }
        for event in events
    ]
    assert len(events) > 400
    for event in events:
        expected = [rule.info.id for rule in sigmahq.rules if rule.matches(with_aliases(event))]
        assert [match.rule.id for match in engine.match_rules(event)] == expected
