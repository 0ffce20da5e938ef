"""NDJSON batch parsing and validation. Pure: bytes in, events or line-numbered problems out.

An event is one JSON object per line with Sysmon / Windows field names (`EventID`, `Image`,
`CommandLine`, ...). `EventID` is required and must be an integer (or a string of digits);
other values must be scalars (string, number, boolean, null). A batch is all-or-nothing: if any
line is bad, no line of it is stored and the error names every bad line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_FIELDS = 256
MAX_VALUE_CHARS = 32_768
TIME_FIELDS = ("UtcTime", "TimeCreated", "@timestamp", "Timestamp")


@dataclass(frozen=True)
class LineProblem:
    line: int
    message: str


@dataclass(frozen=True)
class ParsedBatch:
    events: list[dict[str, Any]]
    problems: list[LineProblem]


def parse_batch(body: bytes, *, max_events: int) -> ParsedBatch:
    events: list[dict[str, Any]] = []
    problems: list[LineProblem] = []
    for number, raw in enumerate(body.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(events) + len(problems) >= max_events:
            problems.append(LineProblem(number, f"batch holds more than {max_events} events"))
            break
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problems.append(LineProblem(number, f"not valid JSON: {exc}"))
            continue
        problem = _validate(value)
        if problem:
            problems.append(LineProblem(number, problem))
        else:
            events.append(_normalise(value))
    return ParsedBatch(events, problems)


def _validate(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    if len(value) > MAX_FIELDS:
        return f"too many fields ({len(value)} > {MAX_FIELDS})"
    event_id = value.get("EventID")
    if event_id is None:
        return "missing required field 'EventID'"
    if isinstance(event_id, bool) or not (
        isinstance(event_id, int)
        # isascii: str.isdigit() also accepts superscripts and other scripts' digits
        or (isinstance(event_id, str) and event_id.isascii() and event_id.isdigit())
    ):
        return f"'EventID' must be an integer, got {event_id!r}"
    for key, item in value.items():
        if item is not None and not isinstance(item, str | int | float | bool):
            return f"field {key!r} must be a string, number, boolean or null"
        if isinstance(item, str) and len(item) > MAX_VALUE_CHARS:
            return f"field {key!r} is longer than {MAX_VALUE_CHARS} characters"
    return None


def _normalise(value: dict[str, Any]) -> dict[str, Any]:
    value["EventID"] = int(value["EventID"])
    return value


def event_time(event: dict[str, Any], default: datetime) -> datetime:
    """The time the event happened, from its own fields when they parse, else `default`."""
    for name in TIME_FIELDS:
        raw = event.get(name)
        if isinstance(raw, str) and raw:
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default
