"""A small EVTX writer, so that benchmarks can read real EVTX files of any size.

Windows writes records as BinXML templates; this writer emits the simpler form every reader
also accepts: plain elements with inline names and text values. The file layout follows the
format as documented by libyal (libevtx) and read by the `evtx` package: a 4 KiB file header,
64 KiB chunks with a 512-byte header, records of ``**\\0\\0``, size, id, time, BinXML, size.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

__all__ = ["write_evtx"]

CHUNK_SIZE = 65536
CHUNK_HEADER = 512
FILE_HEADER = 4096
_EPOCH_DIFF = 116444736000000000  # 1601-01-01 -> 1970-01-01 in 100 ns


def _name(text: str, offset: int) -> bytes:
    """A name reference whose name follows inline (the offset points right behind itself)."""
    encoded = text.encode("utf-16-le")
    inline = struct.pack("<IHH", 0, 0, len(text)) + encoded + b"\x00\x00"
    return struct.pack("<I", offset + 4) + inline


def _value(text: str) -> bytes:
    encoded = text.encode("utf-16-le")
    return b"\x05\x01" + struct.pack("<H", len(encoded) // 2) + encoded


def _element(
    name: str,
    offset: int,
    attributes: Mapping[str, str] = {},
    text: str | None = None,
    children: list[tuple[str, Mapping[str, str], str | None]] | None = None,
) -> bytes:
    """One element at chunk offset ``offset``: token, size, name, attributes, content, end."""
    token = 0x41 if attributes else 0x01
    head = bytes([token])  # no dependency id: only template definitions carry one
    size_at = offset + len(head)
    position = size_at + 4
    name_bytes = _name(name, position)
    position += len(name_bytes)
    attribute_bytes = b""
    if attributes:
        position += 4  # attribute list size
        items = list(attributes.items())
        for index, (attribute, value) in enumerate(items):
            more = index < len(items) - 1
            part = bytes([0x46 if more else 0x06])
            part += _name(attribute, position + len(attribute_bytes) + 1)
            part += _value(value)
            attribute_bytes += part
        position += len(attribute_bytes)
    body = b""
    if text is None and not children:
        body = b"\x03"  # close empty element
    else:
        body = b"\x02"
        if text is not None:
            body += _value(text)
        for child_name, child_attributes, child_text in children or []:
            body += _element(child_name, position + len(body), child_attributes, child_text, None)
        body += b"\x04"
    rest = name_bytes
    if attributes:
        rest += struct.pack("<I", len(attribute_bytes)) + attribute_bytes
    rest += body
    return head + struct.pack("<I", len(rest)) + rest


def _event_xml(event: Mapping[str, object], record_id: int, offset: int) -> bytes:
    """BinXML of one event at chunk offset ``offset``."""
    fragment = b"\x0f\x01\x01\x00"
    position = offset + len(fragment)
    # <Event><System>...</System><EventData>...</EventData></Event>, built inside out.
    system_children: list[tuple[str, Mapping[str, str], str | None]] = [
        ("Provider", {"Name": str(event["Provider_Name"])}, None),
        ("EventID", {}, str(event["EventID"])),
        ("TimeCreated", {"SystemTime": str(event["TimeCreated"])}, None),
        ("EventRecordID", {}, str(record_id)),
        ("Channel", {}, str(event["Channel"])),
        ("Computer", {}, str(event["Computer"])),
    ]
    data_children: list[tuple[str, Mapping[str, str], str | None]] = [
        ("Data", {"Name": key}, None if value is None else str(value))
        for key, value in event.items()
        if key not in ("Provider_Name", "EventID", "TimeCreated", "Channel", "Computer")
    ]
    # Offsets depend on what precedes; build Event's header first, then children in place.
    event_head = b"\x01"
    name_at = position + len(event_head) + 4
    event_name = _name("Event", name_at)
    content_at = name_at + len(event_name)
    content = b"\x02"
    system = _element("System", content_at + len(content), {}, None, system_children)
    content += system
    event_data = _element("EventData", content_at + len(content), {}, None, data_children)
    content += event_data + b"\x04"
    rest = event_name + content
    element = event_head + struct.pack("<I", len(rest)) + rest
    return fragment + element + b"\x00"


def _filetime(timestamp: str) -> int:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return int(moment.timestamp() * 10_000_000) + _EPOCH_DIFF


def write_evtx(path: Path, events: Iterable[Mapping[str, object]]) -> int:
    """Write events (flat dicts with Provider_Name, EventID, TimeCreated, Channel, Computer
    and data fields) to an EVTX file; returns how many were written."""
    chunks: list[bytes] = []
    records: list[bytes] = []
    used = CHUNK_HEADER
    first_id = 1
    record_id = 1
    last_offset = CHUNK_HEADER

    def close_chunk() -> None:
        nonlocal records, used, first_id, last_offset
        data = b"".join(records)
        header = bytearray(CHUNK_HEADER)
        header[0:8] = b"ElfChnk\x00"
        count_last = record_id - 1
        struct.pack_into(
            "<QQQQIII",
            header,
            8,
            first_id,
            count_last,
            first_id,
            count_last,
            128,
            last_offset,
            CHUNK_HEADER + len(data),
        )
        struct.pack_into("<I", header, 52, zlib.crc32(data))
        struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120]) + bytes(header[128:])))
        chunk = bytes(header) + data
        chunks.append(chunk + b"\x00" * (CHUNK_SIZE - len(chunk)))
        records = []
        used = CHUNK_HEADER
        first_id = record_id
        last_offset = CHUNK_HEADER

    for event in events:
        xml = _event_xml(event, record_id, used + 24)
        size = 24 + len(xml) + 4
        if used + size > CHUNK_SIZE:
            close_chunk()
            xml = _event_xml(event, record_id, used + 24)
            size = 24 + len(xml) + 4
        record = (
            b"\x2a\x2a\x00\x00"
            + struct.pack("<IQQ", size, record_id, _filetime(str(event["TimeCreated"])))
            + xml
            + struct.pack("<I", size)
        )
        records.append(record)
        last_offset = used
        used += size
        record_id += 1
    if records:
        close_chunk()

    header = bytearray(FILE_HEADER)
    header[0:8] = b"ElfFile\x00"
    struct.pack_into(
        "<QQQIHHHH",
        header,
        8,
        0,
        len(chunks) - 1,
        record_id,
        128,
        1,
        3,
        FILE_HEADER,
        len(chunks),
    )
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    with path.open("wb") as target:
        target.write(bytes(header))
        for chunk in chunks:
            target.write(chunk)
    return record_id - 1
