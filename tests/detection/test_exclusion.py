"""Exclusions: what a rule's filters prove on a raw record, and the native scanner's reading."""

from __future__ import annotations

import random
from array import array

import orjson
import pytest
from test_scanplan import RULE_DIRS, SYSMON, parse, raw_records, record

from stockade.detection import (
    DetectionEngine,
    RuleSet,
    engine,
    load_rule_paths,
    prefilter,
    scanplan,
)
from stockade.detection.compile import compile_condition
from stockade.detection.exclusion import Exclusion, Test, encode, exclusion
from stockade.detection.logsource import FIELD_ALIASES, with_aliases
from stockade.telemetry.eventlog import flatten_record

native = prefilter._rawscan
needs_native = pytest.mark.skipif(native is None, reason="the native scan is not built")

SIDELOAD = """
    selection:
        ImageLoaded|endswith: '\\\\version.dll'
    filter_main_system:
        ImageLoaded|contains:
            - 'C:\\\\Windows\\\\System32\\\\'
            - 'C:\\\\Windows\\\\SysWOW64\\\\'
    filter_main_defender:
        ImageLoaded|startswith: 'C:\\\\ProgramData\\\\Microsoft\\\\Windows Defender\\\\'
        Image|endswith: '\\\\MsMpEng.exe'
    filter_optional_regex:
        Image|re: '.*\\\\Temp\\\\.*'
"""


def excluded_by(
    selections: str, condition: str, probe: dict[str, object] | None = None
) -> Exclusion:
    rule = parse(selections, condition)
    probe = probe or {"EventID": 7, "Channel": SYSMON}
    return exclusion(rule.trees, compile_condition, probe, scanplan.raw_keys({}))


def check(names: tuple[str, ...], *comparisons: tuple[str, str], negated: bool = False) -> Test:
    return (names, negated, comparisons)


IMAGE_LOADED = ("ImageLoaded",)


def test_filters_and_selections_become_alternatives() -> None:
    found = excluded_by(SIDELOAD, "selection and not 1 of filter_*")

    assert [len(alternative) for alternative in found] == [1, 1, 2]  # shortest first
    assert set(found) == {
        # The selection fails: ImageLoaded is absent or does not end so.
        (check(IMAGE_LOADED, ("suffix", "\\version.dll"), negated=True),),
        # A filter holds: one test each, the list of one field merged into one test.
        (
            check(
                IMAGE_LOADED,
                ("contains", "c:\\windows\\system32\\"),
                ("contains", "c:\\windows\\syswow64\\"),
            ),
        ),
        (
            check(IMAGE_LOADED, ("prefix", "c:\\programdata\\microsoft\\windows defender\\")),
            check(("Image",), ("suffix", "\\msmpeng.exe")),
        ),
    }  # the regex filter proves nothing: an exclusion may only be weaker than the filter


def test_logic_is_followed_through_not_and_or() -> None:
    selection_fails = (check(IMAGE_LOADED, ("suffix", "\\version.dll"), negated=True),)
    assert excluded_by(SIDELOAD, "selection") == (selection_fails,)
    # (selection or not system): refuting it needs both refuted.
    either = excluded_by(SIDELOAD, "selection or not filter_main_system")
    assert either == (
        (
            selection_fails[0],
            check(
                IMAGE_LOADED,
                ("contains", "c:\\windows\\system32\\"),
                ("contains", "c:\\windows\\syswow64\\"),
            ),
        ),
    )
    # not (a and b): both must hold.
    both = excluded_by(SIDELOAD, "selection and not (filter_main_system and filter_main_defender)")
    assert sorted(len(alternative) for alternative in both) == [1, 3]
    # Double negation: the filter must fail (none of its values, or ImageLoaded absent).
    twice = excluded_by(SIDELOAD, "not not filter_main_system")
    assert twice == (
        (
            check(
                IMAGE_LOADED,
                ("contains", "c:\\windows\\system32\\"),
                ("contains", "c:\\windows\\syswow64\\"),
                negated=True,
            ),
        ),
    )


def test_cased_numbers_and_non_ascii_values_are_not_tests() -> None:
    selections = """
        selection:
            Image|re: '.*exe'
        filter_cased:
            Image|cased: 'C:\\\\X.exe'
        filter_number:
            ProcessId: 4
        filter_accent:
            Image|contains: 'caf\u00e9'
        filter_system:
            Computer: 'dc01'
        filter_null:
            Image: null
        filter_any:
            Image: '*'
    """
    assert excluded_by(selections, "selection and not 1 of filter_*") == ()


