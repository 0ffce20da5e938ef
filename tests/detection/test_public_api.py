"""The package's public names stay listed and importable."""

from __future__ import annotations

import stockade.detection as detection


def test_public_api_is_listed_in_all() -> None:
    assert sorted(detection.__all__) == [
        "CompiledRule",
        "DetectionEngine",
        "Match",
        "RuleInfo",
        "RuleProblem",
        "RuleSet",
        "UnsupportedRuleError",
        "builtin_rules",
        "compile_rule",
        "load_rule_paths",
        "load_rule_text",
    ]
    for name in detection.__all__:
        assert getattr(detection, name) is not None


def test_public_names_without_underscore_are_listed() -> None:
    public = {
        name
        for name, value in vars(detection).items()
        if not name.startswith("_") and not isinstance(value, type(detection))
    }

    assert public - {"annotations"} <= set(detection.__all__)
