"""Threat defense side of the partner API: signed calls to a device management deployment."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from stockade.connector import signing
from stockade.connector.model import PartnerLink

PREFIX = "/api/partner/v1"


class PartnerError(RuntimeError):
    """The device management side did not accept a call, or could not prove who it is."""


class PartnerClient:
    def __init__(self, link: PartnerLink, timeout: float = 5.0) -> None:
        self.link = link
        self.http = httpx.Client(base_url=link.mdm_url.rstrip("/"), timeout=timeout)

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        body = orjson.dumps(payload) if payload is not None else b""
        full = PREFIX + path
        ts = int(time.time())
        headers = {
            signing.PARTNER: self.link.connector_id,
            signing.TIMESTAMP: str(ts),
            signing.SIGNATURE: signing.sign_request(self.link.secret, method, full, ts, body),
            "Content-Type": "application/json",
        }
        try:
            response = self.http.request(method, full, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PartnerError(
                f"device management at {self.link.mdm_url} unreachable: {exc}"
            ) from exc
        # mutual authentication: the answer must be signed with the same secret
        try:
            rts = int(response.headers.get(signing.TIMESTAMP, "0"))
        except ValueError:
            rts = 0
        expected = signing.sign_response(
            self.link.secret, response.status_code, rts, response.content
        )
        if not signing.verify(expected, response.headers.get(signing.SIGNATURE, "")):
            raise PartnerError("the device management side did not sign its answer correctly")
        if response.status_code >= 400:
            raise PartnerError(f"{method} {full} -> {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def heartbeat(self) -> Any:
        return self.call("POST", "/heartbeat", {})

    def push_levels(self, items: list[dict[str, Any]]) -> Any:
        return self.call("POST", "/deviceThreatLevels", {"value": items})

    def put_onboarding(self, blob: dict[str, Any]) -> Any:
        return self.call("PUT", "/onboardingPackage", blob)

    def device_registered(self, device_id: str) -> bool:
        return bool(self.call("GET", f"/devices/{device_id}")["registered"])

    def close(self) -> None:
        self.http.close()