def test_eventid_and_channel_leaves_are_decided_by_the_bucket() -> None:
    selections = """
        selection:
            Image|re: '.*exe'
        filter_other_event:
            EventID: 7
            Image|contains: 'temp'
    """
    in_7 = excluded_by(selections, "selection and not filter_other_event")
    in_1 = excluded_by(selections, "selection and not filter_other_event", {"EventID": 1})
    assert in_7 == ((check(("Image",), ("contains", "temp")),),)
    assert in_1 == ()
    # A rule that cannot match in the bucket at all: one alternative, without tests.
    never = selections.rstrip() + "\n        filter_event:\n            EventID: 7\n"
    assert excluded_by(never, "selection and not filter_event") == ((),)


def test_aliased_fields_name_every_place_their_value_may_come_from() -> None:
    keys = scanplan.raw_keys(FIELD_ALIASES[("security", 4688)])
    rule = parse(
        "selection:\n    Image|re: '.*'\nfilter:\n    Image|contains: '\\\\temp\\\\'",
        "selection and not filter",
    )
    found = exclusion(rule.trees, compile_condition, {"EventID": 4688}, keys)
    assert found == ((check(("Image", "NewProcessName"), ("contains", "\\temp\\")),),)


def test_encoding_lays_out_rules_alternatives_tests_and_names() -> None:
    alternative = (check(("A", "B"), ("suffix", "x"), ("exact", "")), check(("A",), ("exact", "y")))
    ints, pool = encode([(5, (alternative,))])
    values = array("I", ints).tolist()
    assert values[:5] == [1, 1, 2, 3, 3]  # rules, alternatives, tests, comparisons, names
    assert values[5:8] == [5, 0, 1]
    assert pool == b"ABxy"


# --- the native scanner ----------------------------------------------------------------------


def scanner(exclusions: list[tuple[int, Exclusion]]) -> object:
    database = native.Database([b"hit"], [0])
    return native.Scanner(database, (((3, ()), (4, ())),), (), (), False, encode(exclusions))


def data(members: str) -> str:
    return record(1, SYSMON, members)


@needs_native
@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ('{"Image":"C:\\\\Windows\\\\Temp\\\\hit.exe"}', [4]),  # rule 3 ruled out
        ('{"Image":"C:\\\\WINDOWS\\\\TEMP\\\\hit.exe"}', [4]),  # case-insensitive
        ('{"Image":"C:\\\\Users\\\\hit.exe"}', [3, 4]),
        ('{"Image":"C:\\\\Windows\\\\Tem\\u0070\\\\hit.exe"}', [3, 4]),  # \\u escape: not read
        ('{"Image":"C:\\\\Windows\\\\Temp\\\\x","Image":"C:\\\\hit"}', [3, 4]),  # the last wins
        ('{"Image":"C:\\\\hit","Image":"C:\\\\Windows\\\\Temp\\\\x"}', [4]),
        ('{"Image":{"A":"C:\\\\Windows\\\\Temp\\\\hit"}}', [3, 4]),  # not flat
        ('{"Image":7,"NewProcessName":"C:\\\\Windows\\\\Temp\\\\hit"}', [3, 4]),  # Image wins
        ('{"NewProcessName":"C:\\\\Windows\\\\Temp\\\\hit"}', [4]),  # the alias
        ('{"Other":"C:\\\\Windows\\\\Temp\\\\hit"}', [3, 4]),
        ('{"Image":"C:\\\\Windows\\\\Temp\\\\hit\\"x"}', [4]),
        ('{"Image":"c:\\\\windows\\\\temp\\\\hit","Image2":"x\\\\"}', [4]),
    ],
)
def test_the_native_scanner_reads_the_field_as_flattening_does(
    members: str, expected: list[int]
) -> None:
    names = ("Image", "NewProcessName")
    found = scanner([(3, ((check(names, ("contains", "\\windows\\temp\\")),),))])
    raw = data(members)
    assert sorted(found.scan(raw)) == expected, raw


