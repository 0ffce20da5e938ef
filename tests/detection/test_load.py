"""Loading collects problems and keeps the good rules."""

from __future__ import annotations

from pathlib import Path

from stockade.detection import RuleSet, load_rule_paths, load_rule_text
from stockade.detection.load import _tree_files

GOOD_RULE = """\
title: {title}
id: {rule_id}
status: test
logsource:
    product: windows
    category: process_creation
detection:
    sel:
        Image|endswith: '\\{image}'
    condition: sel
level: high
"""


def good_rule(title: str, rule_id: str, image: str = "evil.exe") -> str:
    return GOOD_RULE.format(title=title, rule_id=rule_id, image=image)


ID_A = "0b6f0a70-7e8a-4d3e-9a9a-0d5b8f1d0001"
ID_B = "0b6f0a70-7e8a-4d3e-9a9a-0d5b8f1d0002"
ID_C = "0b6f0a70-7e8a-4d3e-9a9a-0d5b8f1d0003"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.yml", "title: [unclosed\nlogsource: x\n")

    rule_set = load_rule_paths([broken])

    assert rule_set.rules == ()
    (problem,) = rule_set.problems
    assert problem.source == str(broken)
    assert problem.line == 2
    assert "invalid YAML" in problem.message
    assert "broken.yml:2" in str(problem)


def test_duplicate_yaml_key_is_a_problem() -> None:
    rule_set = load_rule_text(good_rule("A", ID_A) + "level: low\n", "dup.yml")

    assert rule_set.rules == ()
    assert "Duplicate key 'level'" in rule_set.problems[0].message


def test_invalid_sigma_is_reported_with_rule_id() -> None:
    text = good_rule("A", ID_A).replace("level: high", "level: severe")

    rule_set = load_rule_text(text, "bad_level.yml")

    assert rule_set.rules == ()
    (problem,) = rule_set.problems
    assert problem.rule_id == ID_A
    assert "severe" in problem.message


def test_undefined_detection_in_condition_is_a_problem() -> None:
    text = good_rule("A", ID_A).replace("condition: sel", "condition: sel and nothing")

    rule_set = load_rule_text(text, "cond.yml")

    assert rule_set.rules == ()
    assert "nothing" in rule_set.problems[0].message


def test_directory_loads_recursively_and_keeps_good_rules(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", good_rule("A", ID_A))
    write(tmp_path / "nested" / "deeper" / "b.yaml", good_rule("B", ID_B))
    write(tmp_path / "nested" / "broken.yml", "title: [\n")
    write(
        tmp_path / "nested" / "unsupported.yml",
        # a PCRE named group: valid for pySigma, not for Python's re
        good_rule("C", ID_C).replace("Image|endswith: '\\evil.exe'", "Image|re: '(?<n>a)'"),
    )
    write(tmp_path / "notes.txt", "not a rule")

    rule_set = load_rule_paths([tmp_path])

    assert [rule.info.title for rule in rule_set.rules] == ["A", "B"]
    assert sorted(Path(problem.source).name for problem in rule_set.problems) == [
        "broken.yml",
        "unsupported.yml",
    ]
    unsupported = next(p for p in rule_set.problems if p.source.endswith("unsupported.yml"))
    assert unsupported.rule_id == ID_C
    assert "unsupported Sigma construct" in unsupported.message


def test_a_folder_is_listed_as_a_recursive_glob_lists_it(tmp_path: Path) -> None:
    # Upper-case suffixes, a folder named like a rule, a hidden ".yml", links to a rule, to
    # nowhere and to a folder (not entered, as pathlib's rglob does not), in path order.
    write(tmp_path / "B.YML", good_rule("B", ID_B))
    write(tmp_path / "a-b" / "x.yml", good_rule("X", ID_C))
    write(tmp_path / "a" / "x.yaml", good_rule("A", ID_A))
    write(tmp_path / "folder.yml" / "inner.yml", "title: [\n")
    write(tmp_path / ".yml", "title: [\n")
    (tmp_path / "link.yml").symlink_to(tmp_path / "B.YML")
    (tmp_path / "dangling.yml").symlink_to(tmp_path / "missing.yml")
    (tmp_path / "linked").symlink_to(tmp_path / "a", target_is_directory=True)

    listed = sorted(_tree_files(tmp_path))

    globbed = sorted(
        child
        for child in tmp_path.rglob("*")
        if child.suffix.lower() in (".yml", ".yaml") and child.is_file()
    )
    assert listed == globbed
    assert [path.relative_to(tmp_path).as_posix() for path in listed] == [
        "B.YML",
        "a/x.yaml",
        "a-b/x.yml",
        "folder.yml/inner.yml",
        "link.yml",
    ]


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    rule_set = load_rule_paths([tmp_path / "nope.yml"])

    assert rule_set == RuleSet((), rule_set.problems)
    assert "no such file" in rule_set.problems[0].message


def test_duplicate_rule_ids_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path / "1.yml", good_rule("First", ID_A))
    write(tmp_path / "2.yml", good_rule("Second", ID_A))

    rule_set = load_rule_paths([tmp_path])

    assert [rule.info.title for rule in rule_set.rules] == ["First"]
    (problem,) = rule_set.problems
    assert problem.source.endswith("2.yml")
    assert "duplicate rule id" in problem.message


def test_multi_document_file_and_global_action() -> None:
    text = (
        "action: global\n"
        "logsource:\n    product: windows\n    category: process_creation\n"
        "level: medium\n"
        "---\n"
        f"title: One\nid: {ID_A}\n"
        "detection:\n    sel:\n        Image|endswith: '\\one.exe'\n    condition: sel\n"
        "---\n"
        f"title: Two\nid: {ID_B}\n"
        "detection:\n    sel:\n        Image|endswith: '\\two.exe'\n    condition: sel\n"
    )

    rule_set = load_rule_text(text, "multi.yml")

    assert rule_set.problems == ()
    assert [rule.info.title for rule in rule_set.rules] == ["One", "Two"]
    assert all(rule.event_ids == {1, 4688} for rule in rule_set.rules)
    assert rule_set.rules[1].matches({"EventID": 1, "Image": r"C:\two.exe"})


def test_filters_apply_to_the_rules_they_name_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", good_rule("Base", ID_A).replace("status:", "name: base\nstatus:"))
    write(tmp_path / "b.yml", good_rule("Other", ID_B))
    write(
        tmp_path / "z_filter.yml",
        "title: Ignore admins\n"
        f"id: {ID_C}\n"
        "logsource:\n    product: windows\n    category: process_creation\n"
        "filter:\n"
        "    rules:\n        - base\n"
        "    selection:\n        User: admin\n"
        "    condition: not selection\n",
    )
    evil = {"EventID": 1, "Image": "C:\\x\\evil.exe"}

    rule_set = load_rule_paths([tmp_path])

    assert rule_set.problems == ()
    base, other = rule_set.rules
    assert base.matches({**evil, "User": "alex"})
    assert not base.matches({**evil, "User": "ADMIN"})
    assert other.matches({**evil, "User": "admin"})


def test_correlation_referencing_an_unknown_rule_is_a_problem() -> None:
    text = (
        "title: Many evil starts\n"
        f"id: {ID_B}\n"
        "correlation:\n"
        "    type: event_count\n"
        "    rules:\n        - nowhere\n"
        "    timespan: 5m\n"
        "    condition:\n        gte: 10\n"
    )

    rule_set = load_rule_text(text, "c.yml")

    (problem,) = rule_set.problems
    assert problem.rule_id == ID_B
    assert "unknown rule 'nowhere'" in problem.message


def test_non_rule_yaml_is_a_problem() -> None:
    assert load_rule_text("- just\n- a list\n", "list.yml").problems[0].message == (
        "YAML document 1 is not a mapping"
    )
    assert load_rule_text("", "empty.yml").problems[0].message == "no Sigma rule in file"
