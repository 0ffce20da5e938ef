"""The scan that narrows rules down: approximations stay sound, raw records included."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from evtx import PyEvtxParser

from stockade.detection import (
    CompiledRule,
    DetectionEngine,
    RuleSet,
    load_rule_paths,
    load_rule_text,
    prefilter,
    scanplan,
)
from stockade.detection import engine as engine_module
from stockade.detection.cache import ScanCache
from stockade.detection.compile import compile_condition
from stockade.detection.logsource import with_aliases
from stockade.detection.prefilter import ABSENT, clause_rank
from stockade.telemetry.eventlog import flatten_record


def parse(selections: str, condition: str, product: str = "test") -> CompiledRule:
    text = (
        f"title: Test rule\nlogsource:\n    product: {product}\ndetection:\n"
        + textwrap.indent(textwrap.dedent(selections).strip(), "    ")
        + f"\n    condition: {condition}\n"
    )
    rule_set = load_rule_text(text, "test.yml")
    assert rule_set.problems == ()
    return rule_set.rules[0]


SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
REGRESSION = SIGMA / "regression_data"


@pytest.fixture(scope="module")
def sigmahq() -> RuleSet:
    return load_rule_paths(RULE_DIRS)


def raw_records() -> list[str]:
    """Every record of every SigmaHQ regression sample, as the EVTX parser renders it, the
    same records with their values upper-cased, and with their event data made benign
    (rendered the same compact way)."""
    records = [
        record["data"]
        for sample in sorted(REGRESSION.rglob("*.evtx"))
        for record in PyEvtxParser(str(sample), number_of_threads=1, indent=False).records_json()
    ]
    twins = [orjson.dumps(_upper(orjson.loads(record))).decode() for record in records]
    benign = [orjson.dumps(_benign(orjson.loads(record))).decode() for record in records]
    return records + twins + benign


def _benign(record: dict[str, Any]) -> dict[str, Any]:
    data = record["Event"].get("EventData")
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                data[key] = "C:\\Windows\\System32\\svchost.exe -k netsvcs"
    return record


def _upper(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _upper(value) if key != "Channel" else value for key, value in node.items()}
    if isinstance(node, list):
        return [_upper(item) for item in node]
    return node.upper() if isinstance(node, str) else node


@pytest.mark.parametrize("scan", ["as built", "python"])
def test_a_raw_verdict_never_leaves_out_a_rule_that_matches(
    sigmahq: RuleSet, scan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if scan == "python":  # the fallback where the native scan is not built
        monkeypatch.setattr(prefilter, "_rawscan", None)
        monkeypatch.setattr(engine_module, "_raw_bucket", scanplan.raw_bucket)
    engine = DetectionEngine(sigmahq.rules)
    judged = skipped = 0
    for raw in raw_records():
        event = with_aliases(flatten_record(orjson.loads(raw)))
        expected = [index for index, rule in enumerate(sigmahq.rules) if rule.matches(event)]
        verdict = engine.raw_verdict(raw)
        if verdict is None:
            continue
        judged += 1
        skipped += not verdict
        assert set(expected) <= set(verdict), raw
        assert list(verdict) == sorted(verdict)
        found = [
            match.rule.id
            for match in engine.match_rules(flatten_record(orjson.loads(raw)), verdict)
        ]
        assert found == [sigmahq.rules[index].info.id for index in expected]
    # Most records are judged raw, and the benign ones mostly need no decoding at all.
    assert judged > 600
    assert skipped > 50


def test_scans_come_back_from_the_cache_unchanged(sigmahq: RuleSet, tmp_path: Path) -> None:
    records = raw_records()[:300]
    fresh = DetectionEngine(sigmahq.rules)
    first = DetectionEngine(sigmahq.rules, scan_cache=ScanCache(tmp_path, "set-1"))
    expected = [fresh.raw_verdict(raw) for raw in records]

    assert [first.raw_verdict(raw) for raw in records] == expected
    assert list(tmp_path.glob("scan-*.bin"))

    # A damaged entry is rebuilt, not trusted.
    for entry in tmp_path.glob("scan-*.bin"):
        entry.write_bytes(b"not a scan")
    again = DetectionEngine(sigmahq.rules, scan_cache=ScanCache(tmp_path, "set-1"))
    assert [again.raw_verdict(raw) for raw in records] == expected

    # Another rule set never meets these entries, its own rule set does.
    ScanCache(tmp_path, "set-1").put("a scan", b"kept")
    assert ScanCache(tmp_path, "set-1").get("a scan") == b"kept"
    assert ScanCache(tmp_path, "set-2").get("a scan") is None


def needs(selections: str, condition: str) -> scanplan.Clauses:
    rule = parse(selections, condition)
    formula = scanplan.translate(rule.trees, compile_condition)
    formula = scanplan.specialise(formula, {"EventID": 1, "Channel": "security"})
    return scanplan.clauses(formula, clause_rank)


SELECTIONS = """
    selection:
        Image|endswith: '\\\\whoami.exe'
        CommandLine|contains: '/priv'
    filter:
        ParentImage|startswith: 'C:\\\\Windows\\\\'
