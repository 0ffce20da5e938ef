"""Settings read from STOCKADE_* variables as the README documents them."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from stockade.settings import Settings


def test_trusted_proxies_take_the_comma_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKADE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32,::1/128")
    assert Settings(_env_file=None).trusted_proxies == [
        ip_network("10.0.0.0/8"),
        ip_network("127.0.0.1/32"),
        ip_network("::1/128"),
    ]


def test_defaults_need_no_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("STOCKADE_DATABASE_URL", "STOCKADE_TRUSTED_PROXIES", "STOCKADE_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    s = Settings(_env_file=None)
    assert s.effective_database_url == "sqlite:///.stockade/stockade.db"
    assert ip_network("127.0.0.0/8") in s.trusted_proxies
