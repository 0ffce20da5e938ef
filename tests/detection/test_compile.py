"""Sigma semantics of compiled rules: what matches and what does not."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from sigma.rule import SigmaRule

from stockade.core.model import Severity
from stockade.detection import (
    CompiledRule,
    compile_rule,
    load_rule_text,
)


def make_rule(detection: str, *, logsource: str = "product: test", extra: str = "") -> CompiledRule:
    """Compile a one-rule YAML text; the default log source adds no pre-condition."""
    text = (
        "title: Test rule\n"
        f"logsource:\n    {logsource}\n"
        "detection:\n" + textwrap.indent(textwrap.dedent(detection).strip(), "    ") + "\n" + extra
    )
    rule_set = load_rule_text(text, "test.yml")
    assert rule_set.problems == ()
    (rule,) = rule_set.rules
    return rule


def single(field_and_modifiers: str, value: str) -> CompiledRule:
    return make_rule(f"sel:\n    {field_and_modifiers}: {value}\ncondition: sel")


@pytest.mark.parametrize(
    ("key", "value", "event_value", "expected"),
    [
        ("CommandLine|contains", "'-enc'", "powershell -enc AAAA", True),
        ("CommandLine|contains", "'-enc'", "powershell -nop", False),
        ("Image|startswith", "'C:\\Users\\'", "C:\\Users\\bob\\evil.exe", True),
        ("Image|startswith", "'C:\\Users\\'", "D:\\C:\\Users\\x.exe", False),
        ("Image|endswith", "'\\cmd.exe'", "C:\\Windows\\System32\\cmd.exe", True),
        ("Image|endswith", "'\\cmd.exe'", "C:\\Windows\\System32\\cmd.exe.bak", False),
        # Plain values compare the whole value, not a part of it.
        ("User", "'SYSTEM'", "NT AUTHORITY\\SYSTEM", False),
        ("User", "'NT AUTHORITY\\SYSTEM'", "NT AUTHORITY\\SYSTEM", True),
        # Wildcards inside the value; a backslash before a wildcard is written doubled.
        ("Image", r"'C:\\*\\evil?.exe'", r"C:\Temp\x\evil1.exe", True),
        ("Image", r"'C:\\*\\evil?.exe'", r"C:\Temp\evil12.exe", False),
        ("Image", "'*'", "anything", True),
        # An escaped wildcard is a literal character.
        ("CommandLine", "'echo \\*'", "echo *", True),
        ("CommandLine", "'echo \\*'", "echo x", False),
        ("CommandLine|contains", "'a?c'", "xx abc yy", True),
        ("CommandLine|contains", "'a?c'", "xx ac yy", False),
    ],
)
def test_string_modifiers_and_wildcards(
    key: str, value: str, event_value: str, expected: bool
) -> None:
    rule = single(key, value)

    assert rule.matches({key.split("|")[0]: event_value}) is expected


def test_strings_match_case_insensitively_by_default() -> None:
    rule = make_rule(
        r"""
        sel:
            Image|endswith: '\CMD.EXE'
            User: 'Alice'
        condition: sel
        """
    )

    assert rule.matches({"Image": r"c:\windows\system32\cmd.exe", "User": "ALICE"})


def test_cased_modifier_matches_case_sensitively() -> None:
    rule = single("CommandLine|cased|contains", "'Invoke-'")

    assert rule.matches({"CommandLine": "Invoke-Mimikatz"})
    assert not rule.matches({"CommandLine": "invoke-mimikatz"})


def test_cased_value_in_a_list_keeps_its_case() -> None:
    rule = make_rule(
        """
        sel:
            Field|cased:
                - 'ABC'
                - 'Def*'
        condition: sel
        """
    )

    assert rule.matches({"Field": "ABC"})
    assert rule.matches({"Field": "Define"})
    assert not rule.matches({"Field": "abc"})
    assert not rule.matches({"Field": "define"})


def test_list_of_values_means_any_of_them() -> None:
    rule = make_rule(
        r"""
        sel:
            Image|endswith:
                - '\cmd.exe'
                - '\powershell.exe'
            CommandLine|contains:
                - 'whoami'
                - 'net user'
                - 'nltest'
                - 'ipconfig'
                - 'systeminfo'
                - 'tasklist'
                - 'quser'
                - 'netstat'
                - 'arp -a'
        condition: sel
        """
    )

    assert rule.matches({"Image": r"C:\x\cmd.exe", "CommandLine": "cmd /c whoami"})
    assert rule.matches({"Image": r"C:\x\powershell.exe", "CommandLine": "ARP -A"})
    assert not rule.matches({"Image": r"C:\x\cmd.exe", "CommandLine": "cmd /c dir"})
    assert not rule.matches({"Image": r"C:\x\wscript.exe", "CommandLine": "whoami"})


def test_contains_all_needs_every_value() -> None:
    rule = make_rule(
        r"""
        sel:
            CommandLine|contains|all:
                - '/c'
                - 'echo'
                - '\pipe\'
        condition: sel
        """
    )

    assert rule.matches({"CommandLine": r"cmd.exe /c echo 123 > \\.\pipe\abc"})
    assert not rule.matches({"CommandLine": r"cmd.exe /c echo 123 > C:\out.txt"})


def test_windash_expands_dash_into_slash() -> None:
    rule = single("CommandLine|windash|contains", "'-decode '")

    assert rule.matches({"CommandLine": "certutil /decode a b"})
    assert rule.matches({"CommandLine": "certutil -decode a b"})
    assert not rule.matches({"CommandLine": "certutil -encode a b"})


CONDITIONS = r"""
sel_a:
    A: 'yes'