"""


def test_a_rule_needs_every_selection_literal_and_nothing_from_its_filter() -> None:
    # Anchored as JSON writes values: a suffix ends a string, backslashes are escaped.
    clauses = needs(SELECTIONS, "selection and not filter")

    assert set(clauses) == {frozenset({'\\\\whoami.exe"'}), frozenset({"/priv"})}


def test_exact_values_and_numbers_are_anchored_on_their_field_in_raw_records() -> None:
    selections = """
    selection:
        SignatureStatus: 'Valid'
        DestinationPort: 4444
    """
    clauses = needs(selections, "selection")
    number = next(clause for clause in clauses if any("4444" in item for item in clause))

    assert frozenset({'"SignatureStatus":"valid"'}) in clauses
    assert '"DestinationPort":4444' in number
    assert '"DestinationPort":"4444' in number
    assert '"DestinationPort":" ' in number  # " 4444" is read as 4444 too


def test_not_and_cidr_need_nothing_and_null_needs_the_name_absent() -> None:
    selections = """
    selection:
        DestinationIp|cidr: '10.0.0.0/8'
    filter:
        Image|endswith: '\\\\a.exe'
    nothing:
        ParentImage: null
    """
    assert needs(selections, "selection and not filter") == ()
    assert needs(selections, "nothing") == (frozenset({ABSENT + "ParentImage"}),)


def test_a_name_with_a_value_rules_out_null() -> None:
    rule = parse(
        """
    selection:
        Signed: 'true'
    empty:
        Description: null
    """,
        "selection and empty",
        product="windows",  # no log source condition: any Windows channel
    )
    engine = DetectionEngine([rule])

    def raw(data: str) -> str:
        return '{"Event":{"System":{"EventID":7,"Channel":"X"},"EventData":{' + data + "}}}"

    assert engine.raw_verdict(raw('"Signed":"true","Description":"kernel32.dll"')) == ()
    assert engine.raw_verdict(raw('"Signed":"true","Description":null')) == (0,)
    assert engine.raw_verdict(raw('"Signed":"true"')) == (0,)
    # An object without text flattens to nothing: the name is there, its value is not.
    assert engine.raw_verdict(raw('"Signed":"true","Description":{"#attributes":{}}')) == (0,)


def test_eventid_and_channel_leaves_fold_into_the_bucket() -> None:
    selections = """
    selection:
        EventID: 4688
        CommandLine|contains: 'mimikatz'
    """
    rule = parse(selections, "selection")
    formula = scanplan.translate(rule.trees, compile_condition)

    assert scanplan.specialise(formula, {"EventID": 1}) is False
    folded = scanplan.specialise(formula, {"EventID": 4688})
    assert scanplan.clauses(folded, clause_rank) == (frozenset({"mimikatz"}),)


def test_raw_text_is_never_lower_cased_and_turns_away_what_would_mislead() -> None:
    assert scanplan.raw_text('{"Image":"C:\\\\CMD.exe"}') == b'{"Image":"C:\\\\CMD.exe"}'
    assert scanplan.raw_text('{"P":"WINDOWS\u00ae"}') == '{"P":"WINDOWS\u00ae"}'.encode()
    # Lower-cased to ASCII by Python, or equated with i and s by its regexes: not judged raw.
    for char in ("\u212a", "\u0130", "\u0131", "\u017f"):
        assert scanplan.raw_text('{"C":"whoam' + char + '"}') is None


def test_a_non_ascii_literal_stands_for_its_case_variants() -> None:
    assert scanplan.case_variants("\u00e9t\u00e9") == frozenset(
        {"\u00e9t\u00e9", "\u00c9t\u00e9", "\u00e9t\u00c9", "\u00c9t\u00c9"}
    )
    # Capital sigma lower-cases to the final form at the end of a word.
    assert "\u03a3" in scanplan.case_variants("\u03c2")
    assert "\u03a3" in scanplan.case_variants("\u03c3")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"Event":{"System":{"EventID":4688,"Channel":"Security"}}}', (4688, "Security")),
        ('{"Event":{"System":{"EventID":"1","Channel":"Sysmon"}}}', (1, "Sysmon")),
        ('{"Event":{"System":{"EventID":{"#text":7},"Channel":"System"}}}', None),
        ('{"Event":{"System":{"Channel":"A"}}}', None),
    ],
)
def test_raw_bucket(raw: str, expected: tuple[int, str] | None) -> None:
    assert scanplan.raw_bucket(raw) == expected


def test_a_raw_record_with_a_spaced_name_or_a_list_is_not_judged_raw(sigmahq: RuleSet) -> None:
    engine = DetectionEngine(sigmahq.rules)
    plain = (
        '{"Event":{"System":{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational"},'
        '"EventData":{"Image":"C:\\\\x.exe","Threat Name":"y"}}}'
    )
    assert engine.raw_verdict(plain.replace("Threat Name", "ThreatName")) is not None
    assert engine.raw_verdict(plain) is None
    # Nor are values that flattening changes: lists, and values with attributes.
    listed = plain.replace('"Threat Name":"y"', '"Data":["a","b"]')
    assert engine.raw_verdict(listed) is None
    attributed = plain.replace('"Threat Name":"y"', '"Data":{"#text":"a"}')
    assert engine.raw_verdict(attributed) is None


def test_tuning_a_scan_never_leaves_out_a_rule_that_matches(
    sigmahq: RuleSet, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stockade.detection import prefilter

    records = raw_records()
    monkeypatch.setattr(prefilter, "_RETUNE_AFTER", 10**9)
    untuned = DetectionEngine(sigmahq.rules)
    expected = [untuned.raw_verdict(raw) for raw in records]
    # Tuned early, and on records where many literals are found in nearly every one.
    monkeypatch.setattr(prefilter, "_RETUNE_AFTER", 20)
    cache = ScanCache(tmp_path, "set-1")
    tuned = DetectionEngine(sigmahq.rules, scan_cache=cache)
    verdicts = [tuned.raw_verdict(raw) for raw in records]

    for raw, before, after in zip(records, expected, verdicts, strict=True):
        assert (before is None) == (after is None)
        if before is None or after is None:
            continue
        assert set(before) <= set(after)
        event = flatten_record(orjson.loads(raw))
        assert tuned.match_rules(event, after) == untuned.match_rules(event, before)
    deciders = [decider for decider in tuned._raw_deciders.values() if decider is not None]
    assert all(decider._hits is None for decider in deciders if decider._scans >= 20)
    shrunk = [
        key
        for key, decider in tuned._raw_deciders.items()
        if decider is not None
        and len(decider._by_literal) < len(untuned._raw_deciders[key]._by_literal)
    ]
    assert shrunk  # some scan left literals out
    # Some scan dropped literals and was kept tuned: a new engine starts from it.
    reloaded = DetectionEngine(sigmahq.rules, scan_cache=ScanCache(tmp_path, "set-1"))
    assert [reloaded.raw_verdict(raw) for raw in records] == [
        tuned.raw_verdict(raw) for raw in records
    ]


SYSMON = "Microsoft-Windows-Sysmon/Operational"


def record(event_id: int, channel: str, data: str, system: str = "") -> str:
    """A raw record the way the EVTX parser renders one (compact JSON)."""
    return (
        '{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},'
        '"System":{"Provider":{"#attributes":{"Name":"P"}},'
        f'"EventID":{event_id},"Channel":"{channel}"{system}}},"EventData":{data}}}}}'
    )


@pytest.mark.parametrize(
    ("selections", "raw"),
    [
        # A keyword may find a value only the Security 4688 aliases write (S-1-16-0 -> Untrusted).
        (
            "keywords:\n    - 'Untrusted'",
            record(
                4688, "Security", '{"NewProcessName":"C:\\\\x.exe","MandatoryLabel":"S-1-16-0"}'
            ),
        ),
        # Numbers and booleans are written without quotes: pieces of them are found unanchored.
        ("selection:\n    Flag|startswith: 'tru'", record(1, SYSMON, '{"Flag":true}')),
        ("selection:\n    Pid|startswith: '12'", record(1, SYSMON, '{"Pid":1234}')),
        ("selection:\n    Pid|endswith: '34'", record(1, SYSMON, '{"Pid":1234}')),
        ("selection:\n    Pid|startswith: '-'", record(1, SYSMON, '{"Pid":-1}')),
        # A null test is not refuted by a System attribute of the same name.
        (
            "selection:\n    Image|endswith: '.exe'\n    ThreadID: null",
            record(
                1,
                SYSMON,
                '{"Image":"C:\\\\x.exe"}',
                ',"Execution":{"#attributes":{"ProcessID":4,"ThreadID":8}}',
            ),
        ),
        # An EventData of text only flattens to Data.
        (
            "selection:\n    Data|startswith: 'run mimikatz'",
            record(1, SYSMON, '"run mimikatz now"'),
        ),
        # A field reference on EventID depends on the other field.
        ("selection:\n    EventID|fieldref: Code", record(1, SYSMON, '{"Code":1}')),
    ],
)
def test_edge_records_keep_the_rule_that_matches(selections: str, raw: str) -> None:
    rule = parse(selections, "selection" if "selection" in selections else "keywords", "windows")
    event = flatten_record(orjson.loads(raw))
    assert rule.matches(with_aliases(event))  # the record does match

    verdict = DetectionEngine([rule]).raw_verdict(raw)

    assert verdict is None or verdict == (0,)


def test_fractional_numbers_are_not_judged_raw() -> None:
    rule = parse("selection:\n    Ratio|endswith: '.5'", "selection", "windows")

    assert DetectionEngine([rule]).raw_verdict(record(1, SYSMON, '{"Ratio":1.5}')) is None


def test_raw_verdicts_from_several_threads(
    sigmahq: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from stockade.detection import prefilter

    # Tuning mid-way would make the answers depend on the order the threads ran in.
    monkeypatch.setattr(prefilter, "_RETUNE_AFTER", 10**9)
    records = raw_records()[:400] * 4
    engine = DetectionEngine(sigmahq.rules)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(engine.raw_verdict, records))
    single = DetectionEngine(sigmahq.rules)

    assert results == [single.raw_verdict(raw) for raw in records]


def test_common_literals_are_sought_in_their_fields_value() -> None:
    rule = parse("selection:\n    TargetFilename|endswith: '.exe'", "selection", "windows")
    engine = DetectionEngine([rule])

    def verdict(data: str) -> Any:
        raw = record(11, SYSMON, data)
        assert rule.matches(with_aliases(flatten_record(orjson.loads(raw)))) == (
            ".exe" in data.split('"TargetFilename"')[-1].lower()
        )
        return engine.raw_verdict(raw)

    # `.exe` in another field's value no longer makes the rule a candidate ...
    assert verdict('{"Image":"C:\\\\x.exe","TargetFilename":"C:\\\\x.txt"}') == ()
    # ... in its own value it does, whatever escapes come before it.
    for value in (
        "C:\\\\x.EXE",
        'a \\"quoted\\" name.exe',
        "tab\\there\\\\.exe",
        "caf\\u00e9 \\ud83d\\ude00.exe",
        "\u00e9t\u00e9.exe",
    ):
        assert verdict('{"Image":"C:\\\\x.txt","TargetFilename":"' + value + '"}') == (0,)
