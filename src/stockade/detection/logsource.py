"""Routing of Sigma log sources to the events that carry them, written as data.

A Sigma rule names a log source (`product`, `category`, `service`) instead of an event type.
The tables below say which events belong to which log source; a compiled rule only looks at
events the table admits (its *pre-condition*). ``CATEGORY_EVENTS`` maps (product, category) to
(channel, EventID) pairs; ``SERVICE_CHANNELS`` maps (product, service) to channels.
``FIELD_ALIASES`` gives events that name a field differently from Sysmon the Sysmon name too
(Security 4688 process creation), so one rule works on both; `with_aliases` applies it.

How the pre-condition treats an event:

1. No ``EventID`` and no ``Channel``: admitted. Simple sensors send flat telemetry without
   either, and a rule would otherwise never fire on them.
2. ``EventID`` and ``Channel`` both present: the pair must be in the table.
3. Only one of them present: that one must be in the table.
4. A Windows log source that is not in the table has no pre-condition at all (the rule's own
   detection decides).
5. A rule for another product (``linux``, ``macos``, ``cisco``, ``zeek``, cloud services, ...)
   or for a product-less category or service the table does not route (``proxy``,
   ``firewall``, ``antivirus``, ``webserver``) never sees Windows event log events (those with
   a ``Channel`` other than Sysmon for Linux's); it still sees flat telemetry, where its own
   detection decides. Without this, a Cisco keyword rule or a Zeek ``not selection`` rule
   would fire on every Windows event, and proxy rules would run on all of them.

A category takes precedence over a service when a rule names both. The channel comparison
ignores case, as Windows does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CATEGORY_EVENTS",
    "FIELD_ALIASES",
    "INTEGRITY_LEVELS",
    "LINUX_SYSMON_CHANNEL",
    "SECURITY_CHANNEL",
    "SERVICE_CHANNELS",
    "SYSMON_CHANNEL",
    "LogsourceFilter",
    "event_id_of",
    "logsource_filter",
    "with_aliases",
]

SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SECURITY_CHANNEL = "Security"
LINUX_SYSMON_CHANNEL = "Linux-Sysmon/Operational"
_LINUX_SYSMON_LOWER = LINUX_SYSMON_CHANNEL.lower()
_PS = "Microsoft-Windows-PowerShell/Operational"
_PS_CORE = "PowerShellCore/Operational"
_PS_CLASSIC = "Windows PowerShell"
_KERNEL_FILE = "Microsoft-Windows-Kernel-File/Analytic"


def _sysmon(*event_ids: int, channel: str = SYSMON_CHANNEL) -> tuple[tuple[str, int], ...]:
    return tuple((channel, event_id) for event_id in event_ids)


CATEGORY_EVENTS: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {
    ("windows", "process_creation"): (*_sysmon(1), (SECURITY_CHANNEL, 4688)),
    ("windows", "file_change"): _sysmon(2),
    ("windows", "network_connection"): _sysmon(3),
    ("windows", "sysmon_status"): _sysmon(4, 16),
    ("windows", "process_termination"): _sysmon(5),
    ("windows", "driver_load"): _sysmon(6),
    ("windows", "image_load"): _sysmon(7),
    ("windows", "create_remote_thread"): _sysmon(8),
    ("windows", "raw_access_thread"): _sysmon(9),
    ("windows", "process_access"): _sysmon(10),
    ("windows", "file_event"): _sysmon(11),
    ("windows", "registry_add"): _sysmon(12),
    ("windows", "registry_delete"): _sysmon(12),
    ("windows", "registry_set"): _sysmon(13),
    ("windows", "registry_rename"): _sysmon(14),
    ("windows", "registry_event"): _sysmon(12, 13, 14),
    ("windows", "create_stream_hash"): _sysmon(15),
    ("windows", "pipe_created"): _sysmon(17, 18),
    ("windows", "wmi_event"): _sysmon(19, 20, 21),
    ("windows", "dns_query"): _sysmon(22),
    ("windows", "file_delete"): _sysmon(23, 26),
    ("windows", "clipboard_capture"): _sysmon(24),
    ("windows", "process_tampering"): _sysmon(25),
    ("windows", "file_block_executable"): _sysmon(27),
    ("windows", "file_block_shredding"): _sysmon(28),
    ("windows", "file_executable_detected"): _sysmon(29),
    ("windows", "sysmon_error"): _sysmon(255),
    ("windows", "ps_module"): ((_PS, 4103), (_PS_CORE, 4103)),
    ("windows", "ps_script"): ((_PS, 4104), (_PS_CORE, 4104)),
    ("windows", "ps_classic_start"): ((_PS_CLASSIC, 400),),
    ("windows", "ps_classic_provider_start"): ((_PS_CLASSIC, 600),),
    ("windows", "ps_classic_script"): ((_PS_CLASSIC, 800),),
    ("windows", "file_access"): ((_KERNEL_FILE, 10), (_KERNEL_FILE, 12)),
    ("windows", "file_rename"): ((_KERNEL_FILE, 27),),
    # Sysmon for Linux writes the Windows Sysmon event ids and field names to its own channel.
    ("linux", "process_creation"): _sysmon(1, channel=LINUX_SYSMON_CHANNEL),
    ("linux", "network_connection"): _sysmon(3, channel=LINUX_SYSMON_CHANNEL),
    ("linux", "process_termination"): _sysmon(5, channel=LINUX_SYSMON_CHANNEL),
    ("linux", "raw_access_thread"): _sysmon(9, channel=LINUX_SYSMON_CHANNEL),
    ("linux", "file_event"): _sysmon(11, channel=LINUX_SYSMON_CHANNEL),
    ("linux", "file_delete"): _sysmon(23, channel=LINUX_SYSMON_CHANNEL),
}

SERVICE_CHANNELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("windows", "security"): (SECURITY_CHANNEL,),
    ("windows", "system"): ("System",),
    ("windows", "application"): ("Application",),
    ("windows", "sysmon"): (SYSMON_CHANNEL,),
    ("windows", "powershell"): (_PS, _PS_CORE),
    ("windows", "powershell-classic"): (_PS_CLASSIC,),
    ("windows", "windefend"): ("Microsoft-Windows-Windows Defender/Operational",),
    ("windows", "codeintegrity-operational"): ("Microsoft-Windows-CodeIntegrity/Operational",),
    ("windows", "appxdeployment-server"): ("Microsoft-Windows-AppXDeploymentServer/Operational",),
    ("windows", "appxpackaging-om"): ("Microsoft-Windows-AppxPackaging/Operational",),
    ("windows", "appmodel-runtime"): ("Microsoft-Windows-AppModel-Runtime/Admin",),
    ("windows", "firewall-as"): (
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
    ),
    ("windows", "msexchange-management"): ("MSExchange Management",),
    ("windows", "bits-client"): ("Microsoft-Windows-Bits-Client/Operational",),
    ("windows", "dns-client"): ("Microsoft-Windows-DNS Client Events/Operational",),
    ("windows", "dns-server"): ("DNS Server",),
    ("windows", "iis-configuration"): ("Microsoft-IIS-Configuration/Operational",),
    ("windows", "taskscheduler"): ("Microsoft-Windows-TaskScheduler/Operational",),
    ("windows", "ntlm"): ("Microsoft-Windows-NTLM/Operational",),
    ("windows", "wmi"): ("Microsoft-Windows-WMI-Activity/Operational",),
    ("windows", "security-mitigations"): (
        "Microsoft-Windows-Security-Mitigations/Kernel Mode",
        "Microsoft-Windows-Security-Mitigations/User Mode",
    ),
    ("windows", "applocker"): (
        "Microsoft-Windows-AppLocker/MSI and Script",
        "Microsoft-Windows-AppLocker/EXE and DLL",
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
    ),
    ("windows", "terminalservices-localsessionmanager"): (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    ),
    ("windows", "smbserver-connectivity"): ("Microsoft-Windows-SmbServer/Connectivity",),
    ("windows", "smbclient-security"): ("Microsoft-Windows-SmbClient/Security",),
    ("windows", "smbclient-connectivity"): ("Microsoft-Windows-SmbClient/Connectivity",),
    ("windows", "printservice-admin"): ("Microsoft-Windows-PrintService/Admin",),
    ("windows", "printservice-operational"): ("Microsoft-Windows-PrintService/Operational",),
    ("windows", "dns-server-analytic"): ("Microsoft-Windows-DNS-Server/Analytical",),
    ("windows", "shell-core"): ("Microsoft-Windows-Shell-Core/Operational",),
    ("windows", "openssh"): ("OpenSSH/Operational",),
    ("windows", "lsa-server"): ("Microsoft-Windows-LSA/Operational",),
    ("windows", "ldap"): ("Microsoft-Windows-LDAP-Client/Debug",),
    ("windows", "driver-framework"): ("Microsoft-Windows-DriverFrameworks-UserMode/Operational",),
    ("windows", "diagnosis-scripted"): ("Microsoft-Windows-Diagnosis-Scripted/Operational",),
    ("windows", "certificateservicesclient-lifecycle-system"): (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
    ),
    ("windows", "capi2"): ("Microsoft-Windows-CAPI2/Operational",),
    ("windows", "microsoft-servicebus-client"): ("Microsoft-ServiceBus-Client",),
    ("windows", "servicebus-client"): ("Microsoft-ServiceBus-Client",),
    ("linux", "sysmon"): (LINUX_SYSMON_CHANNEL,),
}

FIELD_ALIASES: dict[tuple[str, int], dict[str, str]] = {
    # Security 4688 names process creation fields its own way (the Windows audit pipeline of
    # pySigma maps the same pairs the other way round).
    ("security", 4688): {
        "Image": "NewProcessName",
        "ParentImage": "ParentProcessName",
        "ProcessId": "NewProcessId",
        "ParentProcessId": "ProcessId",
        "User": "SubjectUserName",
        "LogonId": "SubjectLogonId",
        "IntegrityLevel": "MandatoryLabel",
    },
}
"""(lower-cased channel, EventID) -> Sysmon field name -> the name this event uses."""

INTEGRITY_LEVELS = {
    "S-1-16-0": "Untrusted",
    "S-1-16-4096": "Low",
    "S-1-16-8192": "Medium",
    "S-1-16-8448": "Medium",
    "S-1-16-12288": "High",
    "S-1-16-16384": "System",
}


def with_aliases(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with Sysmon-named copies of its fields where ``FIELD_ALIASES`` says so.

    Returns the event itself when nothing applies (the common case costs two lookups).
    """
    channel = event.get("Channel")
    if not isinstance(channel, str):
        return event
    aliases = FIELD_ALIASES.get((channel.lower(), event_id_of(event) or -1))
    if aliases is None:
        return event
    result = dict(event)
    for sysmon_name, own_name in aliases.items():
        if own_name in event and sysmon_name not in event:
            result[sysmon_name] = event[own_name]
    label = result.get("IntegrityLevel")
    if isinstance(label, str) and label in INTEGRITY_LEVELS:
        result["IntegrityLevel"] = INTEGRITY_LEVELS[label]
    return result


