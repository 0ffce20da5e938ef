"""The settings page names every setting the catalog supports."""

from __future__ import annotations

from pathlib import Path

from stockade.mdm.catalog import SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "mdm-settings.md"


def test_every_supported_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [name for name in SETTINGS if f"`{name}`" not in text]
    assert missing == []
