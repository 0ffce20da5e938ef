"""Every Sigma value modifier the spec lists, as a rule author writes it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from stockade.detection import CompiledRule, load_rule_text


def rule(selection: str, condition: str = "sel") -> CompiledRule:
    text = (
        "title: t\nlogsource: {product: test}\ndetection:\n  sel:\n"
        + "".join(f"    {line}\n" for line in selection.splitlines())
        + f"  condition: {condition}\n"
    )
    rule_set = load_rule_text(text, "t.yml")
    assert rule_set.problems == (), rule_set.problems
    return rule_set.rules[0]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("selection", "hits", "misses"),
    [
        ("F|base64: 'evil'", [b64(b"evil")], ["evil", b64(b"evil!")]),
        (
            "F|base64offset|contains: 'http://'",
            [b64(b"GET http://x"), b64(b"xhttp://x"), b64(b"xxhttp://x")],
            ["http://"],
        ),
        ("F|utf16le|base64offset|contains: 'cmd'", [b64("run cmd".encode("utf-16-le"))], []),
        ("F|utf16be|base64offset|contains: 'cmd'", [b64("run cmd".encode("utf-16-be"))], []),
        ("F|wide|base64offset|contains: 'cmd'", [b64("a cmd".encode("utf-16-le"))], [b64(b"cmd")]),
        ("F|gt: 5", [6, "7"], [5, "x"]),
        ("F|gte: 5", [5, 6.5], [4]),
        ("F|lt: 5", [4, "-1"], [5]),
        ("F|lte: 5", [5], [6]),
        ("F|neq: 5", [4, "6"], [5]),
        ("F|minute: 7", ["2026-03-04T05:07:09Z"], ["2026-03-04T05:08:09Z", "nope"]),
        ("F|hour: 5", ["2026-03-04 05:07:09.123"], ["2026-03-04 06:07:09"]),
        ("F|day: 4", ["2026-03-04T05:07:09+00:00"], ["2026-03-05T05:07:09Z"]),
        ("F|week: 10", ["2026-03-04T05:07:09Z"], ["2026-03-14T05:07:09Z"]),
        ("F|month: 3", ["2026-03-04T05:07:09Z"], ["2026-04-04T05:07:09Z"]),
        ("F|year: 2026", ["2026-03-04T05:07:09Z"], ["2025-03-04T05:07:09Z"]),
        ("F|windash|contains: ' -enc '", ["x /enc y", "x -enc y", "x \u2013enc y"], ["x enc y"]),
        ("F|cidr: 10.0.0.0/8", ["10.1.2.3"], ["11.1.2.3", "x"]),
        ("F|re|i: '^ab+c$'", ["ABBC"], ["abd"]),
        ("F|re: '^ab+c$'", ["abbc"], ["ABBC"]),
        ("F|re|m: '^b$'", ["a\nb\nc"], ["a b"]),
        ("F|re|s: 'a.b'", ["a\nb"], ["ab"]),
        ("F|contains|all: [a, b]", ["xaxb"], ["xa"]),
        ("F|cased: Evil", ["Evil"], ["evil"]),
        ("F|contains|cased: Evil", ["xEvilx"], ["xevilx"]),
        ("F: 'a\\*b'", ["a*b"], ["axxb"]),
        ("F: 'a*b?'", ["axxbc"], ["axxb"]),
        ("F|exists: true", ["", 0], []),
        ("F: null", [], ["x"]),
        ("F|fieldref: G", ["same"], ["other"]),
    ],
)
def test_modifier(selection: str, hits: list[Any], misses: list[Any]) -> None:
    compiled = rule(selection)

    for value in hits:
        assert compiled.matches({"F": value, "G": "same"}), value
    for value in misses:
        assert not compiled.matches({"F": value, "G": "same"}), value


def test_exists_false_and_null_match_a_missing_field() -> None:
    assert rule("F|exists: false").matches({})
    assert rule("F: null").matches({"G": 1})


def test_keywords_search_every_value() -> None:
    text = (
        "title: t\nlogsource: {product: test}\ndetection:\n"
        "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa::*'\n  condition: keywords\n"
    )
    compiled = load_rule_text(text, "k.yml").rules[0]

    assert compiled.matches({"A": "run MIMIKATZ.exe"})
    assert compiled.matches({"B": "sekurlsa::logonpasswords"})
    assert not compiled.matches({"A": "benign"})
