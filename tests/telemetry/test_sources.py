"""Reading collected logs: every format, gzip, directories, stdin-like streams, bad input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from stockade.telemetry.sources import (
    InputFile,
    InputProblem,
    SourceEvent,
    event_from_json,
    input_files,
    read_file,
)

SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
SAMPLE = next((SIGMA / "regression_data").rglob("*.evtx"))

RECORD = {
    "Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "EventRecordID": 42,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "WIN-001",
            "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T10:00:00Z"}},
        },
        "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe", "ProcessId": 10},
    }
}


def read(path: Path) -> tuple[list[dict[str, object]], list[InputProblem]]:
    events: list[dict[str, object]] = []
    problems: list[InputProblem] = []
    for item in read_file(InputFile(str(path), path)):
        if isinstance(item, SourceEvent):
            events.append(item.event)
        else:
            problems.append(item)
    return events, problems


def test_evtx_and_its_json_dump_give_the_same_events(tmp_path: Path) -> None:
    from_evtx, problems = read(SAMPLE)
    dumped, json_problems = read(SAMPLE.with_suffix(".json"))

    assert problems == json_problems == []
    assert from_evtx
    assert [event["EventRecordID"] for event in from_evtx] == [
        event["EventRecordID"] for event in dumped
    ]
    assert from_evtx[0]["Channel"] == dumped[0]["Channel"]
    assert isinstance(from_evtx[0]["EventID"], int)


def test_gzip_is_read_by_content(tmp_path: Path) -> None:
    packed = tmp_path / "sample.evtx.gz"
    with SAMPLE.open("rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)

    events, problems = read(packed)

    assert problems == []
    assert len(events) == len(read(SAMPLE)[0])


def test_record_flattening() -> None:
    event = event_from_json(RECORD)

    assert event == {
        "Image": "C:\\Windows\\System32\\cmd.exe",
        "ProcessId": 10,
        "EventID": 1,
        "EventRecordID": 42,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "WIN-001",
        "Provider_Name": "Microsoft-Windows-Sysmon",
        "TimeCreated": "2026-01-01T10:00:00Z",
    }


def test_ndjson_with_bad_lines_goes_on_and_names_them(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    lines = [json.dumps(RECORD), "{not json", '["a list"]', json.dumps({"EventID": "3", "a": 1})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    events, problems = read(path)

    assert [event["EventID"] for event in events] == [1, 3]
    assert [problem.location for problem in problems] == ["line 2", "line 3"]


def test_pretty_printed_concatenated_records(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(
        json.dumps(RECORD, indent=2) + "\n" + json.dumps(RECORD, indent=2) + "\n", "utf-8"
    )

    events, problems = read(path)

    assert problems == []
    assert len(events) == 2


def test_corrupt_evtx_is_reported_and_reading_goes_on(tmp_path: Path) -> None:
    data = bytearray(SAMPLE.read_bytes())
    data[4096 + 600 : 4096 + 1400] = b"\xff" * 800  # inside the first chunk's records
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(bytes(data))

    _, problems = read(broken)

    assert problems
    assert all(problem.file == str(broken) and problem.location for problem in problems)


def test_directories_recurse_and_missing_paths_are_problems(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.json").write_text("{}", "utf-8")
    (tmp_path / "a" / "notes.txt").write_text("no", "utf-8")

    found = list(input_files([str(tmp_path), str(tmp_path / "nope")]))

    assert [item.display for item in found if isinstance(item, InputFile)] == [
        str(tmp_path / "a" / "b" / "x.json")
    ]
    assert [item.file for item in found if isinstance(item, InputProblem)] == [
        str(tmp_path / "nope")
    ]