@needs_native
@pytest.mark.parametrize(
    "shape",
    [
        '"EventData"',  # the parser's own shape: read
        '"UserData":{"A":"b"},"EventData"',
        '"User\\u0044ata":{"A":{"Image":"x"}},"EventData"',
        '"RenderingInfo":{"A":"b"},"EventData"',
        '"Event\\u0044ata":{"Image":"x"},"EventData"',
    ],
)
def test_only_a_record_of_the_parsers_shape_is_read(shape: str) -> None:
    # A record written another way may decode to other fields than the text seems to hold
    # (UserData laid over EventData, a repeated or escaped name): nothing is excluded there.
    found = scanner([(3, ((check(("Image",), ("prefix", "c:\\temp")),),))])
    plain = data('{"Image":"C:\\\\Temp\\\\hit"}')
    raw = plain.replace('"EventData"', shape)
    assert sorted(found.scan(raw)) == ([4] if raw == plain else [3, 4])


@needs_native
@pytest.mark.parametrize(
    "ending",
    [',"EventData":null}}', ',"EventData":{}}}', ',"UserData":{"Image":"x"}}}', '}, "X":1}', " }}"],
)
def test_nothing_may_follow_event_data(ending: str) -> None:
    found = scanner([(3, ((check(("Image",), ("prefix", "c:\\temp")),),))])
    plain = data('{"Image":"C:\\\\Temp\\\\hit"}')
    assert sorted(found.scan(plain)) == [4]
    assert sorted(found.scan(plain[:-2] + ending)) == [3, 4]


@needs_native
def test_every_test_kind_and_an_alternative_of_none() -> None:
    def verdict(kind: str, literal: str, value: str) -> list[int]:
        found = scanner([(3, ((check(("F",), (kind, literal)),),))])
        return sorted(found.scan(data(orjson.dumps({"F": value, "G": "hit"}).decode())))

    assert verdict("exact", "a\\b", "A\\B") == [4]
    assert verdict("exact", "a\\b", "A\\Bc") == [3, 4]
    assert verdict("exact", "", "") == [4]
    assert verdict("prefix", "ab", "ABc") == [4]
    assert verdict("prefix", "ab", "cAB") == [3, 4]
    assert verdict("suffix", "ab", "cAB") == [4]
    assert verdict("suffix", "ab", "ABc") == [3, 4]
    assert verdict("contains", '\n\t"/', 'x\n\t"/y') == [4]
    assert verdict("contains", "b", "a") == [3, 4]
    always = scanner([(3, ((),))])  # the rule cannot match in this bucket
    assert sorted(always.scan(data('{"G":"hit"}'))) == [4]


@needs_native
def test_a_negated_test_holds_when_the_field_is_absent_or_passes_no_comparison() -> None:
    negated = check(("F", "G"), ("suffix", ".exe"), ("prefix", "c:\\x"), negated=True)
    found = scanner([(3, ((negated,),))])

    def verdict(members: str) -> list[int]:
        return sorted(found.scan(data(members)))

    assert verdict('{"H":"hit"}') == [4]  # absent
    assert verdict('{"F":"hit.dll"}') == [4]
    assert verdict('{"F":"hit.EXE"}') == [3, 4]
    assert verdict('{"F":"C:\\\\X\\\\hit"}') == [3, 4]
    assert verdict('{"G":"hit.exe"}') == [3, 4]  # the second name, as with_aliases takes it
    assert verdict('{"F":"hit.dll","G":"hit.exe"}') == [4]  # the first name wins
    assert verdict('{"F":"hit\\u002eexe"}') == [3, 4]  # a \\u escape is not read
    assert verdict('{"F":12,"H":"hit"}') == [3, 4]  # a number is not a string
    assert verdict('{"F":null,"H":"hit"}') == [3, 4]


