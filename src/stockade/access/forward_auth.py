"""Forward auth: reading what the proxy sends, answering it, and a fast path for repeats.

The route in `access/api.py` handles every request fully. In front of the whole app,
`ForwardAuthFastPath` answers a forward-auth request straight from the decision cache when
the same (user, device, app, address, client type, MFA) was decided before and no event has
invalidated it since; anything else goes to the route. Both read the request with `read()`
and answer with `respond()`, so the two paths cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stockade.access.deny_page import deny_page
from stockade.access.identity import Identity, from_trusted_proxy
from stockade.access.model import ClientAppType
from stockade.access.service import AccessResult, SignIn, cache_key
from stockade.core.errors import InvalidInput, Unauthenticated

if TYPE_CHECKING:
    from stockade.services import Services

PATH = "/access/forward-auth"
PROBLEM = "application/problem+json"


def read(request: Request, s: Services) -> tuple[str, SignIn]:
    """(tenant name or id, the sign-in) from a proxy's forward-auth request."""
    settings = s.settings
    tenant = request.query_params.get("tenant")
    if not tenant:
        raise InvalidInput("the tenant query parameter is required", status=400, field="tenant")
    app_id = request.query_params.get("app") or request.headers.get("x-forwarded-host") or ""
    if not app_id:
        raise InvalidInput("no application: pass ?app= or X-Forwarded-Host", status=400)
    trusted = from_trusted_proxy(
        request.client.host if request.client else None, settings.trusted_proxies
    )
    identity = _identity(request, s, trusted)
    accept = request.headers.get("accept", "")
    client_type = (request.headers.get("x-stockade-client-app-type") if trusted else None) or (
        ClientAppType.BROWSER.value
        if "text/html" in accept
        else ClientAppType.MOBILE_AND_DESKTOP.value
    )
    return tenant, SignIn(
        user_ref=identity.user_ref,
        app_id=app_id,
        device_token=request.headers.get("x-stockade-device")
        or request.cookies.get("stockade_device"),
        client_ip=(request.headers.get("x-real-ip") if trusted else None)
        or (request.client.host if request.client else None),
        client_app_type=client_type,
        mfa_satisfied=identity.mfa,
        # a client certificate counts only as verified by a trusted proxy
        client_cert=(request.headers.get("x-ssl-client-cert") or None) if trusted else None,
        client_cert_fingerprint=(request.headers.get("x-ssl-client-fingerprint") or None)
        if trusted
        else None,
    )


def _identity(request: Request, s: Services, trusted: bool) -> Identity:
    settings = s.settings
    auth = request.headers.get("authorization", "")
    if s.jwt is not None and auth.lower().startswith("bearer "):
        return s.jwt.verify(auth[7:].strip())
    user = request.headers.get(settings.forward_auth_user_header) if trusted else None
    if not user:
        raise Unauthenticated(
            f"no signed-in user: the proxy must set {settings.forward_auth_user_header}"
            + ("" if trusted else " and call from a trusted proxy address")
            + (" or send a bearer JWT" if s.jwt is not None else "")
        )
    mfa = request.headers.get(settings.forward_auth_mfa_header, "").lower() == "true"
    return Identity(user, mfa, "header")


def respond(result: AccessResult, accept: str) -> Response:
    headers = {
        "X-Stockade-Decision": "allow" if result.decision.allowed else "deny",
        "X-Stockade-Signin-Id": result.signin_id,
        "Cache-Control": "no-store",
    }
    if result.decision.allowed:
        headers["X-Stockade-User"] = result.user_principal_name or ""
        return Response(status_code=200, headers=headers)
    if result.decision.requirements:
        headers["X-Stockade-Requirements"] = ",".join(result.decision.requirements)
    if "text/html" in accept:
        return HTMLResponse(deny_page(result), status_code=403, headers=headers)
    body = {
        "type": "urn:stockade:problem:access_denied",
        "title": "Access denied",
        "status": 403,
        "detail": "; ".join(result.decision.reasons),
        "code": "access_denied",
        "signInId": result.signin_id,
        "reasons": list(result.decision.reasons),
        "requirements": list(result.decision.requirements),
        "details": list(result.decision.details),
    }
    return Response(orjson.dumps(body, default=str), 403, headers=headers, media_type=PROBLEM)


class ForwardAuthFastPath:
    """ASGI middleware: cached forward-auth answers without the framework's per-request work."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        s = self.services
        request = Request(scope, receive)
        try:
            tenant_ref, signin = read(request, s)
        except Exception:
            await self.app(scope, receive, send)  # the route reports the problem
            return
        tenant_id = s.tenant_ids.get(tenant_ref)
        hit = s.access.cached_decision(tenant_id, cache_key(signin)) if tenant_id else None
        if hit is None:
            await self.app(scope, receive, send)
            return
        response: Any = respond(hit, request.headers.get("accept", ""))
        await response(scope, receive, send)
