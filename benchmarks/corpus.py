"""Generate a realistic corpus of Windows events as EVTX files, for the hunt benchmark.

The mix is that of a busy workstation with Sysmon (SwiftOnSecurity-like configuration) and
Windows Security auditing: mostly image loads, network connections, file and registry
writes, process starts and logons by ordinary software, with a sprinkle (1 in 1,000 by
default) of the real attack events from the SigmaHQ regression samples, so rules do fire.

    python benchmarks/corpus.py OUT_DIR [--events 200000] [--files 4] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evtx_writer import write_evtx

SYSMON = ("Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational")
SECURITY = ("Microsoft-Windows-Security-Auditing", "Security")
REGRESSION = Path(__file__).resolve().parents[2] / "shared" / "data" / "sigma" / "regression_data"

USERS = ["alex", "sam", "kim", "lee", "pat", "jo", "chris", "dana"]
HOSTS = [f"WKS-{n:03d}.contoso.local" for n in range(1, 41)]
S32 = "C:\\Windows\\System32\\"
PROGRAMS: list[tuple[str, str, str]] = [
    # (image, command line template, parent image)
    (
        S32 + "svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s {svc}",
        S32 + "services.exe",
    ),
    (
        S32 + "RuntimeBroker.exe",
        "C:\\Windows\\System32\\RuntimeBroker.exe -Embedding",
        S32 + "svchost.exe",
    ),
    (
        S32 + "conhost.exe",
        "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
        S32 + "cmd.exe",
    ),
    (
        S32 + "taskhostw.exe",
        "taskhostw.exe {{222A245B-E637-4AE9-A93F-A59CA119A75E}}",
        S32 + "svchost.exe",
    ),
    (
        S32 + "dllhost.exe",
        "C:\\Windows\\system32\\DllHost.exe /Processid:{{{guid}}}",
        S32 + "svchost.exe",
    ),
    (
        S32 + "SearchProtocolHost.exe",
        '"C:\\Windows\\system32\\SearchProtocolHost.exe" Global\\UsGthrFltPipeMssGthrPipe1',
        S32 + "SearchIndexer.exe",
    ),
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" --type=renderer '
        "--lang=en-US --renderer-client-id={n}",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    ),
    (
        "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
        '"C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe" --type=utility '
        "--utility-sub-type=network.mojom.NetworkService",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
        '"C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe" '
        "--type=gpu-process",
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
        '"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE" ',
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe",
        '"C:\\Program Files\\Microsoft OneDrive\\OneDrive.exe" /background',
        "C:\\Windows\\explorer.exe",
    ),
    (
        "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe",
        '"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe"',
        S32 + "services.exe",
    ),
    (
        S32 + "wbem\\WmiPrvSE.exe",
        "C:\\Windows\\system32\\wbem\\wmiprvse.exe -Embedding",
        S32 + "svchost.exe",
    ),
    ("C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", S32 + "userinit.exe"),
    (
        S32 + "backgroundTaskHost.exe",
        '"C:\\Windows\\system32\\backgroundTaskHost.exe" -ServerName:App.AppX'
        "mtcan0h2tfbfy7k9kn8hbxb"
        "6dmzz1zh0.mca",
        S32 + "svchost.exe",
    ),
    (
        "C:\\Program Files\\Git\\cmd\\git.exe",
        "git status --porcelain",
        "C:\\Program Files\\Microsoft VS Code\\Code.exe",
    ),
    (
        S32 + "WindowsPowerShell\\v1.0\\powershell.exe",
        "powershell.exe -NoProfile -Command Get-ChildItem C:\\Users\\{user}\\Documents",
        "C:\\Program Files\\Microsoft VS Code\\Code.exe",
    ),
    (
        S32 + "cmd.exe",
        'C:\\Windows\\system32\\cmd.exe /c "dir C:\\Users\\{user}\\Desktop"',
        "C:\\Windows\\explorer.exe",
    ),
]
SERVICES = ["Schedule", "BITS", "wuauserv", "Winmgmt", "gpsvc", "ProfSvc", "Themes", "DcomLaunch"]
DLLS = [
    "ntdll.dll",
    "kernel32.dll",
    "KernelBase.dll",
    "user32.dll",
    "advapi32.dll",
    "combase.dll",
    "ole32.dll",
    "shell32.dll",
    "ws2_32.dll",
    "crypt32.dll",
    "bcrypt.dll",
    "winhttp.dll",
    "dnsapi.dll",
    "rpcrt4.dll",
    "sechost.dll",
    "uxtheme.dll",
    "dwmapi.dll",
    "propsys.dll",
    "windows.storage.dll",
    "wintypes.dll",
    "msvcp_win.dll",
    "ucrtbase.dll",
]
DOMAINS = [
    "www.google.com",
    "login.microsoftonline.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "graph.microsoft.com",
    "clients2.google.com",
    "settings-win.data.microsoft.com",
    "github.com",
    "api.github.com",
    "contoso.sharepoint.com",
    "update.googleapis.com",
    "ctldl.windowsupdate.com",
]
REG_KEYS = [
    "HKU\\S-1-5-21-1004336348-1177238915-682003330-1001\\SOFTWARE\\Microsoft\\Windows\\"
    "CurrentVersion\\Explorer\\UserAssist\\{{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}}\\Count\\{n}",
    "HKLM\\System\\CurrentControlSet\\Services\\bam\\State\\UserSettings\\"
    "S-1-5-21-1004336348-1177238915-682003330-1001\\\\Device\\HarddiskVolume3\\Program Files\\"
    "Google\\Chrome\\Application\\chrome.exe",
    "HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Diagnostics\\LastKnownGoodPlatformLocation",
    "HKU\\S-1-5-21-1004336348-1177238915-682003330-1001\\SOFTWARE\\Microsoft\\Office\\16.0\\"
    "Outlook\\Profiles\\Outlook\\{n}",
    "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Sessions\\{n}",
]
FILES = [
    "C:\\Users\\{user}\\AppData\\Local\\Temp\\~DF{n}.tmp",
    "C:\\Users\\{user}\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data"
    "\\f_{n}",
    "C:\\Windows\\Prefetch\\CHROME.EXE-{n}.pf",
    "C:\\Users\\{user}\\AppData\\Local\\Microsoft\\Outlook\\{user}@contoso.com.ost.tmp",
    "C:\\Users\\{user}\\Documents\\report-{n}.docx",
    "C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\History\\Service\\{n}.bin",
]

MIX: list[tuple[str, float]] = [
    ("sysmon_7", 0.25),
    ("sysmon_3", 0.12),
    ("sysmon_11", 0.10),
    ("sysmon_13", 0.08),
    ("sysmon_1", 0.08),
    ("sysmon_5", 0.07),
    ("sysmon_22", 0.06),
    ("sysmon_10", 0.05),
    ("sysmon_12", 0.02),
    ("security_4624", 0.04),
    ("security_4634", 0.03),
    ("security_4672", 0.02),
    ("security_4688", 0.04),
    ("security_5156", 0.02),
    ("security_4663", 0.02),
]


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128))).upper()


class Generator:
    def __init__(self, seed: int, attack_rate: float) -> None:
        self.rng = random.Random(seed)
        self.attack_rate = attack_rate
        self.attacks = _attack_events()
        self.moment = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        kinds, weights = zip(*MIX, strict=True)
        self.kinds = list(kinds)
        self.weights = list(weights)

    def events(self, count: int) -> Iterator[dict[str, Any]]:
        for _ in range(count):
            self.moment += timedelta(microseconds=self.rng.randint(100, 20_000))
            if self.attacks and self.rng.random() < self.attack_rate:
                yield self._stamp(dict(self.rng.choice(self.attacks)))
                continue
            kind = self.rng.choices(self.kinds, self.weights)[0]
            yield self._stamp(getattr(self, kind)())

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        stamp = self.moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event["TimeCreated"] = stamp
        event.setdefault("Computer", self.rng.choice(HOSTS))
        if event.get("Channel") == SYSMON[1]:
            event["UtcTime"] = self.moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        return event

    def _fill(self, template: str) -> str:
        rng = self.rng
        return template.format(
            user=rng.choice(USERS),
            n=rng.randint(1, 99999),
            guid=_guid(rng),
            svc=rng.choice(SERVICES),
        )

    def _process(self) -> tuple[str, str, str]:
        image, command, parent = self.rng.choice(PROGRAMS)
        return self._fill(image), self._fill(command), self._fill(parent)

    def _sysmon(self, event_id: int, **data: Any) -> dict[str, Any]:
        return {
            "Provider_Name": SYSMON[0],
            "Channel": SYSMON[1],
            "EventID": event_id,
            "RuleName": "-",
            **data,
        }

    def _security(self, event_id: int, **data: Any) -> dict[str, Any]:
        return {"Provider_Name": SECURITY[0], "Channel": SECURITY[1], "EventID": event_id, **data}

    def sysmon_1(self) -> dict[str, Any]:
        image, command, parent = self._process()
        user = self.rng.choice(USERS)
        return self._sysmon(
            1,
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            FileVersion="10.0.22621.1",
            Description=image.rsplit("\\", 1)[-1],
            Product="Microsoft® Windows® Operating System",
            Company="Microsoft Corporation",
            OriginalFileName=image.rsplit("\\", 1)[-1],
            CommandLine=command,
            CurrentDirectory="C:\\Windows\\system32\\",
            User=f"CONTOSO\\{user}",
            LogonGuid=f"{{{_guid(self.rng)}}}",
            LogonId="0x3e7",
            TerminalSessionId=1,
            IntegrityLevel=self.rng.choice(["Medium", "High", "System"]),
            Hashes=f"SHA256={self.rng.getrandbits(256):064X}",
            ParentProcessGuid=f"{{{_guid(self.rng)}}}",
            ParentProcessId=self.rng.randint(100, 60000),
            ParentImage=parent,
            ParentCommandLine=parent,
            ParentUser=f"CONTOSO\\{user}",
        )

    def sysmon_3(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._sysmon(
            3,
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
            Protocol="tcp",
            Initiated="true",
            SourceIsIpv6="false",
            SourceIp=f"10.0.{self.rng.randint(0, 20)}.{self.rng.randint(2, 250)}",
            SourceHostname="-",
            SourcePort=self.rng.randint(49152, 65535),
            DestinationIsIpv6="false",
            DestinationIp=f"{self.rng.choice([13, 20, 40, 52, 142, 172])}."
            f"{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}",
            DestinationHostname=self.rng.choice(DOMAINS),
            DestinationPort=443,
            DestinationPortName="https",
        )

    def sysmon_5(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._sysmon(
            5,
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def sysmon_7(self) -> dict[str, Any]:
        image, _, _ = self._process()
        dll = self.rng.choice(DLLS)
        return self._sysmon(
            7,
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            ImageLoaded=S32 + dll,
            FileVersion="10.0.22621.2506",
            Description=dll,
            Product="Microsoft® Windows® Operating System",
            Company="Microsoft Corporation",
            OriginalFileName=dll,
            Hashes=f"SHA256={self.rng.getrandbits(256):064X}",
            Signed="true",
            Signature="Microsoft Windows",
            SignatureStatus="Valid",
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def sysmon_10(self) -> dict[str, Any]:
        source, _, _ = self._process()
        target, _, _ = self._process()
        return self._sysmon(
            10,
            SourceProcessGUID=f"{{{_guid(self.rng)}}}",
            SourceProcessId=self.rng.randint(100, 60000),
            SourceThreadId=self.rng.randint(1, 9999),
            SourceImage=source,
            TargetProcessGUID=f"{{{_guid(self.rng)}}}",
            TargetProcessId=self.rng.randint(100, 60000),
            TargetImage=target,
            GrantedAccess=self.rng.choice(["0x1000", "0x101000", "0x1400", "0x100000"]),
            CallTrace=f"C:\\Windows\\SYSTEM32\\ntdll.dll+{self.rng.randint(0, 1 << 20):x}|"
            f"C:\\Windows\\System32\\KERNELBASE.dll+{self.rng.randint(0, 1 << 20):x}",
            SourceUser="NT AUTHORITY\\SYSTEM",
            TargetUser=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def sysmon_11(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._sysmon(
            11,
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            TargetFilename=self._fill(self.rng.choice(FILES)),
            CreationUtcTime=self.moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def sysmon_12(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._sysmon(
            12,
            EventType="CreateKey",
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            TargetObject=self._fill(self.rng.choice(REG_KEYS)),
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def sysmon_13(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._sysmon(
            13,
            EventType="SetValue",
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            Image=image,
            TargetObject=self._fill(self.rng.choice(REG_KEYS)),
            Details=f"DWORD (0x{self.rng.randint(0, 255):08x})",
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def sysmon_22(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._sysmon(
            22,
            ProcessGuid=f"{{{_guid(self.rng)}}}",
            ProcessId=self.rng.randint(100, 60000),
            QueryName=self.rng.choice(DOMAINS),
            QueryStatus="0",
            QueryResults=f"::ffff:142.250.{self.rng.randint(0, 255)}.4;",
            Image=image,
            User=f"CONTOSO\\{self.rng.choice(USERS)}",
        )

    def _subject(self) -> dict[str, Any]:
        return {
            "SubjectUserSid": "S-1-5-18",
            "SubjectUserName": "WKS$",
            "SubjectDomainName": "CONTOSO",
            "SubjectLogonId": "0x3e7",
        }

    def security_4624(self) -> dict[str, Any]:
        return self._security(
            4624,
            **self._subject(),
            TargetUserSid="S-1-5-21-1004336348-1177238915-682003330-"
            f"{self.rng.randint(1000, 1100)}",
            TargetUserName=self.rng.choice(USERS),
            TargetDomainName="CONTOSO",
            TargetLogonId=f"0x{self.rng.getrandbits(32):x}",
            LogonType=self.rng.choice([2, 3, 5, 7, 11]),
            LogonProcessName="User32",
            AuthenticationPackageName="Negotiate",
            WorkstationName="WKS",
            LogonGuid=f"{{{_guid(self.rng)}}}",
            ProcessName=S32 + "svchost.exe",
            IpAddress="127.0.0.1",
            IpPort="0",
            ElevatedToken="%%1842",
        )

    def security_4634(self) -> dict[str, Any]:
        return self._security(
            4634,
            TargetUserSid="S-1-5-18",
            TargetUserName=self.rng.choice(USERS),
            TargetDomainName="CONTOSO",
            TargetLogonId=f"0x{self.rng.getrandbits(32):x}",
            LogonType=3,
        )

    def security_4672(self) -> dict[str, Any]:
        return self._security(
            4672,
            **self._subject(),
            PrivilegeList="SeAssignPrimaryTokenPrivilege\n\t\t\tSeTcbPrivilege",
        )

    def security_4688(self) -> dict[str, Any]:
        image, command, parent = self._process()
        return self._security(
            4688,
            **self._subject(),
            NewProcessId=f"0x{self.rng.randint(100, 60000):x}",
            NewProcessName=image,
            TokenElevationType="%%1936",
            ProcessId=f"0x{self.rng.randint(100, 60000):x}",
            CommandLine=command,
            TargetUserSid="S-1-0-0",
            TargetUserName="-",
            TargetDomainName="-",
            TargetLogonId="0x0",
            ParentProcessName=parent,
            MandatoryLabel="S-1-16-8192",
        )

    def security_5156(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._security(
            5156,
            ProcessID=self.rng.randint(100, 60000),
            Application="\\device\\harddiskvolume3" + image[2:].lower(),
            Direction="%%14593",
            SourceAddress="10.0.3.17",
            SourcePort=self.rng.randint(49152, 65535),
            DestAddress="52.112.0.9",
            DestPort=443,
            Protocol=6,
            FilterRTID=0,
            LayerName="%%14611",
            LayerRTID=48,
        )

    def security_4663(self) -> dict[str, Any]:
        image, _, _ = self._process()
        return self._security(
            4663,
            **self._subject(),
            ObjectServer="Security",
            ObjectType="File",
            ObjectName=self._fill(self.rng.choice(FILES)),
            HandleId=f"0x{self.rng.getrandbits(16):x}",
            AccessList="%%4416",
            AccessMask="0x1",
            ProcessId=f"0x{self.rng.randint(100, 60000):x}",
            ProcessName=image,
            ResourceAttributes="S:AI",
        )


def _attack_events() -> list[dict[str, Any]]:
    """Flat events from the regression samples' JSON dumps (Sysmon and Security only)."""
    events: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    for path in sorted(REGRESSION.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        position = 0
        while position < len(text):
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                break
            record, position = decoder.raw_decode(text, position)
            system = record["Event"]["System"]
            if system.get("Channel") not in (SYSMON[1], SECURITY[1]):
                continue
            data = record["Event"].get("EventData") or {}
            if not isinstance(data, dict):
                continue
            events.append(
                {
                    "Provider_Name": system["Provider"]["#attributes"]["Name"],
                    "Channel": system["Channel"],
                    "EventID": system["EventID"],
                    **{key: value for key, value in data.items() if not key.startswith("#")},
                }
            )
    return events


def generate(out: Path, events: int, files: int, seed: int, attack_rate: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    generator = Generator(seed, attack_rate)
    paths: list[Path] = []
    per_file = -(-events // files)
    remaining = events
    for number in range(files):
        count = min(per_file, remaining)
        path = out / f"corpus-{number:02d}.evtx"
        write_evtx(path, generator.events(count))
        paths.append(path)
        remaining -= count
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--attack-rate", type=float, default=0.001)
    args = parser.parse_args()
    paths = generate(args.out, args.events, args.files, args.seed, args.attack_rate)
    size = sum(path.stat().st_size for path in paths)
    print(f"{args.events} events in {len(paths)} EVTX files, {size / 1e6:.1f} MB, in {args.out}")


if __name__ == "__main__":
    main()
