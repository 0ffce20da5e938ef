"""Required literals and EventIDs derived from rules (the engine's prefilter)."""

from __future__ import annotations

import pytest

from stockade.detection import load_rule_text
from stockade.detection.prefilter import LiteralScanner, scan_text


def compiled(selection: str, condition: str = "sel"):  # type: ignore[no-untyped-def]
    text = (
        "title: t\nlogsource: {product: windows, service: security}\ndetection:\n"
        + selection
        + f"  condition: {condition}\n"
    )
    rule_set = load_rule_text(text, "t.yml")
    assert rule_set.problems == ()
    return rule_set.rules[0]


@pytest.mark.parametrize(
    ("selection", "condition", "literals"),
    [
        ("  sel:\n    A|contains: 'EvilThing'\n", "sel", {"evilthing"}),
        ("  sel:\n    A|contains: ['One', 'Two*Three']\n", "sel", {"one", "three"}),
        # the less common member of an AND is chosen
        ("  sel:\n    A|endswith: '.exe'\n    B|contains: 'mimikatz'\n", "sel", {"mimikatz"}),
        ("  sel:\n    A: 'x'\n  f:\n    B: 'yy'\n", "sel and not f", None),
        ("  sel:\n    A: 'abc'\n  other:\n    B|re: 'x+'\n", "sel or other", None),
        ("  sel:\n    A|contains: '\u202e'\n", "sel", {"\u202e"}),  # one rare character
        ("  sel:\n    A|contains: 'a'\n", "sel", None),
        ("  sel:\n    A: 5\n", "sel", None),
    ],
)
def test_required_literals(selection: str, condition: str, literals: set[str] | None) -> None:
    rule = compiled(selection, condition)

    assert rule.literals == (None if literals is None else frozenset(literals))


def test_required_event_ids() -> None:
    assert compiled("  sel:\n    EventID: [4624, 4625]\n    A: x\n").required_event_ids == {
        4624,
        4625,
    }
    assert (
        compiled("  sel:\n    EventID: 4624\n  b:\n    A: y\n", "sel or b").required_event_ids
        is None
    )


def test_scanner_finds_literals_in_lower_cased_values() -> None:
    scanner = LiteralScanner(["mimikatz", "\u202e", "c:\\temp\\"])

    found = scanner.scan(scan_text(["C:\\TEMP\\x.exe", 4624, None, "run MimiKatz", "\u202e"]))

    assert found == {0, 1, 2}
    assert scanner.scan(scan_text(["benign"])) == set()
