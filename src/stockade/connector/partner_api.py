"""The partner API: device management's side of the connector, for threat-defense partners in
another deployment (or another product). Mounted at /api/partner/v1 with its own OpenAPI.

Every request is signed by the partner and every answer is signed back (see `signing`).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from pydantic import Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockade.connector import signing
from stockade.connector.model import Connector
from stockade.core.errors import Unauthenticated
from stockade.http import problems
from stockade.http.auth import mark_auth
from stockade.http.schema import Body
from stockade.services import Services

PREFIX = "/api/partner/v1"


def partner() -> Any:
    """Authenticate a signed partner request: (tenant id, connector)."""

    async def dependency(request: Request) -> tuple[str, Connector]:
        s: Services = request.app.state.services
        connector_id = request.headers.get(signing.PARTNER, "")
        try:
            ts = int(request.headers.get(signing.TIMESTAMP, ""))
        except ValueError:
            raise Unauthenticated("missing or malformed X-Stockade-Timestamp") from None
        if not signing.fresh(ts, time.time()):
            raise Unauthenticated("request timestamp too far from now (replay or clock skew)")
        tenant_id, connector, secret = s.connector.authenticate_partner(connector_id)
        body = await request.body()
        path = request.url.path
        expected = signing.sign_request(secret, request.method, path, ts, body)
        if not signing.verify(expected, request.headers.get(signing.SIGNATURE, "")):
            raise Unauthenticated("bad request signature")
        request.state.partner_secret = secret
        return tenant_id, connector

    mark_auth(dependency, "partner")
    return Depends(dependency)


class SignResponses:
    """Sign every answer with the partner's secret once the request proved it holds it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            assert start is not None
            body = b"".join(chunks)
            secret = scope.get("state", {}).get("partner_secret")
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length",)
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            if secret:
                ts = int(time.time())
                sig = signing.sign_response(secret, start["status"], ts, body)
                headers.append((signing.TIMESTAMP.lower().encode(), str(ts).encode()))
                headers.append((signing.SIGNATURE.lower().encode(), sig.encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


class ThreatLevelPush(Body):
    device_id: str = Field(alias="deviceId", min_length=1, max_length=36)
    platform: str = Field(description="Defender osPlatform: Windows10, Windows11, Android, iOS")
    threat_level: Literal["secured", "low", "medium", "high"] = Field(alias="threatLevel")
    risk_score: str | None = Field(None, alias="riskScore")
    sequence: int = Field(ge=1, description="monotonic per device; stale pushes are ignored")
    unsupported_os: bool | None = Field(
        None, alias="unsupportedOs", description="the partner does not support the device's OS"
    )


class ThreatLevelBatch(Body):
    value: list[ThreatLevelPush] = Field(max_length=10_000)


class OnboardingPackageBody(Body):
    tenant_id: str = Field(alias="tenantId")
    onboard_url: str = Field(alias="onboardUrl")
    ingest_url: str = Field(alias="ingestUrl")
    onboarding_credential: str = Field(alias="onboardingCredential")


def build_partner_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Stockade partner API",
        version="1",
        description=(
            "Device management's side of the mobile threat defense connector. A partner signs "
            "each request (X-Stockade-Partner, X-Stockade-Timestamp, X-Stockade-Signature: "
            "HMAC-SHA256 over method, path, timestamp and body digest) and checks the signed "
            "answer."
        ),
    )
    app.state.services = services
    problems.install(app)

    @app.post("/heartbeat")
    def heartbeat(auth: tuple[str, Connector] = partner()) -> dict[str, Any]:
        tenant_id, connector = auth
        c = services.connector.receive_heartbeat(tenant_id, connector)
        return {"partnerState": c.partner_state.value, "lastHeartbeatDateTime": c.last_heartbeat}

    @app.post("/deviceThreatLevels")
    def threat_levels(
        body: ThreatLevelBatch, auth: tuple[str, Connector] = partner()
    ) -> dict[str, Any]:
        """Per device: applied, stale (an equal or newer sequence was applied already),
        platformDisabled (the connector's toggle is off) or unknownDevice."""
        tenant_id, connector = auth
        items = [i.model_dump(by_alias=True) for i in body.value]
        return {"value": services.connector.receive_levels(tenant_id, connector, items)}

    @app.put("/onboardingPackage", status_code=204)
    def onboarding(body: OnboardingPackageBody, auth: tuple[str, Connector] = partner()) -> None:
        services.connector.receive_onboarding(auth[0], body.model_dump(by_alias=True))

    @app.get("/devices/{device_id}")
    def device(device_id: str, auth: tuple[str, Connector] = partner()) -> dict[str, Any]:
        """Whether the device is registered and enabled: the classic rule, for the partner."""
        registered = services.directory.is_device_registered(auth[0], device_id)
        return {"deviceId": device_id, "registered": registered}

    app.add_middleware(SignResponses)
    return app
