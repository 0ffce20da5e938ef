"""Telemetry on its way: tail NDJSON files into an on-disk buffer, ship the buffer in order.

A line is copied into a buffer segment (written and fsynced) before the file offset moves past
it, and a segment is deleted only after the server accepted it, so a crash or an unreachable
server never loses a line (at worst one is sent twice, which ingest tolerates). A segment the
server refuses as malformed moves to `rejected/` with the server's answer, so it cannot block
the ones behind it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

MAX_SEGMENT_LINES = 1000  # well under the server's batch limit


def valid_line(line: bytes) -> bool:
    """A JSON object with an integer EventID, as ingest requires."""
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and type(event.get("EventID")) is int


class Spool:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.rejected = directory / "rejected"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._seq = 0

    def append(self, lines: list[bytes]) -> int:
        for start in range(0, len(lines), MAX_SEGMENT_LINES):
            chunk = lines[start : start + MAX_SEGMENT_LINES]
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.ndjson"
            tmp = self.dir / f".{name}.tmp"
            with open(tmp, "wb") as f:
                f.write(b"\n".join(chunk) + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / name)
        return len(lines)

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("*.ndjson"))

    def pending_lines(self) -> int:
        return sum(len(p.read_bytes().splitlines()) for p in self.segments())

    def reject(self, segment: Path, reason: str) -> None:
        self.rejected.mkdir(exist_ok=True, mode=0o700)
        os.replace(segment, self.rejected / segment.name)
        (self.rejected / f"{segment.name}.reason").write_text(reason)


def tail(path: Path, offset: int) -> tuple[list[bytes], int, int]:
    """Complete new lines of `path` after `offset`: (valid lines, new offset, skipped lines).

    A file shorter than the offset was truncated or rotated: it is read from the start. A last
    line without its newline is left for the next read (the writer is still writing it).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], offset, 0
    if size < offset:
        offset = 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset, 0
    lines = [line.strip() for line in data[: end + 1].splitlines() if line.strip()]
    good = [line for line in lines if valid_line(line)]
    return good, offset + end + 1, len(lines) - len(good)
