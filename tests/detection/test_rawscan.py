"""The native raw-record scan answers exactly as the Python scan does."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import orjson
import pytest

from stockade.detection import DetectionEngine, RuleSet, engine, load_rule_paths, prefilter
from stockade.detection import scanplan as plan
from stockade.detection.cache import ScanCache
from stockade.detection.logsource import with_aliases
from stockade.telemetry.eventlog import flatten_record

SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]

native = prefilter._rawscan
needs_native = pytest.mark.skipif(
    native is None, reason="the native scan is not built (Debian: libhyperscan-dev)"
)


def test_ci_builds_the_native_scan() -> None:
    # CI installs Hyperscan's headers: there the native module must have been built, and
    # every test below runs.
    if os.environ.get("STOCKADE_REQUIRE_SERVICES") == "1":
        assert prefilter.NATIVE
    if native is not None:
        assert native.GUARD == plan.RAW_GUARD


def _texts() -> list[str]:
    """Records and near-records that exercise every branch of the guard and the bucket."""
    rng = random.Random(7)
    pieces = ['"', ":", " ", "[", "-", "1", "2", ".", "e", "E", "#text", "a", "\\", ",", "{", "}"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    texts += [
        '{"EventID":4688,"Channel":"Security","A b":"c"}',
        '{"EventID":"12","Channel":"Sysmon","#text":"x"}',
        '{"EventID":1,"Channel":"S","Ratio":-1.5}',
        '{"EventID":1,"Channel":"S","Ratio":1e3}',
        '{"EventID":1,"Channel":"S","List":["a"]}',
        '{"EventID":1,"Channel":"S","Value":"a b":}',
        '{"EventID":1,"Channel":"S","Value":"a b"}',
        '{"EventID":{"#attributes":{"Qualifiers":0},"#text":4624},"Channel":"Security"}',
        '{"EventID":4624,"Channel":"Sec\\\\urity"}',
        '{"EventID":46240000000000000000000,"Channel":"Security"}',
        '{"EventID":"12"x,"Channel":"S"}',
        '{"EventID":007,"Channel":"S\u00e9curit\u00e9"}',
        '{"EventID":7}',
        '"EventID":',
        "",
    ]
    return texts


@needs_native
def test_the_native_guard_is_the_guard_expression() -> None:
    from test_scanplan import raw_records

    guard = re.compile(plan.RAW_GUARD)
    # Long texts too: the guard reads sixteen bytes at a time.
    rng = random.Random(3)
    records = raw_records()[:400]
    mutants = []
    for record in records:
        at = rng.randrange(len(record))
        piece = rng.choice([" ", '"', '":', '"#text"', '":[', '":-1.5', '"a b":', ' x"'])
        mutants.append(record[:at] + piece + record[at:])
    for text in [*_texts(), *records, *mutants]:
        assert native.unfit(text) == bool(guard.search(text.encode())), text
    assert any(native.unfit(text) for text in mutants)
    assert not all(native.unfit(text) for text in records)


@needs_native
def test_the_native_bucket_is_raw_bucket() -> None:
    for text in _texts():
        assert native.bucket(text) == plan.raw_bucket(text), text


@pytest.fixture(scope="module")
def sigmahq() -> RuleSet:
    return load_rule_paths(RULE_DIRS)


def _python_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefilter, "_rawscan", None)
    monkeypatch.setattr(engine, "_raw_bucket", plan.raw_bucket)


@needs_native
def test_native_and_python_verdicts_agree_before_and_after_tuning(
    sigmahq: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_scanplan import raw_records

    monkeypatch.setattr(prefilter, "_RETUNE_AFTER", 40)  # tune during the run, in both
    records = raw_records()
    fast = DetectionEngine(sigmahq.rules)
    native_verdicts = [fast.raw_verdict(raw) for raw in records]
    assert any(decider.native for decider in fast._raw_deciders.values() if decider)
    assert any(decider.retuned for decider in fast._raw_deciders.values() if decider)

    with monkeypatch.context() as patch:
        _python_only(patch)
        # The same plan as the native scan's: plain literals, no pattern walking a value.
        patch.setattr(engine, "native_for", lambda guard: True)
        slow = DetectionEngine(sigmahq.rules)
        python_verdicts = [slow.raw_verdict(raw) for raw in records]
        assert not any(decider.native for decider in slow._raw_deciders.values() if decider)

    # The native scan leaves out, besides, the candidates an exclusion rules out: each of them
    # must fail on the decoded record.
    excluded = 0
    for raw, fast_verdict, slow_verdict in zip(
        records, native_verdicts, python_verdicts, strict=True
    ):
        if fast_verdict is None or slow_verdict is None:
            assert fast_verdict == slow_verdict
            continue
        assert set(fast_verdict) <= set(slow_verdict)
        left_out = set(slow_verdict) - set(fast_verdict)
        if left_out:
            excluded += 1
            event = with_aliases(flatten_record(orjson.loads(raw)))
            assert not [index for index in left_out if sigmahq.rules[index].matches(event)], raw
    assert excluded > 20
    assert sum(verdict == () for verdict in native_verdicts) > 50
    # Settled buckets were answered by the native judge in one call.
    settled = [fast._judge.verdict(raw) for raw in records]  # type: ignore[union-attr]
    assert sum(verdict is not NotImplemented for verdict in settled) > len(records) // 2
    assert [verdict for verdict in settled if verdict is not NotImplemented] == [
        expected
        for verdict, expected in zip(settled, native_verdicts, strict=True)
        if verdict is not NotImplemented
    ]


@needs_native
def test_native_scans_come_back_from_the_cache(sigmahq: RuleSet, tmp_path: Path) -> None:
    from test_scanplan import raw_records

    records = raw_records()[:300]
    first = DetectionEngine(sigmahq.rules, scan_cache=ScanCache(tmp_path, "set"))
    expected = [first.raw_verdict(raw) for raw in records]
    again = DetectionEngine(sigmahq.rules, scan_cache=ScanCache(tmp_path, "set"))

    assert [again.raw_verdict(raw) for raw in records] == expected
    assert all(decider.native for decider in again._raw_deciders.values() if decider)


@needs_native
def test_a_native_scanner_reports_what_it_found() -> None:
    database = native.Database([b"abc", b"xyz"], [0, 0])
    clause_abc = ((frozenset({0}), frozenset()),)
    # Rule 3 is indexed under literal 0 and needs nothing more; rule 5 needs literal 1 absent.
    scanner = native.Scanner(
        database, (((3, ()),), ()), ((5, ((frozenset(), frozenset({1})),)),), (), True
    )

    assert sorted(scanner.scan("--abc--")) == [3, 5]
    assert scanner.scan("--xyz--") == []
    assert scanner.scan('{"A b":"abc"}') is None  # the guard: a name with a space
    assert scanner.hits == [1, 1] and scanner.scans == 2
    # A record with a character that lower-cases to ASCII is not judged raw.
    guarded = native.Scanner(database, ((), ()), ((7, clause_abc),), ("\u212a".encode(),))
    assert guarded.scan("abc \u212a") is None
    assert guarded.scan("abc \u00e9") == [7]
    assert guarded.hits is None
    assert native.Database.deserialize(database.serialize()).count == 2


@needs_native
def test_the_native_scanner_finds_unfit_characters_wherever_they_stand() -> None:
    # Records of other non-ASCII characters, with an unfit one at every offset (across the
    # sixteen-byte blocks the scan steps by) or none: judged raw exactly when none is there.
    database = native.Database([b"abc"], [0])
    unfit = tuple(char.encode() for char in plan.UNFIT)
    scanner = native.Scanner(database, ((),), ((7, ((frozenset({0}), frozenset()),)),), unfit)
    rng = random.Random(11)
    others = ["a", "b", "c", " ", "\u00e9", "\u00ae", "\u0100", "\u2129", "\U0001f600"]
    others = [piece.encode().decode("unicode_escape") for piece in others]
    for _ in range(3000):
        text = "".join(rng.choice(others) for _ in range(rng.randint(0, 40))) + "abc"
        if rng.random() < 0.5:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(plan.UNFIT) + text[at:]
        expected = None if any(char in text for char in plan.UNFIT) else [7]
        assert scanner.scan(text) == expected, text
    with pytest.raises(TypeError, match="non-ASCII"):
        native.Scanner(database, ((),), (), (b"k",))


@needs_native
def test_a_native_scanner_refuses_a_bad_plan() -> None:
    database = native.Database([b"abc"], [0])
    with pytest.raises(ValueError, match="literal id"):
        native.Scanner(database, (((0, ((frozenset({4}), frozenset()),)),),), (), ())
    with pytest.raises(ValueError, match="one by_literal entry per"):
        native.Scanner(database, (), (), ())
    with pytest.raises(ValueError, match="Hyperscan refused"):
        native.Database([b"(unclosed"], [0])
    with pytest.raises(ValueError, match="not a serialised database"):
        native.Database.deserialize(b"xx")
    with pytest.raises(TypeError):
        native.Scanner(database, ((),), (), ()).scan(b"bytes")


@needs_native
def test_the_judge_merges_a_buckets_always_rules_with_what_the_scan_found() -> None:
    database = native.Database([b"abc", b"xyz"], [0, 0])
    scanner = native.Scanner(database, (((3, ()),), ((9, ()),)), (), ())
    judge = native.Judge()
    record = '{"System":{"EventID":4688,"Channel":"Security"},"EventData":{"A":"%s"}}'

    assert judge.verdict(record % "abc") is NotImplemented  # not registered: the Python path
    judge.register(4688, "Security", scanner, (1, 3, 5))
    judge.register(4689, "Security", None, ())

    assert judge.verdict(record % "abc xyz") == (1, 3, 5, 9)
    assert judge.verdict(record % "nothing") == (1, 3, 5)
    assert judge.verdict(record % 'a b":x') is None  # the guard
    assert judge.verdict((record % "abc").replace("4688", "4689")) is None
    assert judge.verdict('{"EventID":{"#text":1}}') is None  # no plain bucket
    for event_id in range(100):  # growing keeps every registration
        judge.register(event_id, "Other", None, ())
    assert judge.verdict(record % "xyz") == (1, 3, 5, 9)
    with pytest.raises(ValueError, match="rising order"):
        judge.register(1, "Security", scanner, (5, 3))
    with pytest.raises(RuntimeError, match="not initialised"):
        native.Judge.__new__(native.Judge).verdict(record % "abc")
    with pytest.raises(RuntimeError, match="compiled once"):
        database.__init__([b"abc"], [0])
    with pytest.raises(TypeError):
        judge.register(1, "Security", "not a scanner", ())
    with pytest.raises(TypeError):
        judge.register(1, "Security", scanner, ("1",))