@needs_native
def test_values_of_any_length_and_escapes_are_read_exactly() -> None:
    # Values of every length around the sixteen-byte steps, with escapes anywhere: a test
    # holds natively exactly when it holds on the decoded value, negated or not; never when
    # the value holds a \u escape (not read). A non-ASCII literal is taken to pass wherever
    # the value is not ASCII: only a negated test, which then fails, may hold one.
    rng = random.Random(9)
    pieces = ["a", "B", "\\", '"', "/", "\n", "\t", "\u00e9", "\x01", "temp", "TEMP\\"]
    literals = ["temp\\", '"a', "b\\\\", "\n\t", "aaaaaaaaaaaaaaaaab", "\u00e9"]
    for _ in range(4000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        kind = rng.choice(["exact", "prefix", "suffix", "contains"])
        literal = rng.choice([*literals, value.lower()[: rng.randint(0, 20)]])
        negated = rng.random() < 0.5
        encoded = orjson.dumps({"F": value, "G": "hit"}).decode()
        test = check(("F",), (kind, literal), negated=negated)
        found = scanner([(3, ((test,),))]).scan(data(encoded))
        lowered = value.lower()
        passes = {
            "exact": lowered == literal,
            "prefix": lowered.startswith(literal),
            "suffix": lowered.endswith(literal),
            "contains": literal in lowered,
        }[kind]
        if not literal.isascii():
            passes = negated and not value.isascii()  # as the native scanner takes it
        holds = passes != negated and "\\u" not in encoded
        assert sorted(found) == ([4] if holds else [3, 4]), (encoded, kind, literal, negated)


@needs_native
def test_always_rules_are_candidates_unless_excluded() -> None:
    database = native.Database([b"hit"], [0])
    exclusions = encode([(5, ((check(("F",), ("contains", "temp")),),))])
    found = native.Scanner(database, (((3, ()),),), (), (), False, exclusions, (2, 5))

    assert sorted(found.scan(data('{"F":"x"}'))) == [2, 5]
    assert sorted(found.scan(data('{"F":"hit"}'))) == [2, 3, 5]
    assert sorted(found.scan(data('{"F":"C:\\\\Temp"}'))) == [2]


@needs_native
def test_a_bad_layout_is_refused() -> None:
    database = native.Database([b"hit"], [0])
    ints, pool = encode([(3, ((check(("F",), ("exact", "x")),),))])
    for bad in [(ints[:-4], pool), (ints, b""), (b"", pool), ints]:
        with pytest.raises((ValueError, TypeError), match="exclusions"):
            native.Scanner(database, (((3, ()),),), (), (), False, bad)


# --- soundness on many records -----------------------------------------------------------------

PIECES = [
    "C:\\Windows\\System32\\",
    "c:\\windows\\syswow64\\",
    "C:\\Program Files\\",
    "C:\\Windows\\Temp\\",
    "C:\\Users\\Public\\",
    "\\AppData\\Local\\Temp\\",
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\",
    "svchost.exe",
    "version.dll",
    "\\wuaucltcore.exe",
    "MsMpEng.exe",
    "caf\u00e9",
    '"',
    "\n",
    "HKLM\\System\\CurrentControlSet\\Services\\",
    "\\Start",
    "DWORD (0x00000002)",
    "",
]


@pytest.fixture(scope="module")
def sigmahq() -> RuleSet:
    return load_rule_paths(RULE_DIRS)


@needs_native
def test_no_rule_that_matches_is_ever_excluded(
    sigmahq: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Records whose values are made of the pieces filters look for, in any case: the native
    # verdict keeps every rule that matches the decoded record, and leaves out others.
    rng = random.Random(5)
    mutated: list[str] = []
    for _ in range(3):
        for raw in raw_records():
            parsed = orjson.loads(raw)
            values = parsed["Event"].get("EventData")
            if not isinstance(values, dict) or not values:
                continue
            if rng.random() < 0.3:  # a field absent
                del values[rng.choice(list(values))]
            for name in values:
                if not isinstance(values[name], str):
                    continue
                piece = rng.choice(PIECES)
                chance = rng.random()
                if chance < 0.2:
                    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))
                    values[name] = text.upper() if rng.random() < 0.3 else text
                elif chance < 0.3:
                    values[name] = piece + values[name]
                elif chance < 0.4:
                    values[name] = values[name] + piece
            mutated.append(orjson.dumps(parsed).decode())
    fast = DetectionEngine(sigmahq.rules)
    verdicts = [fast.raw_verdict(raw) for raw in mutated]
    with monkeypatch.context() as patch:
        patch.setattr(prefilter, "_rawscan", None)
        patch.setattr(engine, "_raw_bucket", scanplan.raw_bucket)
        slow = DetectionEngine(sigmahq.rules)
        candidates = [slow.raw_verdict(raw) for raw in mutated]
    excluded = 0
    for raw, verdict, wider in zip(mutated, verdicts, candidates, strict=True):
        if verdict is None:
            continue
        event = with_aliases(flatten_record(orjson.loads(raw)))
        matching = [index for index, rule in enumerate(sigmahq.rules) if rule.matches(event)]
        assert set(matching) <= set(verdict), raw
        excluded += bool(set(wider or ()) - set(verdict))
    assert excluded > 100
