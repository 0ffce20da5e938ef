"""The agent's buffer and tailing, on real files."""

from __future__ import annotations

import json
from pathlib import Path

from stockade.agent.spool import Spool, tail, valid_line


def _line(i: int) -> bytes:
    return json.dumps({"EventID": 1, "Image": f"/usr/bin/p{i}"}).encode()


def test_tail_takes_complete_lines_and_keeps_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "events.ndjson"
    log.write_bytes(_line(1) + b"\n" + _line(2) + b"\n" + b'{"EventID": 3')  # last one unfinished
    lines, offset, skipped = tail(log, 0)
    assert lines == [_line(1), _line(2)] and skipped == 0
    with log.open("ab") as f:
        f.write(b', "Image": "x"}\nnot json\n{"EventID": "1"}\n')
    lines, offset2, skipped = tail(log, offset)
    assert lines == [b'{"EventID": 3, "Image": "x"}'] and skipped == 2
    assert tail(log, offset2) == ([], offset2, 0)


def test_a_truncated_or_rotated_file_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "events.ndjson"
    log.write_bytes(_line(1) + b"\n" + _line(2) + b"\n")
    _, offset, _ = tail(log, 0)
    log.write_bytes(_line(3) + b"\n")  # rotated: shorter than the offset
    lines, _, _ = tail(log, offset)
    assert lines == [_line(3)]
    assert tail(tmp_path / "missing.ndjson", 7) == ([], 7, 0)


def test_spool_keeps_order_splits_big_batches_and_sets_rejects_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "buffer")
    spool.append([_line(i) for i in range(2500)])
    spool.append([_line(9999)])
    segments = spool.segments()
    assert len(segments) == 4  # 1000 + 1000 + 500 + 1, oldest first
    assert segments[-1].read_bytes() == _line(9999) + b"\n"
    assert spool.pending_lines() == 2501
    # a fresh Spool on the same directory (a restart) sees the same segments
    assert Spool(tmp_path / "buffer").segments() == segments
    spool.reject(segments[0], "400: line 3 has no EventID")
    assert spool.pending_lines() == 1501
    assert (spool.rejected / f"{segments[0].name}.reason").read_text().startswith("400")


def test_valid_line_wants_an_object_with_an_integer_event_id() -> None:
    assert valid_line(b'{"EventID": 4688}')
    assert not valid_line(b'{"EventID": true}')
    assert not valid_line(b"[1]")
    assert not valid_line(b"{")
