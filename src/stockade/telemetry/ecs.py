"""ECS-shaped documents (Winlogbeat, Elastic Agent) -> flat events with Windows field names.

Winlogbeat keeps the Windows event under ``winlog`` (``event_id``, ``channel``,
``event_data``, ``user_data``), so the event keeps its own names. Elastic Agent's endpoint
integration has no ``winlog``: its process and network documents are mapped onto the Sysmon
events with the same meaning, so that the same Sigma rule works on either. The maps below are
the data; `flatten_ecs` only follows them. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockade.telemetry.eventlog import Scalar

__all__ = ["ECS_FIELDS", "ECS_SYSMON_EVENTS", "flatten_ecs", "is_ecs"]

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"

ECS_FIELDS: dict[str, str] = {
    "process.executable": "Image",
    "process.command_line": "CommandLine",
    "process.pid": "ProcessId",
    "process.entity_id": "ProcessGuid",
    "process.working_directory": "CurrentDirectory",
    "process.pe.original_file_name": "OriginalFileName",
    "process.pe.description": "Description",
    "process.pe.product": "Product",
    "process.pe.company": "Company",
    "process.pe.file_version": "FileVersion",
    "process.hash.sha256": "sha256",
    "process.parent.executable": "ParentImage",
    "process.parent.command_line": "ParentCommandLine",
    "process.parent.pid": "ParentProcessId",
    "process.parent.entity_id": "ParentProcessGuid",
    "user.name": "User",
    "host.name": "Computer",
    "file.path": "TargetFilename",
    "source.ip": "SourceIp",
    "source.port": "SourcePort",
    "destination.ip": "DestinationIp",
    "destination.port": "DestinationPort",
    "destination.domain": "DestinationHostname",
    "network.transport": "Protocol",
    "dll.path": "ImageLoaded",
    "registry.path": "TargetObject",
    "registry.data.strings": "Details",
    "dns.question.name": "QueryName",
    "winlog.event_id": "EventID",
    "winlog.channel": "Channel",
    "winlog.computer_name": "Computer",
    "winlog.record_id": "EventRecordID",
    "winlog.provider_name": "Provider_Name",
    "@timestamp": "TimeCreated",
}
"""Dotted ECS field -> Windows / Sysmon field name."""

ECS_SYSMON_EVENTS: dict[tuple[str, str], int] = {
    ("process", "start"): 1,
    ("network", "start"): 3,
    ("network", "connection"): 3,
    ("library", "start"): 7,
    ("driver", "start"): 6,
    ("file", "creation"): 11,
    ("file", "deletion"): 23,
    ("registry", "change"): 13,
}
"""(event.category, event.type) of an Elastic Agent document -> Sysmon EventID it stands for."""


def is_ecs(value: object) -> bool:
    """Does the JSON object look like an ECS document rather than a flat event?"""
    if not isinstance(value, Mapping):
        return False
    return "@timestamp" in value and any(
        isinstance(value.get(key), Mapping) for key in ("winlog", "event", "process", "ecs")
    )


def flatten_ecs(document: Mapping[str, Any]) -> dict[str, Scalar]:
    dotted: dict[str, Any] = {}
    _dot(document, "", dotted)
    flat: dict[str, Scalar] = {}
    winlog = document.get("winlog")
    if isinstance(winlog, Mapping):
        for section in ("user_data", "event_data"):
            data = winlog.get(section)
            if isinstance(data, Mapping):
                for name, value in data.items():
                    flat[name] = _scalar(value)
    for source, target in ECS_FIELDS.items():
        value = dotted.get(source)
        if value is not None and target not in flat:
            flat[target] = _scalar(value)
    if "EventID" not in flat:
        event_id = _sysmon_event(dotted)
        if event_id is not None:
            flat["EventID"] = event_id
            flat["Channel"] = SYSMON_CHANNEL
    if isinstance(flat.get("EventID"), str) and str(flat["EventID"]).isdigit():
        flat["EventID"] = int(str(flat["EventID"]))
    return flat


def _sysmon_event(dotted: Mapping[str, Any]) -> int | None:
    categories = _strings(dotted.get("event.category"))
    types = _strings(dotted.get("event.type"))
    for category in categories:
        for kind in types:
            event_id = ECS_SYSMON_EVENTS.get((category, kind))
            if event_id is not None:
                return event_id
    return None


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _dot(node: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _dot(value, f"{name}.", out)
        else:
            out[name] = value


def _scalar(value: object) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return "\n".join(str(item) for item in value)
    return str(value)
