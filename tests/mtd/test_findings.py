"""Mobile findings: what each kind needs, per platform. Pure."""

from __future__ import annotations

from stockade.core.model import Severity
from stockade.mtd.findings import FINDING_RULES, finding_problems, rule_id
from stockade.mtd.model import FindingType, MobileFinding

SHA = "ab" * 32


def _fields(kind: FindingType, platform: str, **details: str) -> list[str]:
    return [f for f, _ in finding_problems(MobileFinding(kind, None, details), platform)]


def test_every_kind_has_a_rule_and_a_jailbroken_device_is_high() -> None:
    assert set(FINDING_RULES) == set(FindingType)
    assert FINDING_RULES[FindingType.JAILBROKEN].severity is Severity.HIGH
    assert FINDING_RULES[FindingType.ROOTED].severity is Severity.HIGH
    assert rule_id(FindingType.ROGUE_WIFI) == "mobile.rogueWifi"


def test_jailbreak_and_root_belong_to_their_platform() -> None:
    assert _fields(FindingType.JAILBROKEN, "iOS") == []
    assert _fields(FindingType.JAILBROKEN, "Android") == ["findingType"]
    assert _fields(FindingType.ROOTED, "Android") == []
    assert _fields(FindingType.ROOTED, "iOS") == ["findingType"]


def test_apps_name_the_platforms_app_id_and_a_sha256() -> None:
    app = FindingType.MALICIOUS_APP
    assert _fields(app, "iOS", bundleId="com.x", sha256=SHA) == []
    assert _fields(app, "Android", packageId="com.x", sha256=SHA) == []
    assert _fields(app, "Android", bundleId="com.x", sha256=SHA) == ["packageId"]
    assert _fields(app, "iOS", bundleId="com.x", sha256="xyz") == ["sha256"]
    assert _fields(FindingType.POTENTIALLY_UNWANTED_APP, "iOS") == ["bundleId", "sha256"]


def test_network_and_os_findings_need_their_subject() -> None:
    assert _fields(FindingType.PHISHING_SITE_BLOCKED, "iOS", url="https://a.example/x") == []
    assert _fields(FindingType.PHISHING_SITE_BLOCKED, "iOS", url="ftp://a.example") == ["url"]
    assert _fields(FindingType.PHISHING_SITE_BLOCKED, "iOS", url="https://") == ["url"]
    assert _fields(FindingType.ROGUE_WIFI, "Android", ssid="Guest") == []
    assert _fields(FindingType.MALICIOUS_CERTIFICATE, "iOS", certificateThumbprint="c" * 64) == []
    cert = _fields(FindingType.MALICIOUS_CERTIFICATE, "iOS", certificateThumbprint="c" * 41)
    assert cert == ["certificateThumbprint"]
    assert _fields(FindingType.UNSUPPORTED_OS_VERSION, "Android") == ["osVersion"]
