"""The native EVTX JSON flattener gives exactly what decoding and `flatten_record` give."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from stockade.telemetry import sources
from stockade.telemetry.eventlog import flatten_record

native = sources._flatten
needs_native = pytest.mark.skipif(native is None, reason="the native flattener is not built")


def test_ci_builds_the_native_flattener() -> None:
    if os.environ.get("STOCKADE_REQUIRE_SERVICES") == "1":
        assert native is not None


def _reference(raw: str) -> Any:
    try:
        return flatten_record(orjson.loads(raw))
    except Exception as error:  # what the Python path would report
        return type(error)


def _same(raw: str) -> bool:
    """Whether the native answer is the Python one (None: left to the Python path)."""
    got = native(raw)  # type: ignore[misc]
    if got is None:
        return True
    expected = _reference(raw)
    return (
        got == expected
        and list(got) == list(expected)
        and [type(value) for value in got.values()] == [type(value) for value in expected.values()]
    )


def _records() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detection"))
    from test_scanplan import raw_records

    return raw_records()


@needs_native
def test_every_regression_record_flattens_as_in_python() -> None:
    records = _records()
    handled = [raw for raw in records if native(raw) is not None]  # type: ignore[misc]

    assert all(_same(raw) for raw in records)
    assert len(handled) > 0.95 * len(records)  # the common shape is the native one's


SYSTEM = (
    '{"Provider":{"#attributes":{"Name":"P","Guid":"G"}},"EventID":%s,'
    '"TimeCreated":{"#attributes":{"SystemTime":"2026-01-01T00:00:00Z"}},'
    '"EventRecordID":%s,"Channel":"Security","Computer":"pc","Security":{"#attributes":'
    '{"UserID":"S-1-5-18"}}'
)


def record(data: str, event_id: str = "4688", record_id: str = '"12"', rest: str = "") -> str:
    return (
        '{"Event":{"System":'
        + SYSTEM % (event_id, record_id)
        + rest
        + '},"EventData":'
        + data
        + "}}"
    )


@needs_native
@pytest.mark.parametrize(
    "raw",
    [
        record('{"CommandLine":"a \\"quoted\\" \\\\path\\n\\t\\u00e9\\ud83d\\ude00 \\/"}'),
        record('{"Name":"caf\u00e9 \u00ae","Count":-12,"Flag":true,"Off":false,"None":null}'),
        record('{"A":"1","A":"2","B":"3"}'),  # a repeated name: the last value, first place
        record('{"EventID":"5","Channel":"data"}'),  # System wins over data of the same name
        record("null"),
        record("{}"),
        record('{"X":"y"}', event_id='"0042"', record_id='"-"'),
        record('{"X":"y"}', event_id="null", record_id="7"),
        record('{"X":"y"}', rest=',"Execution":{"#attributes":{"ProcessID":4}}'),
        '{"Event":{"#attributes":{"xmlns":"x"},"System":{"EventID":1},"EventData":{"X":"y"}}}',
        '{"Event":{"System":{"EventID":1}}}',
    ],
)
def test_edge_records(raw: str) -> None:
    assert native(raw) is not None  # type: ignore[misc]
    assert _same(raw)


@needs_native
@pytest.mark.parametrize(
    "raw",
    [
        record('{"Threat Name":"x"}'),  # spaced names gain a second spelling
        record('{"Data":["a","b"]}'),  # unnamed values
        record('{"X":{"#text":"y"}}'),  # values with attributes
        record('{"X":1.5}'),  # fractions: JSON and Python may spell them differently
        record('{"X":"y"}', record_id='"\u0663"'),  # a digit str.isdigit() knows, not ASCII
        record('{"X":"y"}').replace(',"EventData"', ', "EventData"'),  # not compact
        record('{"X":"\\ud800"}'),  # a lone surrogate: the decoder's error to report
        record('{"X":"y"}', event_id='{"#attributes":{"Qualifiers":0},"#text":4624}'),
        '{"Event":{"System":{"EventID":1},"UserData":{"EventXML":{"Param1":"x"}}}}',
        '{"Event":{"System":{"EventID":1}},"Other":1}',
        '{"Event":{"EventData":{"X":"y"}}}',  # no System: not a record
        '{"Event":{"System":{"EventID":1},"EventData":{"X":"y"}}',  # truncated
        '{"Event":{"System":{"EventID":1,"EventID":2}}}',
        # Names that decode to what the reader looks for: the decoder's to read.
        '{"Event":{"System":{"Provider":{"#attributes":{"N\\u0061me":"x"}},"EventID":1}}}',
        '{"Event":{"System":{"Provider":{"\\u0023attributes":{"Name":"x"}},"EventID":1}}}',
        # A repeated Event: decoding keeps the last.
        '{"Event":{"System":{"EventID":1}},"Event":{"EventData":{"A":"1"}}}',
    ],
)
def test_uncommon_records_are_left_to_the_python_path(raw: str) -> None:
    assert native(raw) is None  # type: ignore[misc]


@needs_native
def test_damaged_records_never_flatten_differently() -> None:
    rng = random.Random(11)
    records = _records()[:500]
    pieces = [*'"\\{}[],:0123456789-.eE #', "true", "null", "\\u00e9", "\\ud800", "\u00e9"]
    for _ in range(20_000):
        raw = rng.choice(records)
        at = rng.randrange(len(raw))
        insert = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 3)))
        mutant = raw[:at] + insert + raw[at + rng.randint(0, 3) :]
        assert _same(mutant), mutant


def test_evtx_reading_uses_whichever_flattener_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sample = next((Path(__file__).resolve().parents[3] / "shared" / "data").rglob("*.evtx"))
    source = sources.InputFile(str(sample), sample)
    built = [item for item in sources.read_file(source) if isinstance(item, sources.SourceEvent)]
    monkeypatch.setattr(sources, "_flatten", None)
    python = [item for item in sources.read_file(source) if isinstance(item, sources.SourceEvent)]

    assert [item.event for item in built] == [item.event for item in python]
    assert python
