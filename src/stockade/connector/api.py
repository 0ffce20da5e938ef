"""Connector HTTP API (Graph `mobileThreatDefenseConnectors`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from stockade.connector.model import Connector
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import require, services
from stockade.http.schema import Body, collection
from stockade.services import Services

router = APIRouter(prefix="/api/deviceManagement", tags=["connector"])

_FIELDS = {
    "windowsEnabled": "windows_enabled",
    "androidEnabled": "android_enabled",
    "iosEnabled": "ios_enabled",
    "androidMobileApplicationManagementEnabled": "android_mam_enabled",
    "iosMobileApplicationManagementEnabled": "ios_mam_enabled",
    "partnerUnresponsivenessThresholdInDays": "unresponsiveness_threshold_days",
}


def connector_json(c: Connector) -> dict[str, Any]:
    return {
        "id": c.id,
        "partnerState": c.partner_state.value,
        **{wire: getattr(c, attr) for wire, attr in _FIELDS.items()},
        "lastHeartbeatDateTime": c.last_heartbeat,
        "createdDateTime": c.created_at,
    }


class ConnectorBody(Body):
    windows_enabled: bool | None = Field(None, alias="windowsEnabled")
    android_enabled: bool | None = Field(None, alias="androidEnabled")
    ios_enabled: bool | None = Field(None, alias="iosEnabled")
    android_mam_enabled: bool | None = Field(
        None, alias="androidMobileApplicationManagementEnabled"
    )
    ios_mam_enabled: bool | None = Field(None, alias="iosMobileApplicationManagementEnabled")
    unresponsiveness_threshold_days: int | None = Field(
        None, alias="partnerUnresponsivenessThresholdInDays"
    )

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


@router.get("/mobileThreatDefenseConnectors")
def list_connectors(
    p: AdminPrincipal = require(Permission.CONNECTOR_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([connector_json(c) for c in s.connector.list(p.tenant_id)])


@router.post("/mobileThreatDefenseConnectors", status_code=201)
def create_connector(
    body: ConnectorBody,
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Enable the link; this also creates its classic access policy and the onboarding profile."""
    return connector_json(s.connector.create(p.tenant_id, **body.changes()))


@router.get("/mobileThreatDefenseConnectors/{connector_id}")
def get_connector(
    connector_id: str,
    p: AdminPrincipal = require(Permission.CONNECTOR_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return connector_json(s.connector.get(p.tenant_id, connector_id))


@router.patch("/mobileThreatDefenseConnectors/{connector_id}")
def patch_connector(
    connector_id: str,
    body: ConnectorBody,
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return connector_json(s.connector.update(p.tenant_id, connector_id, **body.changes()))


@router.delete("/mobileThreatDefenseConnectors/{connector_id}", status_code=204)
def delete_connector(
    connector_id: str,
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE),
    s: Services = Depends(services),
) -> None:
    s.connector.delete(p.tenant_id, connector_id)
