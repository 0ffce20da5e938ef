"""Read events from collected logs: EVTX, evtx_dump JSON, flat NDJSON, ECS NDJSON; gzip; files,
directories and stdin.

Everything streams: a file is read record by record (or line by line), never loaded whole, so
memory stays flat whatever the input size. A bad record or line does not stop reading: it comes
out as an `InputProblem` with its location, in the same stream as the events.

Formats are recognised by content, not by name: gzip by its magic bytes, EVTX by its file
signature, JSON by its first character. A JSON input may hold one object per line (NDJSON) or
concatenated, pretty-printed objects (``evtx_dump`` output), or one array of objects. Each object
is an event log record (``{"Event": {"System": ...}}``), an ECS document, or a flat event.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from stockade.telemetry.ecs import flatten_ecs, is_ecs
from stockade.telemetry.eventlog import Scalar, flatten_record, is_record

try:  # flatten_record(orjson.loads(raw)) in one native pass, for the common record (setup.py)
    from stockade.telemetry._evtxjson import flatten as _flatten
except ImportError:  # pragma: no cover - depends on the build
    _flatten = None

__all__ = [
    "EVTX_BATCH",
    "INPUT_SUFFIXES",
    "InputFile",
    "InputProblem",
    "RawFilter",
    "Skipped",
    "SourceEvent",
    "event_from_json",
    "evtx_event",
    "input_files",
    "read_file",
]

INPUT_SUFFIXES = (".evtx", ".json", ".jsonl", ".ndjson", ".log", ".gz")
"""What a directory walk picks up; files named on the command line are read whatever their
name."""

_EVTX_MAGIC = b"ElfFile\x00"
_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1 << 16
_MAX_CONSECUTIVE_ERRORS = 1000  # a file this broken is not worth reading further
_SKIPPED_BATCH = 1000  # skipped records counted between progress reports
EVTX_BATCH = 256  # EVTX records parsed, then judged, then decoded, batch by batch


@dataclass(frozen=True)
class InputFile:
    display: str
    """The path as found under the argument (``-`` for stdin)."""
    path: Path | None
    """None for stdin."""


class SourceEvent(NamedTuple):  # one per event of a hunt: a tuple is built fastest
    file: str
    event: dict[str, Scalar]
    verdict: Any = None
    """What the ``keep`` test of `read_file` said of the record, if it saw it."""


@dataclass(frozen=True)
class InputProblem:
    file: str
    location: str
    """Where in the file: ``line 12``, ``record 7``, ``offset 4096``, or ``""``."""
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.location}" if self.location else self.file
        return f"{where}: {self.message}"


def input_files(arguments: Iterable[str]) -> Iterator[InputFile | InputProblem]:
    """Expand arguments (files, directories, ``-``) into the files to read, in name order."""
    for argument in arguments:
        if argument == "-":
            yield InputFile("-", None)
            continue
        path = Path(argument)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.name.lower().endswith(INPUT_SUFFIXES):
                    yield InputFile(str(child), child)
        elif path.is_file():
            yield InputFile(str(path), path)
        else:
            yield InputProblem(argument, "", "no such file or directory")


@dataclass(frozen=True)
class Skipped:
    """EVTX records that the ``keep`` test of `read_file` passed over, counted."""

    count: int


RawFilter = Callable[[str], Any]
"""Sees an EVTX record as JSON text: an empty tuple skips it, anything else is its verdict."""


def read_file(
    source: InputFile, threads: int = 0, keep: RawFilter | None = None
) -> Iterator[SourceEvent | InputProblem | Skipped]:
    """Every event of one input file, with problems in between.

    ``threads`` bounds the EVTX parser's own threads (0: one per core); processes that already
    share the cores out between them pass 1. ``keep`` sees each EVTX record as the parser's
    JSON before it is decoded; records it answers with an empty tuple cost no decoding and
    come out counted, as `Skipped`, before the next item; any other answer travels with the
    event as its ``verdict``.
    """
    try:
        stream = _open(source)
    except OSError as error:
        yield InputProblem(source.display, "", f"cannot read: {error}")
        return
    with stream:
        try:
            head = stream.peek(8)[:8] if isinstance(stream, io.BufferedReader) else b""
            if head.startswith(_EVTX_MAGIC):
                # The parser reads a named file itself, much faster than through Python.
                plain = source.path is not None and not _is_gzip(stream)
                yield from _read_evtx(
                    source.display, str(source.path) if plain else stream, threads, keep
                )
            else:
                yield from _read_json(source.display, stream)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            yield InputProblem(source.display, "", f"cannot read: {error}")


def _open(source: InputFile) -> io.BufferedReader:
    raw: IO[bytes] = sys.stdin.buffer if source.path is None else source.path.open("rb")
    stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    if stream.peek(2)[:2] == _GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=stream))  # type: ignore[arg-type]
    return stream


def _read_evtx(
    display: str,
    stream: io.BufferedReader | str,
    threads: int = 0,
    keep: RawFilter | None = None,
) -> Iterator[SourceEvent | InputProblem | Skipped]:
    from evtx import PyEvtxParser  # the Rust extension loads only when EVTX is read

    # The parser seeks; gzip and stdin do not, so those are buffered in memory first.
    data: Any = stream
    if not isinstance(stream, str) and (not stream.seekable() or _is_gzip(stream)):
        data = io.BytesIO(stream.read())
    parser = PyEvtxParser(data, number_of_threads=threads, indent=False)
    errors = 0
    index = 0
    skipped = 0
    records = parser.records_json()
    done = False
    while not done:
        batch: list[Any] = []
        while len(batch) < EVTX_BATCH:
            try:
                batch.append(next(records))
            except StopIteration:
                done = True
                break
            except Exception as error:  # the parser reports corrupt chunks and records this way
                batch.append(error)
        # Judged together, apart from parsing and matching: the scans stay in the processor's
        # caches from one record to the next (a third of their cost, measured).
        verdicts = (
            [keep(record["data"]) if type(record) is dict else None for record in batch]
            if keep is not None
            else None
        )
        for position, record in enumerate(batch):
            index += 1
            if type(record) is not dict:
                if skipped:
                    yield Skipped(skipped)
                    skipped = 0
                errors += 1
                yield InputProblem(display, f"record {index}", f"corrupt EVTX data: {record}")
                if errors >= _MAX_CONSECUTIVE_ERRORS:
                    return
                continue
            errors = 0
            raw = record["data"]
            verdict = None
            if verdicts is not None:
                verdict = verdicts[position]
                if verdict == ():
                    skipped += 1
                    if skipped >= _SKIPPED_BATCH:
                        yield Skipped(skipped)
                        skipped = 0
                    continue
                if skipped:
                    yield Skipped(skipped)
                    skipped = 0
            try:
                event = evtx_event(raw)
            except (orjson.JSONDecodeError, ValueError) as error:
                yield InputProblem(display, f"record {record.get('event_record_id')}", str(error))
                continue
            yield SourceEvent(display, event, verdict)
    if skipped:
        yield Skipped(skipped)


def evtx_event(raw: str) -> dict[str, Scalar]:
    """The flat event of one record as the EVTX parser renders it (JSON text); ValueError
    (``orjson.JSONDecodeError`` among them) if it is not one."""
    if _flatten is not None:
        event = _flatten(raw)
        if event is not None:
            return event
    return flatten_record(orjson.loads(raw))


def _is_gzip(stream: io.BufferedReader) -> bool:
    return isinstance(stream.raw, gzip.GzipFile)


def _read_json(display: str, stream: io.BufferedReader) -> Iterator[SourceEvent | InputProblem]:
    first = stream.peek(1)[:1]
    if first == b"[":
        yield from _read_json_array(display, stream)
        return
    line_number = 0
    pending: list[bytes] = []
    pending_start = 0
    for raw in stream:
        line_number += 1
        if pending:
            # Inside a pretty-printed object: collect lines until they parse.
            pending.append(raw)
            if raw[:1] not in (b"}", b"]"):
                continue
            try:
                value = orjson.loads(b"".join(pending))
            except orjson.JSONDecodeError:
                continue
            pending = []
            yield _event(display, f"line {pending_start}", value)
            continue
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            if raw.strip() == b"{":  # the first line of a pretty-printed object
                pending, pending_start = [raw], line_number
                continue
            yield InputProblem(display, f"line {line_number}", f"not valid JSON: {error}")
            continue
        yield _event(display, f"line {line_number}", value)
    if pending:
        yield InputProblem(display, f"line {pending_start}", "JSON object never ends")


def _read_json_array(
    display: str, stream: io.BufferedReader
) -> Iterator[SourceEvent | InputProblem]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace").read()
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        yield InputProblem(display, f"line {error.lineno}", f"not valid JSON: {error.msg}")
        return
    for index, value in enumerate(values, start=1):
        yield _event(display, f"item {index}", value)


def _event(display: str, location: str, value: Any) -> SourceEvent | InputProblem:
    try:
        return SourceEvent(display, event_from_json(value))
    except ValueError as error:
        return InputProblem(display, location, str(error))


def event_from_json(value: Any) -> dict[str, Scalar]:
    """One flat event from one JSON object of any supported shape; ValueError otherwise."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    if is_record(value):
        return flatten_record(value)
    if is_ecs(value):
        return flatten_ecs(value)
    flat: dict[str, Scalar] = {}
    _flat(value, "", flat)
    event_id = flat.get("EventID")
    if isinstance(event_id, str) and event_id.isascii() and event_id.isdigit():
        flat["EventID"] = int(event_id)
    return flat


def _flat(node: dict[str, Any], prefix: str, out: dict[str, Scalar]) -> None:
    for key, value in node.items():
        if isinstance(value, dict):
            _flat(value, f"{prefix}{key}.", out)
        elif isinstance(value, list):
            out[f"{prefix}{key}"] = "\n".join(str(item) for item in value)
        else:
            out[f"{prefix}{key}"] = value