def event_id_of(event: Mapping[str, Any]) -> int | None:
    """The event's EventID as an int, or None if it is absent or not a whole number.

    Sensors send it as int or as text ("1"); both mean the same event.
    """
    raw = event.get("EventID")
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class LogsourceFilter:
    """Pre-condition derived from a log source: which events a rule may look at."""

    pairs: frozenset[tuple[str, int]]
    """Admitted (lower-cased channel, EventID) pairs; empty when only channels are known."""
    event_ids: frozenset[int]
    """Admitted EventIDs; empty means any EventID."""
    channels: frozenset[str]
    """Admitted channels, lower-cased; empty means any channel."""
    foreign: bool = False
    """A rule of another product: it admits only events without a Windows channel."""

    def admits(self, event: Mapping[str, Any]) -> bool:
        raw_id = event.get("EventID")
        raw_channel = event.get("Channel")
        if self.foreign:
            return raw_channel is None or (
                isinstance(raw_channel, str) and raw_channel.lower() == _LINUX_SYSMON_LOWER
            )
        if raw_id is None and raw_channel is None:
            return True
        channel = raw_channel.lower() if isinstance(raw_channel, str) else None
        if raw_id is not None and self.event_ids:
            event_id = event_id_of(event)
            if event_id not in self.event_ids:
                return False
            if channel is not None and self.pairs:
                return (channel, event_id) in self.pairs
        if raw_channel is not None and self.channels:
            return channel in self.channels
        return True


def logsource_filter(
    product: str | None, category: str | None, service: str | None
) -> LogsourceFilter | None:
    """The pre-condition for a log source, or None if there is none (rule 4 above)."""
    product_key = (product or "").lower()
    if category is not None:
        events = CATEGORY_EVENTS.get((product_key, category.lower()))
        if events is not None:
            pairs = frozenset((channel.lower(), event_id) for channel, event_id in events)
            return LogsourceFilter(
                pairs=pairs,
                event_ids=frozenset(event_id for _, event_id in pairs),
                channels=frozenset(channel for channel, _ in pairs),
            )
    if service is not None:
        channels = SERVICE_CHANNELS.get((product_key, service.lower()))
        if channels is not None:
            return LogsourceFilter(
                pairs=frozenset(),
                event_ids=frozenset(),
                channels=frozenset(channel.lower() for channel in channels),
            )
    # Rule 5: another product, or no product for a log source this table does not route
    # (proxy, firewall, antivirus, webserver ... logs are not Windows event logs).
    names_something = category is not None or service is not None
    if (product_key and product_key != "windows") or (not product_key and names_something):
        return LogsourceFilter(frozenset(), frozenset(), frozenset(), foreign=True)
    return None
