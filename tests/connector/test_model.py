"""Connector vocabulary: risk -> threat level, Defender osPlatform -> platform, toggles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from stockade.connector.model import (
    Connector,
    PartnerState,
    platform_of,
    threat_level_for,
)
from stockade.core.model import Platform, RiskScore, ThreatLevel

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def make_connector(**overrides: Any) -> Connector:
    connector = Connector(
        id="connector-1",
        partner_state=PartnerState.ENABLED,
        windows_enabled=False,
        android_enabled=False,
        ios_enabled=False,
        android_mam_enabled=False,
        ios_mam_enabled=False,
        unresponsiveness_threshold_days=7,
        last_heartbeat=None,
        created_at=NOW,
    )
    return replace(connector, **overrides)


@pytest.mark.parametrize(
    ("risk", "level"),
    [
        (RiskScore.NONE, ThreatLevel.SECURED),
        (RiskScore.INFORMATIONAL, ThreatLevel.SECURED),
        (RiskScore.LOW, ThreatLevel.LOW),
        (RiskScore.MEDIUM, ThreatLevel.MEDIUM),
        (RiskScore.HIGH, ThreatLevel.HIGH),
    ],
)
def test_threat_level_for_risk(risk: RiskScore, level: ThreatLevel) -> None:
    assert threat_level_for(risk) is level


def test_every_risk_score_has_a_threat_level() -> None:
    for risk in RiskScore:
        assert isinstance(threat_level_for(risk), ThreatLevel)


def test_threat_level_keeps_the_order_of_risk() -> None:
    order = [RiskScore.NONE, RiskScore.INFORMATIONAL, RiskScore.LOW, RiskScore.MEDIUM]
    order.append(RiskScore.HIGH)
    ranks = [threat_level_for(r).rank for r in order]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize(
    ("os_platform", "platform"),
    [
        ("Windows10", Platform.WINDOWS),
        ("Windows11", Platform.WINDOWS),
        ("windows10", Platform.WINDOWS),
        ("Android", Platform.ANDROID),
        ("android", Platform.ANDROID),
        ("iOS", Platform.IOS),
        ("IOS", Platform.IOS),
        ("iPadOS", Platform.IOS),
    ],
)
def test_platform_of_known_platforms(os_platform: str, platform: Platform) -> None:
    assert platform_of(os_platform) is platform


@pytest.mark.parametrize("os_platform", ["macOS", "Linux", "", "AndroidTV", "ChromeOS"])
def test_platform_of_unknown_platforms_is_none(os_platform: str) -> None:
    assert platform_of(os_platform) is None


@pytest.mark.parametrize(
    ("toggle", "platform"),
    [
        ("windows_enabled", Platform.WINDOWS),
        ("android_enabled", Platform.ANDROID),
        ("ios_enabled", Platform.IOS),
    ],
)
def test_enabled_for_follows_only_its_platform_toggle(toggle: str, platform: Platform) -> None:
    connector = make_connector(**{toggle: True})
    assert connector.enabled_for(platform)
    for other in Platform:
        if other is not platform:
            assert not connector.enabled_for(other)


def test_all_toggles_off_enables_no_platform() -> None:
    connector = make_connector()
    assert not any(connector.enabled_for(p) for p in Platform)


def test_mam_toggles_do_not_enable_device_platforms() -> None:
    connector = make_connector(android_mam_enabled=True, ios_mam_enabled=True)
    assert not connector.enabled_for(Platform.ANDROID)
    assert not connector.enabled_for(Platform.IOS)
