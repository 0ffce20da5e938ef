"""Enforcement in front of a real app: nginx `auth_request` -> Stockade forward auth."""

from __future__ import annotations

import os
import ssl
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


def _server_certificate(directory: Path) -> tuple[Path, Path]:
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_nginx_identifies_the_device_by_its_client_certificate(tmp_path: Path) -> None:
    if nginx_binary() is None:
        if os.environ.get("STOCKADE_REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is not installed; .ci/run installs nginx-light")
        pytest.skip("nginx is not installed")
    app = ToyApp()
    with StockadeProcess(tmp_path / "data") as stockade:
        token = stockade.create_tenant("contoso")
        admin = admin_client(stockade.url, token)
        tenant = provision(admin, "contoso", users=1)
        api = httpx.Client(base_url=stockade.url, timeout=30)
        (device,) = fleet_specs(api, tenant.users, 1)
        device.enroll(tenant.enrollment_token, with_certificate=True)
        device.check_in()
        device.onboard()
        assert device.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
        ca = admin.get("/api/devices/certificateAuthority").json()["certificate"]
        assert ca == device.ca_pem
        files = tmp_path / "tls"
        files.mkdir()
        server_cert, server_key = _server_certificate(files)
        (files / "ca.pem").write_text(ca)
        (files / "device.pem").write_text(device.certificate_pem)
        (files / "device.key").write_text(device.key_pem)
        site = ProxySite(
            "contoso",
            "payroll",
            app.url,
            stockade.url,
            f"127.0.0.1:{free_port()}",
            tls_cert=str(server_cert),
            tls_key=str(server_key),
            client_ca=str(files / "ca.pem"),
        )
        proxy = NginxProcess(tmp_path / "nginx", site).start()
        try:
            user = {"X-Forwarded-User": device.user_principal_name}
            device_tls = ssl.create_default_context(cafile=str(server_cert))
            device_tls.load_cert_chain(str(files / "device.pem"), str(files / "device.key"))
            with_cert = httpx.Client(base_url=proxy.url, verify=device_tls, timeout=10)
            plain_tls = ssl.create_default_context(cafile=str(server_cert))
            without = httpx.Client(base_url=proxy.url, verify=plain_tls, timeout=10)
            first = with_cert.get("/", headers=user)
            assert first.status_code == 200, first.text
            denied = without.get("/", headers=user)
            assert denied.status_code == 403 and "no managed device" in denied.json()["detail"]
            device.send(attack_steps(device.name, datetime.now(UTC))[0].events)
            assert with_cert.get("/", headers=user).status_code == 403
            resolve_all(tenant, device)
            assert with_cert.get("/", headers=user).status_code == 200
            # disabling the registration revokes what the certificate proves
            admin.patch(f"/api/devices/{device.device_id}", json={"accountEnabled": False})
            assert with_cert.get("/", headers=user).status_code == 403
        finally:
            proxy.stop()
            app.stop()