sel_b:
    B: 'yes'
filter_c:
    C: 'yes'
"""


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("1 of sel_*", {"B": "yes"}, True),
        ("1 of sel_*", {"C": "yes"}, False),
        ("all of sel_*", {"A": "yes", "B": "yes"}, True),
        ("all of sel_*", {"A": "yes"}, False),
        ("all of them", {"A": "yes", "B": "yes", "C": "yes"}, True),
        ("all of them", {"A": "yes", "B": "yes"}, False),
        ("1 of them", {"C": "yes"}, True),
        ("sel_a and not filter_c", {"A": "yes"}, True),
        ("sel_a and not filter_c", {"A": "yes", "C": "yes"}, False),
        # `and` binds tighter than `or`; parentheses change that.
        ("sel_a and sel_b or filter_c", {"C": "yes"}, True),
        ("sel_a and (sel_b or filter_c)", {"C": "yes"}, False),
        ("sel_a and (sel_b or filter_c)", {"A": "yes", "C": "yes"}, True),
        ("not (sel_a or sel_b)", {"C": "yes"}, True),
        ("not (sel_a or sel_b)", {"B": "yes"}, False),
    ],
)
def test_condition_expressions(condition: str, event: dict[str, str], expected: bool) -> None:
    rule = make_rule(CONDITIONS + f"condition: {condition}")

    assert rule.matches(event) is expected


def test_several_conditions_are_alternatives() -> None:
    rule = make_rule(CONDITIONS + "condition:\n    - sel_a\n    - sel_b")

    assert rule.matches({"A": "yes"})
    assert rule.matches({"B": "yes"})
    assert not rule.matches({"C": "yes"})


def test_list_of_maps_means_any_of_them() -> None:
    rule = make_rule(
        r"""
        sel:
            - Image|endswith: '\certutil.exe'
            - OriginalFileName: 'CertUtil.exe'
        condition: sel
        """
    )

    assert rule.matches({"OriginalFileName": "certutil.exe"})
    assert rule.matches({"Image": r"C:\Windows\System32\certutil.exe"})
    assert not rule.matches({"Image": r"C:\Windows\System32\cmd.exe"})


def test_null_matches_missing_field_and_none_only() -> None:
    rule = single("ParentImage", "null")

    assert rule.matches({})
    assert rule.matches({"ParentImage": None})
    assert not rule.matches({"ParentImage": ""})
    assert not rule.matches({"ParentImage": r"C:\x.exe"})


def test_missing_field_never_matches_a_value() -> None:
    contains_anything = single("CommandLine|contains", "''")
    wildcard = single("CommandLine", "'*'")
    negated = make_rule("sel:\n    CommandLine|contains: 'x'\ncondition: not sel")

    assert not contains_anything.matches({"Image": "a"})
    assert not wildcard.matches({"CommandLine": None})
    assert wildcard.matches({"CommandLine": ""})
    # `not` inverts the whole selection, so a missing field satisfies it.
    assert negated.matches({})


def test_regex_is_case_sensitive_unless_i_flag() -> None:
    sensitive = single("CommandLine|re", r"'\s-[Ee]nc\s'")
    insensitive = single("CommandLine|re|i", r"'\s-enc\s'")

    assert sensitive.matches({"CommandLine": "powershell -Enc AAA"})
    assert not sensitive.matches({"CommandLine": "powershell -ENC AAA"})
    assert insensitive.matches({"CommandLine": "powershell -ENC AAA"})
    assert not insensitive.matches({"CommandLine": "powershell -nop"})


def test_regex_matches_anywhere_unless_anchored() -> None:
    anywhere = single("CommandLine|re", "'pipe'")
    anchored = single("CommandLine|re", "'^pipe$'")

    assert anywhere.matches({"CommandLine": "echo x > pipe here"})
    assert not anchored.matches({"CommandLine": "echo x > pipe here"})
    assert anchored.matches({"CommandLine": "pipe"})


def test_regex_dotall_and_multiline_flags() -> None:
    plain = single("Text|re", "'a.b'")
    dotall = single("Text|re|s", "'a.b'")
    multiline = single("Text|re|m", "'^second'")

    assert not plain.matches({"Text": "a\nb"})
    assert dotall.matches({"Text": "a\nb"})
    assert multiline.matches({"Text": "first\nsecond"})
    assert not single("Text|re", "'^second'").matches({"Text": "first\nsecond"})


def test_cidr_matches_addresses_in_network() -> None:
    v4 = single("DestinationIp|cidr", "'10.0.0.0/8'")
    v6 = single("DestinationIp|cidr", "'fe80::/10'")

    assert v4.matches({"DestinationIp": "10.20.30.40"})
    assert not v4.matches({"DestinationIp": "11.0.0.1"})
    assert not v4.matches({"DestinationIp": "not an address"})
    assert not v4.matches({"DestinationIp": "fe80::1"})
    assert v6.matches({"DestinationIp": "fe80::1"})
    assert not v6.matches({"DestinationIp": "10.0.0.1"})


@pytest.mark.parametrize(
    ("value", "event_value", "expected"),
    [
        ("4688", 4688, True),
        ("4688", "4688", True),
        ("4688", 4688.0, True),
        ("4688", 46880, False),
        ("4688", "4688x", False),
        ("4688", True, False),
        # Text is read as a plain decimal only, so the digits are always in it.
        ("10", " 010 ", True),
        ("10", "10.0", True),
        ("10", "1e1", False),
        ("10", "1_0", False),
        ("10", "\u00a010", False),  # only ASCII white space around a number
        # A quoted number is a string: it matches the text form of a number.
        ("'443'", 443, True),
        ("'443'", "443", True),
        ("'44*'", 443, True),
        ("'443'", 4430, False),
    ],
)
def test_numbers_match_numbers_and_their_text(value: str, event_value: Any, expected: bool) -> None:
    rule = single("DestinationPort", value)

    assert rule.matches({"DestinationPort": event_value}) is expected


def test_booleans() -> None:
    rule = single("Initiated", "true")

    assert rule.matches({"Initiated": True})
    assert rule.matches({"Initiated": "true"})
    assert not rule.matches({"Initiated": False})
    assert not rule.matches({"Initiated": "false"})


@pytest.mark.parametrize(
    ("modifier", "port", "expected"),
    [
        ("gt", 1024, False),
        ("gt", "1025", True),
        ("gte", 1024, True),
        ("lt", 1024, False),
        ("lt", 80, True),
        ("lte", "1024", True),
        ("gte", "high", False),
    ],
)
def test_numeric_comparisons(modifier: str, port: Any, expected: bool) -> None:
    rule = single(f"DestinationPort|{modifier}", "1024")

    assert rule.matches({"DestinationPort": port}) is expected


def test_exists_modifier() -> None:
    present = single("User|exists", "true")
    absent = single("User|exists", "false")

    assert present.matches({"User": "alice"})
    assert not present.matches({})
    assert not present.matches({"User": None})
    assert absent.matches({})
    assert not absent.matches({"User": ""})


def test_field_reference_compares_two_fields() -> None:
    rule = make_rule(
        """
        sel:
            SourceImage|endswith: '.exe'
        filter_same:
            SourceImage|fieldref: TargetImage
        condition: sel and not filter_same
        """
    )

    assert rule.matches({"SourceImage": r"C:\a.exe", "TargetImage": r"C:\b.exe"})
    assert not rule.matches({"SourceImage": r"C:\a.exe", "TargetImage": r"c:\A.EXE"})
    # A missing target is not "equal", so the filter does not apply.
    assert rule.matches({"SourceImage": r"C:\a.exe"})


def test_keywords_match_any_field_value() -> None:
    rule = make_rule(
        """
        keywords:
            - '*mimikatz*'
            - 'sekurlsa::logonpasswords'
        condition: keywords
        """
    )

    assert rule.matches({"CommandLine": "C:\\Tools\\Mimikatz.exe", "User": "bob"})
    assert rule.matches({"ScriptBlockText": "SEKURLSA::LOGONPASSWORDS"})
    assert not rule.matches({"CommandLine": "notepad.exe", "EventID": 1})
    assert not rule.matches({"CommandLine": None})


def test_keyword_matches_numbers_by_text() -> None:
    rule = make_rule("keywords:\n    - 4444\ncondition: keywords")

    assert rule.matches({"DestinationPort": 4444})
    assert rule.matches({"DestinationPort": "4444"})
    assert not rule.matches({"DestinationPort": 4445})


def test_event_values_of_other_types_never_match_strings() -> None:
    rule = single("Field|contains", "'a'")

    assert not rule.matches({"Field": ["a"]})
    assert not rule.matches({"Field": {"a": 1}})


def test_placeholders_expand_to_the_values_given_else_stay_literal() -> None:
    rule = SigmaRule.from_yaml(
        "title: t\nlogsource: {product: test}\n"
        "detection:\n  sel:\n    Field|expand: 'srv-%servers%'\n  condition: sel\n",
        collect_errors=True,
    )

    known = compile_rule(rule, "inline", {"servers": ["dc1", "dc2"]})
    unknown = compile_rule(rule, "inline")

    assert known.matches({"Field": "SRV-dc2"})
    assert not known.matches({"Field": "srv-dc3"})
    assert unknown.matches({"Field": "srv-%servers%"})
    assert not unknown.matches({"Field": "srv-dc1"})


def test_rule_info_from_metadata() -> None:
    rule = make_rule(
        "sel:\n    A: b\ncondition: sel",
        extra=(
            "id: 5d1d8b7c-2b6e-4c3a-9a1e-1a2b3c4d5e6f\n"
            "description: Something bad.\n"
            "level: critical\n"
            "tags:\n"
            "    - attack.privilege_escalation\n"
            "    - attack.execution\n"
            "    - attack.t1548.002\n"
            "    - attack.T1059\n"
            "    - cve.2021-1234\n"
        ),
    )

    info = rule.info
    assert info.id == "5d1d8b7c-2b6e-4c3a-9a1e-1a2b3c4d5e6f"
    assert info.title == "Test rule"
    assert info.level is Severity.HIGH  # critical folds into high
    assert info.description == "Something bad."
    assert info.mitre_techniques == ("T1548.002", "T1059")
    assert info.category == "PrivilegeEscalation"  # the first tactic wins
    assert "cve.2021-1234" in info.tags
    assert info.source == "test.yml"


@pytest.mark.parametrize(
    ("tactic", "category"),
    [
        ("attack.command-and-control", "CommandAndControl"),
        ("attack.defense_evasion", "DefenseEvasion"),
        ("attack.stealth", "DefenseEvasion"),
        ("attack.credential-access", "CredentialAccess"),
    ],
)
def test_category_from_tactic_tag(tactic: str, category: str) -> None:
    rule = make_rule("sel:\n    A: b\ncondition: sel", extra=f"tags:\n    - {tactic}\n")

    assert rule.info.category == category


def test_rule_without_id_level_or_tactic_gets_stable_defaults() -> None:
    first = make_rule("sel:\n    A: b\ncondition: sel")
    second = make_rule("sel:\n    A: c\ncondition: sel")

    assert first.info.id == second.info.id  # same title, same id
    assert len(first.info.id) == 36
    assert first.info.level is Severity.MEDIUM
    assert first.info.category == ""
    assert first.info.mitre_techniques == ()


def test_cidr_lists_answer_as_containment_in_any_network() -> None:
    import random
    from ipaddress import ip_address, ip_network

    from stockade.detection.compile import _network_matcher

    # Overlapping, adjacent and nested ranges of both versions, merged by the matcher.
    networks = [
        ip_network(text)
        for text in (
            "10.0.0.0/8",
            "10.1.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "1.2.3.4/32",
            "1.2.3.5/32",
            "::1/128",
            "fe80::/10",
            "fc00::/7",
            "2603:1006::/40",
        )
    ]
    matcher = _network_matcher(tuple(networks))
    rng = random.Random(5)
    candidates = [str(ip_address(rng.getrandbits(32))) for _ in range(5000)]
    candidates += [str(ip_address(rng.getrandbits(128))) for _ in range(500)]
    candidates += ["10.0.0.0", "9.255.255.255", "11.0.0.0", "1.2.3.3", "1.2.3.6", " 1.2.3.5 "]
    candidates += ["::1", "::2", "fe80::1", "fd00::1", "2603:1006::1", "not an address"]
    for text in candidates:
        try:
            address = ip_address(text.strip())
        except ValueError:
            address = None
        expected = address is not None and any(
            address.version == network.version and address in network for network in networks
        )
        assert matcher(text) is expected, text
    assert matcher("10.2.3.4") and not matcher(4)
