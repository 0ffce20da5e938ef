"""Rendered proxy configurations carry the decision URL and the headers forward auth needs."""

from __future__ import annotations

import subprocess
import sys

import yaml

from stockade.access.proxies import ProxySite, caddy, envoy, traefik

SITE = ProxySite("contoso", "payroll", "http://127.0.0.1:9000", "http://127.0.0.1:8080")
DECISION = "http://127.0.0.1:8080/access/forward-auth?tenant=contoso&app=payroll"


def test_traefik_forward_auth_middleware() -> None:
    conf = yaml.safe_load(traefik(SITE))
    auth = conf["http"]["middlewares"]["stockade"]["forwardAuth"]
    assert auth["address"] == DECISION
    assert {"X-Forwarded-User", "X-Stockade-Device"} <= set(auth["authRequestHeaders"])
    assert conf["http"]["routers"]["payroll"]["middlewares"] == ["stockade"]
    servers = conf["http"]["services"]["payroll"]["loadBalancer"]["servers"]
    assert servers == [{"url": "http://127.0.0.1:9000"}]


def test_envoy_ext_authz_fails_closed() -> None:
    conf = yaml.safe_load(envoy(SITE))
    listener = conf["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8443}
    filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    authz = filters[0]["typed_config"]
    assert authz["failure_mode_allow"] is False
    assert authz["http_service"]["path_prefix"].startswith(
        "/access/forward-auth?tenant=contoso&app=payroll"
    )
    clusters = {c["name"]: c for c in conf["static_resources"]["clusters"]}
    endpoint = clusters["stockade"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert endpoint["endpoint"]["address"]["socket_address"]["port_value"] == 8080


def test_caddy_forward_auth() -> None:
    text = caddy(SITE)
    assert "forward_auth 127.0.0.1:8080" in text
    assert "uri /access/forward-auth?tenant=contoso&app=payroll" in text
    assert "reverse_proxy 127.0.0.1:9000" in text


def test_cli_prints_a_config_and_refuses_unknown_proxies() -> None:
    cmd = [sys.executable, "-m", "stockade.cli", "proxy-config"]
    args = ["--tenant", "contoso", "--app", "payroll", "--upstream", "http://127.0.0.1:9000"]
    ok = subprocess.run([*cmd, "traefik", *args], capture_output=True, text=True)
    assert ok.returncode == 0 and "forwardAuth" in ok.stdout
    bad = subprocess.run([*cmd, "haproxy", *args], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown proxy" in bad.stderr
