"""Conditional launch decisions (pure) and notification rendering (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from stockade.core.model import ThreatLevel
from stockade.mdm.app_protection import LaunchAction, decide_launch, parse_app_policy
from stockade.mdm.model import AppProtectionPolicy, LocalizedMessage, NotificationTemplate
from stockade.mdm.notify import notification, render

NOW = datetime(2026, 3, 2, tzinfo=UTC)
POLICY = AppProtectionPolicy(
    id="p1",
    odata_type="#microsoft.graph.androidManagedAppProtection",
    display_name="MAM",
    description="",
    maximum_allowed_device_threat_level=ThreatLevel.LOW,
    mobile_threat_defense_remediation_action="wipe",
    apps=("com.example",),
    created_at=NOW,
    modified_at=NOW,
)


@pytest.mark.parametrize(
    ("level", "partner", "action"),
    [
        (ThreatLevel.SECURED, True, LaunchAction.ALLOW),
        (ThreatLevel.LOW, True, LaunchAction.ALLOW),
        (ThreatLevel.MEDIUM, True, LaunchAction.WIPE),
        (None, True, LaunchAction.BLOCK),  # no evidence: block, never wipe
        (ThreatLevel.HIGH, False, LaunchAction.BLOCK),  # toggle off: the level may not be used
    ],
)
def test_launch_action(level: ThreatLevel | None, partner: bool, action: LaunchAction) -> None:
    assert decide_launch([POLICY], level, partner, "device").action is action


def test_strongest_action_wins_and_not_configured_does_not_check() -> None:
    lenient = replace(POLICY, id="p2", maximum_allowed_device_threat_level=None)
    blocking = replace(POLICY, id="p3", mobile_threat_defense_remediation_action="block")
    decision = decide_launch([lenient, blocking, POLICY], ThreatLevel.HIGH, True, "device")
    assert decision.action is LaunchAction.WIPE
    assert decision.policy_ids == ("p2", "p3", "p1")
    assert decide_launch([lenient], None, False, "device").action is LaunchAction.ALLOW
    assert decide_launch([], ThreatLevel.HIGH, True, "device").action is LaunchAction.ALLOW


def test_parse_app_policy_names_problems_and_keeps_unsupported() -> None:
    parsed = parse_app_policy(
        {
            "maximumAllowedDeviceThreatLevel": "NotConfigured",
            "mobileThreatDefenseRemediationAction": "Wipe",
            "apps": ["a", {"mobileAppIdentifier": {"bundleId": "b"}}, "a"],
            "pinRequired": True,
            "dataBackupBlocked": False,
        }
    )
    assert parsed.maximum is None and parsed.remediation == "wipe"
    assert parsed.apps == ("a", "b") and parsed.unsupported == {"pinRequired": True}
    assert parse_app_policy({"apps": "x"}).problems == (("apps", "apps must be a list"),)


def test_notification_picks_the_locale_and_fills_tokens() -> None:
    template = NotificationTemplate(
        "t",
        "T",
        "en-us",
        (
            LocalizedMessage("en-us", "{{DeviceName}}", "Hi {{UserName}} {{Unknown}}", True),
            LocalizedMessage("fr-fr", "{{DeviceName}} !", "Bonjour {{UserName}}", False),
        ),
        NOW,
        NOW,
    )
    values = {"DeviceName": "WIN-1", "UserName": "alex"}
    assert notification(template, values) == ("WIN-1", "Hi alex {{Unknown}}")
    assert notification(template, values, "FR-fr") == ("WIN-1 !", "Bonjour alex")
    subject, body = notification(None, {**values, "PolicyName": "P", "Reasons": "- x"})
    assert subject.startswith("WIN-1 does not meet") and "P:\n- x" in body
    assert render("{{A}}{{B}}", {"A": "1"}) == "1{{B}}"
