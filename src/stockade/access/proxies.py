"""Ready configurations for putting Stockade's forward auth in front of an app. Pure.

Each function renders a complete, working configuration for one reverse proxy; `stockade
proxy-config` prints them and the nginx one is what the end-to-end test runs. The identity
header normally comes from an auth proxy (oauth2-proxy or the like) in front: never let a
client set it directly in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit


@dataclass(frozen=True)
class ProxySite:
    tenant: str
    app: str
    upstream: str
    """The protected app, e.g. http://127.0.0.1:9000"""
    stockade: str = "http://127.0.0.1:8080"
    listen: str = "127.0.0.1:8443"
    user_header: str = "X-Forwarded-User"
    tls_cert: str = ""
    """With `tls_key` and `client_ca`: serve TLS and verify device client certificates against
    the tenant's device CA (GET /api/devices/certificateAuthority)."""
    tls_key: str = ""
    client_ca: str = ""

    @property
    def decision_url(self) -> str:
        query = urlencode({"tenant": self.tenant, "app": self.app})
        return f"{self.stockade.rstrip('/')}/access/forward-auth?{query}"

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def nginx(site: ProxySite, *, prefix: str = "/var/lib/stockade-nginx") -> str:
    """nginx `auth_request`; a denial is asked again so the user gets the explanation page."""
    header_var = "$http_" + site.user_header.lower().replace("-", "_")
    tls = bool(site.tls_cert and site.tls_key and site.client_ca)
    path = site.decision_url.split("/", 3)[3]
    ask = "\n".join(
        "            " + line
        for line in (
            # a named location cannot carry a URI in proxy_pass; rewrite, then pass
            f"rewrite ^ /{path}? break;",
            "proxy_pass http://stockade;",
            "proxy_method GET;",
            "proxy_http_version 1.1;",
            'proxy_set_header Connection "";',
            "proxy_pass_request_body off;",
            'proxy_set_header Content-Length "";',
            f"proxy_set_header {site.user_header} {header_var};",
            "proxy_set_header X-Stockade-Device $http_x_stockade_device;",
            "proxy_set_header X-Stockade-MFA $http_x_stockade_mfa;",
            "proxy_set_header Cookie $http_cookie;",
            "proxy_set_header Accept $http_accept;",
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-Host $host;",
            *(("proxy_set_header X-SSL-Client-Cert $stockade_client_cert;",) if tls else ()),
        )
    )
    tls_server = (
        f"""
        ssl_certificate {site.tls_cert};
        ssl_certificate_key {site.tls_key};
        ssl_client_certificate {site.client_ca};
        ssl_verify_client optional;"""
        if tls
        else ""
    )
    # only a certificate nginx verified against the device CA is passed on
    tls_map = (
        """
    map $ssl_client_verify $stockade_client_cert {
        SUCCESS $ssl_client_escaped_cert;
        default "";
    }"""
        if tls
        else ""
    )
    return f"""# Stockade forward auth for {site.app} (tenant {site.tenant})
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream stockade {{ server {urlsplit(site.stockade).netloc}; keepalive 32; }}{tls_map}
    server {{
        listen {site.listen}{" ssl" if tls else ""};{tls_server}
        location = /_stockade {{
            internal;
{ask}
        }}
        location @stockade_denied {{
{ask}
        }}
        location / {{
            auth_request /_stockade;
            auth_request_set $stockade_user $upstream_http_x_stockade_user;
            error_page 403 = @stockade_denied;
            proxy_set_header X-Stockade-User $stockade_user;
            proxy_pass {site.upstream};
        }}
    }}
}}
"""


def traefik(site: ProxySite) -> str:
    """Traefik dynamic configuration (file provider) with a ForwardAuth middleware."""
    return f"""# Stockade forward auth for {site.app} (tenant {site.tenant}) — Traefik file provider
http:
  middlewares:
    stockade:
      forwardAuth:
        address: "{site.decision_url}"
        trustForwardHeader: true
        authRequestHeaders: ["{site.user_header}", "X-Stockade-Device", "X-Stockade-MFA", "Cookie", "Accept"]
        authResponseHeaders: ["X-Stockade-User", "X-Stockade-Decision"]
  routers:
    {site.app}:
      rule: "PathPrefix(`/`)"
      middlewares: ["stockade"]
      service: {site.app}
  services:
    {site.app}:
      loadBalancer:
        servers:
          - url: "{site.upstream}"
"""


def caddy(site: ProxySite) -> str:
    """A Caddyfile using `forward_auth`."""
    base = urlsplit(site.stockade)
    query = urlencode({"tenant": site.tenant, "app": site.app})
    return f"""# Stockade forward auth for {site.app} (tenant {site.tenant}) — Caddyfile
http://{site.listen} {{
    forward_auth {base.netloc} {{
        uri /access/forward-auth?{query}
        header_up X-Real-IP {{remote_host}}
        copy_headers X-Stockade-User
    }}
    reverse_proxy {urlsplit(site.upstream).netloc}
}}
"""


def envoy(site: ProxySite) -> str:
    """Envoy with the HTTP `ext_authz` filter."""
    sa = urlsplit(site.stockade)
    ua = urlsplit(site.upstream)
    query = urlencode({"tenant": site.tenant, "app": site.app})
    return f"""# Stockade forward auth for {site.app} (tenant {site.tenant}) — Envoy ext_authz (HTTP)
static_resources:
  listeners:
  - address: {{socket_address: {{address: {site.listen_host}, port_value: {site.listen_port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {site.app}
          route_config:
            virtual_hosts:
            - name: {site.app}
              domains: ["*"]
              routes: [{{match: {{prefix: "/"}}, route: {{cluster: {site.app}}}}}]
          http_filters:
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              http_service:
                server_uri: {{uri: "{site.stockade}", cluster: stockade, timeout: 0.5s}}
                path_prefix: "/access/forward-auth?{query}&_path="
                authorization_request:
                  allowed_headers:
                    patterns: [{{exact: {site.user_header.lower()}}}, {{exact: x-stockade-device}}, {{exact: x-stockade-mfa}}, {{exact: cookie}}, {{exact: accept}}]
                authorization_response:
                  allowed_upstream_headers:
                    patterns: [{{exact: x-stockade-user}}]
              failure_mode_allow: false
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: stockade
    type: STRICT_DNS
    load_assignment:
      cluster_name: stockade
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: {sa.hostname}, port_value: {sa.port or 80}}}}}}}}}]}}]
  - name: {site.app}
    type: STRICT_DNS
    load_assignment:
      cluster_name: {site.app}
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: {ua.hostname}, port_value: {ua.port or 80}}}}}}}}}]}}]
"""


RENDERERS = {"nginx": nginx, "traefik": traefik, "caddy": caddy, "envoy": envoy}
