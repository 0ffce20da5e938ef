"""NDJSON batches: events or line-numbered problems; the time an event happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from stockade.telemetry.ndjson import (
    MAX_FIELDS,
    MAX_VALUE_CHARS,
    LineProblem,
    event_time,
    parse_batch,
)

DEFAULT = datetime(2000, 1, 1, tzinfo=UTC)


def ndjson(*events: Any) -> bytes:
    return b"\n".join(orjson.dumps(e) for e in events)


def process_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "EventID": 1,
        "UtcTime": "2024-05-01 10:00:00.123",
        "Image": r"C:\Windows\System32\cmd.exe",
        "CommandLine": "cmd.exe /c whoami",
        "ParentImage": r"C:\Program Files\Microsoft Office\WINWORD.EXE",
        "ProcessId": 4242,
        "Elevated": False,
        "Score": 0.5,
        "User": None,
    }
    event.update(overrides)
    return event


# parse_batch: accepted


def test_valid_batch_keeps_every_event_in_order() -> None:
    events = [process_event(ProcessId=i) for i in range(3)]
    parsed = parse_batch(ndjson(*events), max_events=10)
    assert parsed.problems == []
    assert parsed.events == events


def test_empty_body_is_an_empty_batch() -> None:
    parsed = parse_batch(b"", max_events=10)
    assert parsed.events == []
    assert parsed.problems == []


def test_blank_lines_are_skipped() -> None:
    body = b"\n" + ndjson(process_event()) + b"\n\n   \n" + ndjson(process_event()) + b"\n"
    parsed = parse_batch(body, max_events=10)
    assert parsed.problems == []
    assert len(parsed.events) == 2


def test_crlf_line_endings_are_accepted() -> None:
    body = ndjson(process_event()) + b"\r\n" + ndjson(process_event()) + b"\r\n"
    parsed = parse_batch(body, max_events=10)
    assert parsed.problems == []
    assert len(parsed.events) == 2


def test_event_id_as_digit_string_is_normalised_to_int() -> None:
    parsed = parse_batch(ndjson({"EventID": "4688"}), max_events=10)
    assert parsed.problems == []
    assert parsed.events == [{"EventID": 4688}]
    assert type(parsed.events[0]["EventID"]) is int


def test_null_values_are_allowed() -> None:
    parsed = parse_batch(ndjson({"EventID": 1, "User": None}), max_events=10)
    assert parsed.problems == []


# parse_batch: problems, each with its 1-based line number


def test_malformed_json_is_reported_with_its_line_number() -> None:
    body = ndjson(process_event()) + b'\n{"EventID": 1,\n' + ndjson(process_event())
    parsed = parse_batch(body, max_events=10)
    assert len(parsed.problems) == 1
    problem = parsed.problems[0]
    assert problem.line == 2
    assert problem.message.startswith("not valid JSON")


def test_line_numbers_count_blank_lines() -> None:
    body = b"\n\n" + b"not json"
    parsed = parse_batch(body, max_events=10)
    assert [p.line for p in parsed.problems] == [3]


def test_every_bad_line_is_named() -> None:
    body = b"\n".join([b"[1]", ndjson(process_event()), b"{", b'{"Image": "x"}'])
    parsed = parse_batch(body, max_events=10)
    assert [p.line for p in parsed.problems] == [1, 3, 4]
    assert len(parsed.events) == 1


@pytest.mark.parametrize(
    ("line", "kind"),
    [(b"[1, 2]", "list"), (b'"text"', "str"), (b"42", "int"), (b"null", "NoneType")],
)
def test_non_object_line_is_refused(line: bytes, kind: str) -> None:
    parsed = parse_batch(line, max_events=10)
    assert parsed.events == []
    assert parsed.problems == [LineProblem(1, f"expected a JSON object, got {kind}")]


@pytest.mark.parametrize("event", [{"Image": "cmd.exe"}, {"EventID": None}])
def test_missing_event_id_is_refused(event: dict[str, Any]) -> None:
    parsed = parse_batch(ndjson(event), max_events=10)
    assert parsed.events == []
    assert parsed.problems == [LineProblem(1, "missing required field 'EventID'")]


@pytest.mark.parametrize("event_id", [True, False])
def test_bool_event_id_is_refused(event_id: bool) -> None:
    parsed = parse_batch(ndjson({"EventID": event_id}), max_events=10)
    assert parsed.events == []
    assert len(parsed.problems) == 1
    assert "'EventID' must be an integer" in parsed.problems[0].message


@pytest.mark.parametrize("event_id", ["", "abc", "1.5", " 1", "0x10", 1.0, [1], {"id": 1}])
def test_non_integer_event_id_is_refused(event_id: Any) -> None:
    parsed = parse_batch(ndjson({"EventID": event_id}), max_events=10)
    assert parsed.events == []
    assert len(parsed.problems) == 1
    assert "'EventID' must be an integer" in parsed.problems[0].message


@pytest.mark.parametrize("event_id", ["\u00b2", "\u2460"])  # superscript two, circled one
def test_unicode_digit_like_event_id_is_a_line_problem_not_a_crash(event_id: str) -> None:
    parsed = parse_batch(ndjson({"EventID": event_id}), max_events=10)
    assert parsed.events == []
    assert [p.line for p in parsed.problems] == [1]


@pytest.mark.parametrize("value", [{"nested": "x"}, ["a", "b"]])
def test_nested_value_is_refused_naming_the_field(value: Any) -> None:
    parsed = parse_batch(ndjson(process_event(Hashes=value)), max_events=10)
    assert parsed.events == []
    assert len(parsed.problems) == 1
    assert "'Hashes'" in parsed.problems[0].message
    assert "must be a string, number, boolean or null" in parsed.problems[0].message


def test_too_long_value_is_refused_naming_the_field() -> None:
    long_line = "x" * (MAX_VALUE_CHARS + 1)
    parsed = parse_batch(ndjson(process_event(CommandLine=long_line)), max_events=10)
    assert len(parsed.problems) == 1
    assert "'CommandLine'" in parsed.problems[0].message


def test_value_at_the_length_limit_is_accepted() -> None:
    parsed = parse_batch(ndjson(process_event(CommandLine="x" * MAX_VALUE_CHARS)), max_events=10)
    assert parsed.problems == []


def test_too_many_fields_is_refused() -> None:
    event = {"EventID": 1, **{f"F{i}": i for i in range(MAX_FIELDS)}}
    parsed = parse_batch(ndjson(event), max_events=10)
    assert len(parsed.problems) == 1
    assert "too many fields" in parsed.problems[0].message


def test_exactly_max_events_is_accepted() -> None:
    parsed = parse_batch(ndjson(*[process_event()] * 3) + b"\n\n", max_events=3)
    assert parsed.problems == []
    assert len(parsed.events) == 3


def test_too_many_events_is_reported_on_the_first_extra_line() -> None:
    parsed = parse_batch(ndjson(*[process_event()] * 5), max_events=3)
    assert parsed.problems == [LineProblem(4, "batch holds more than 3 events")]


# event_time


def test_event_time_parses_sysmon_utc_time_as_utc() -> None:
    event = {"UtcTime": "2024-05-01 10:00:00.123"}
    assert event_time(event, DEFAULT) == datetime(2024, 5, 1, 10, 0, 0, 123_000, tzinfo=UTC)
    assert event_time(event, DEFAULT).tzinfo is not None


def test_event_time_parses_iso_with_z() -> None:
    event = {"@timestamp": "2024-05-01T10:00:00Z"}
    assert event_time(event, DEFAULT) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_event_time_parses_windows_time_created_with_seven_fraction_digits() -> None:
    event = {"TimeCreated": "2024-05-01T10:00:00.1234567Z"}
    parsed = event_time(event, DEFAULT)
    assert parsed.replace(microsecond=0) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_event_time_keeps_an_explicit_offset() -> None:
    event = {"Timestamp": "2024-05-01T12:00:00+02:00"}
    parsed = event_time(event, DEFAULT)
    assert parsed.utcoffset() == timedelta(hours=2)
    assert parsed == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_event_time_prefers_utc_time() -> None:
    event = {"UtcTime": "2024-05-01 10:00:00", "@timestamp": "2030-01-01T00:00:00Z"}
    assert event_time(event, DEFAULT) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_event_time_skips_an_unparseable_field_for_the_next_one() -> None:
    event = {"UtcTime": "yesterday", "TimeCreated": "2024-05-01T10:00:00Z"}
    assert event_time(event, DEFAULT) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"UtcTime": ""},
        {"UtcTime": "not a time"},
        {"UtcTime": 1714557600},
        {"UtcTime": None},
        {"EventTime": "2024-05-01T10:00:00Z"},  # not a time field we read
    ],
)
def test_event_time_falls_back_to_default(event: dict[str, Any]) -> None:
    default = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert event_time(event, default) is default
