"""Windows event log records (as `evtx_dump` / the `evtx` package render them) -> flat events.

A record is ``{"Event": {"System": {...}, "EventData": {...} | "UserData": {...}}}``. Detection
wants one flat mapping with the Sysmon / Windows field names Sigma rules use, so:

- ``System`` gives ``EventID``, ``Channel``, ``Computer``, ``Provider_Name``, ``EventRecordID``,
  ``Level``, ``Task``, ``Keywords``, ``Version`` and ``TimeCreated`` (the ``SystemTime``).
- Named ``EventData`` values keep their names; unnamed ones (classic PowerShell, some system
  events) are joined with newlines into ``Data``.
- Field names with spaces (Defender's ``Threat Name``) also appear without them
  (``ThreatName``), the form Sigma rules use.
- ``UserData`` leaves are flattened by their own name (``UserData.EventXML.Param1`` ->
  ``Param1``), because that is how rules refer to them.
- ``#attributes`` nodes carry XML attributes, not data; they are dropped except where System
  stores its values in them (``Provider``, ``TimeCreated``, ``Execution``, ``Security``).

Pure: dicts in, dicts out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SYSTEM_FIELDS", "Scalar", "flatten_record", "is_record"]

Scalar = str | int | float | bool | None

_SYSTEM_NUMBERS = frozenset({"EventRecordID", "Level", "Task", "Version"})
_SYSTEM_SCALARS = ("Channel", "Computer", "EventRecordID", "Level", "Task", "Keywords", "Version")
SYSTEM_FIELDS = frozenset(
    {"EventID", *_SYSTEM_SCALARS, "Provider_Name", "Provider_Guid", "TimeCreated", "UserID"}
)
"""Fields a flat event takes from System (`_system`), over any EventData field of the name."""


def is_record(value: object) -> bool:
    """Does the JSON value look like an event log record (``{"Event": {"System": ...}}``)?"""
    if type(value) is dict:
        event = value.get("Event")
        if type(event) is dict:
            return type(event.get("System")) is dict or isinstance(event.get("System"), Mapping)
    if not isinstance(value, Mapping):
        return False
    event = value.get("Event")
    return isinstance(event, Mapping) and isinstance(event.get("System"), Mapping)


def flatten_record(record: Mapping[str, Any]) -> dict[str, Scalar]:
    """One flat event from one record; raises ValueError if it is not a record."""
    if not is_record(record):
        raise ValueError('not an event log record: expected {"Event": {"System": ...}}')
    event: Mapping[str, Any] = record["Event"]
    flat: dict[str, Scalar] = {}
    data = event.get("EventData")
    if type(data) is dict and _plain(data):
        flat.update(data)  # the common case, checked in one pass: named scalar values
    elif isinstance(data, Mapping):
        _event_data(data, flat)
    elif data is not None:
        flat["Data"] = _joined(data)
    user_data = event.get("UserData")
    if user_data is not None and isinstance(user_data, Mapping):
        _leaves(user_data, flat)
    # System last: its fields must win over data fields of the same name (EventID, Channel).
    _system(event["System"], flat)
    return flat


def _plain(data: dict[str, Any]) -> bool:
    for name, value in data.items():
        kind = type(value)
        if kind is dict or kind is list or " " in name or name[:1] == "#" or name == "Data":
            return False
    return True


def _system(system: Mapping[str, Any], flat: dict[str, Scalar]) -> None:
    event_id = system.get("EventID")
    if type(event_id) is not int and isinstance(event_id, Mapping):
        # {"#attributes": {"Qualifiers": ...}, "#text": 4688}
        event_id = event_id.get("#text")
    if isinstance(event_id, str) and event_id.strip().isdigit():
        event_id = int(event_id)
    flat["EventID"] = _scalar(event_id)
    for name in _SYSTEM_SCALARS:
        if name in system:
            value = system[name]
            if type(value) is not str and type(value) is not int:
                value = _scalar(value)
            # Writers that emit plain text give numbers as text; Windows' own are numbers.
            if name in _SYSTEM_NUMBERS and isinstance(value, str) and value.isdigit():
                value = int(value)
            flat[name] = value
    provider = _attributes(system.get("Provider"))
    if "Name" in provider:
        flat["Provider_Name"] = _scalar(provider["Name"])
    if "Guid" in provider:
        flat["Provider_Guid"] = _scalar(provider["Guid"])
    created = _attributes(system.get("TimeCreated"))
    if "SystemTime" in created:
        flat["TimeCreated"] = _scalar(created["SystemTime"])
    security = _attributes(system.get("Security"))
    if "UserID" in security:
        flat["UserID"] = _scalar(security["UserID"])


def _event_data(data: Mapping[str, Any], flat: dict[str, Scalar]) -> None:
    for name, value in data.items():
        if name == "#attributes":
            continue
        if name in ("Data", "#text"):
            # Unnamed values: one string, a list of them, or {"#text": ...}.
            if isinstance(value, Mapping):
                value = value.get("#text")
            if value is not None:
                flat["Data"] = _joined(value)
            continue
        if isinstance(value, Mapping):
            value = value.get("#text")
        flat[name] = _scalar(value) if not isinstance(value, list) else _joined(value)
        if " " in name:
            # Defender and others name fields "Threat Name"; Sigma rules write ThreatName.
            flat.setdefault(name.replace(" ", ""), flat[name])


def _leaves(node: Mapping[str, Any], flat: dict[str, Scalar]) -> None:
    for name, value in node.items():
        if name == "#attributes":
            continue
        if isinstance(value, Mapping):
            if "#text" in value:
                flat[name] = _scalar(value["#text"])
            else:
                _leaves(value, flat)
        elif isinstance(value, list):
            flat[name] = _joined(value)
        else:
            flat[name] = _scalar(value)


def _attributes(node: object) -> Mapping[str, Any]:
    if type(node) is dict:  # what JSON decoding gives; the ABC check below costs ten times more
        attributes = node.get("#attributes")
        return attributes if type(attributes) is dict else {}
    if isinstance(node, Mapping):
        attributes = node.get("#attributes")
        if isinstance(attributes, Mapping):
            return attributes
    return {}


def _scalar(value: object) -> Scalar:
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value  # type: ignore[return-value]
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return _joined(value)
    return str(value)


def _joined(value: object) -> str:
    if isinstance(value, list):
        return "\n".join(_joined(item) for item in value if item is not None)
    if isinstance(value, Mapping):
        text = value.get("#text")
        return "" if text is None else _joined(text)
    return str(value)
