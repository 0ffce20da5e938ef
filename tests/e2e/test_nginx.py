"""Enforcement in front of a real app: nginx `auth_request` -> Stockade forward auth."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from stockade.access.proxies import ProxySite
from stockade.http.server import free_port
from stockade.sim.demo import resolve_all
from stockade.sim.fleet import admin_client, bring_up, fleet_specs, provision
from stockade.sim.processes import NginxProcess, StockadeProcess, ToyApp, nginx_binary
from stockade.sim.scenario import attack_steps

pytestmark = [pytest.mark.e2e, pytest.mark.nginx]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[StockadeProcess, NginxProcess, ToyApp]]:
    if nginx_binary() is None:
        if os.environ.get("STOCKADE_REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is not installed; .ci/run installs nginx-light")
        pytest.skip("nginx is not installed")
    app = ToyApp()
    stockade = StockadeProcess(tmp_path / "data")
    stockade.start()
    site = ProxySite(
        tenant="contoso",
        app="payroll",
        upstream=app.url,
        stockade=stockade.url,
        listen=f"127.0.0.1:{free_port()}",
    )
    proxy = NginxProcess(tmp_path / "nginx", site)
    try:
        yield stockade, proxy, app
    finally:
        proxy.stop()
        stockade.stop()
        app.stop()


def test_nginx_blocks_the_attacked_device_and_lets_it_back(stack) -> None:  # type: ignore[no-untyped-def]
    stockade, proxy, app = stack
    token = stockade.create_tenant("contoso")
    tenant = provision(admin_client(stockade.url, token), "contoso", users=1)
    api = httpx.Client(base_url=stockade.url, timeout=30)
    (device,) = fleet_specs(api, tenant.users, 1)
    bring_up(device, tenant.enrollment_token)
    proxy.start()
    headers = {
        "X-Forwarded-User": device.user_principal_name,
        "X-Stockade-Device": device.credential,
    }
    web = httpx.Client(base_url=proxy.url, timeout=10)

    ok = web.get("/reports", headers=headers)
    assert ok.status_code == 200
    assert ok.text == f"payroll for {device.user_principal_name}\n"
    assert app.seen[-1]["X-Stockade-User"] == device.user_principal_name

    device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
    page = web.get("/reports", headers={**headers, "Accept": "text/html"})
    assert page.status_code == 403
    assert "Access blocked" in page.text and device.name in page.text
    assert "Threat level High: 1 active alert(s)" in page.text
    api_client = web.get("/reports", headers={**headers, "Accept": "application/json"})
    assert api_client.status_code == 403
    assert api_client.json()["details"][0]["threatLevel"] == "high"
    assert len(app.seen) == 1  # the app never saw the denied requests

    no_device = web.get("/reports", headers={"X-Forwarded-User": device.user_principal_name})
    assert no_device.status_code == 403
    assert web.get("/reports").status_code == 401  # no user asserted

    resolve_all(tenant, device)
    assert web.get("/reports", headers=headers).status_code == 200
