"""Connector HTTP API (Graph `mobileThreatDefenseConnectors`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from stockade.connector.model import Connector
from stockade.core.errors import NotFound
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import require, services
from stockade.http.schema import Body, collection
from stockade.services import Services

router = APIRouter(prefix="/api/deviceManagement", tags=["connector"])
link_router = APIRouter(prefix="/api/mtd", tags=["connector"])

_FIELDS = {
    "windowsEnabled": "windows_enabled",
    "androidEnabled": "android_enabled",
    "iosEnabled": "ios_enabled",
    "androidMobileApplicationManagementEnabled": "android_mam_enabled",
    "iosMobileApplicationManagementEnabled": "ios_mam_enabled",
    "partnerUnresponsivenessThresholdInDays": "unresponsiveness_threshold_days",
    "windowsDeviceBlockedOnMissingPartnerData": "windows_blocked_on_missing_data",
    "androidDeviceBlockedOnMissingPartnerData": "android_blocked_on_missing_data",
    "iosDeviceBlockedOnMissingPartnerData": "ios_blocked_on_missing_data",
    "partnerUnsupportedOsVersionBlocked": "unsupported_os_blocked",
}


def connector_json(c: Connector) -> dict[str, Any]:
    return {
        "id": c.id,
        "partnerState": c.partner_state.value,
        **{wire: getattr(c, attr) for wire, attr in _FIELDS.items()},
        "lastHeartbeatDateTime": c.last_heartbeat,
        "createdDateTime": c.created_at,
        "remotePartner": c.remote,
    }


class NewConnectorBody(Body):
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
    windows_blocked_on_missing_data: bool | None = Field(
        None, alias="windowsDeviceBlockedOnMissingPartnerData"
    )
    android_blocked_on_missing_data: bool | None = Field(
        None, alias="androidDeviceBlockedOnMissingPartnerData"
    )
    ios_blocked_on_missing_data: bool | None = Field(
        None, alias="iosDeviceBlockedOnMissingPartnerData"
    )
    unsupported_os_blocked: bool | None = Field(None, alias="partnerUnsupportedOsVersionBlocked")
    remote_partner: bool = Field(False, alias="remotePartner")
    """A partner in another deployment or product, pushing over the partner API."""

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"remote_partner"})


class ConnectorBody(Body):
    windows_blocked_on_missing_data: bool | None = Field(
        None, alias="windowsDeviceBlockedOnMissingPartnerData"
    )
    android_blocked_on_missing_data: bool | None = Field(
        None, alias="androidDeviceBlockedOnMissingPartnerData"
    )
    ios_blocked_on_missing_data: bool | None = Field(
        None, alias="iosDeviceBlockedOnMissingPartnerData"
    )
    unsupported_os_blocked: bool | None = Field(None, alias="partnerUnsupportedOsVersionBlocked")
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
    body: NewConnectorBody,
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Enable the link; this also creates its classic access policy and, for the built-in
    partner, the onboarding profile. A remote partner gets a credential, shown once."""
    connector, credential = s.connector.create(
        p.tenant_id, remote=body.remote_partner, **body.changes()
    )
    out = connector_json(connector)
    if credential:
        out["partnerCredential"] = credential
        out["partnerApiUrl"] = f"{s.settings.effective_public_url}/api/partner/v1"
    return out


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


class PartnerLinkBody(Body):
    mdm_url: str = Field(alias="mdmUrl", min_length=8, max_length=500)
    credential: str = Field(min_length=8, description="the partner credential (spk_...)")


def link_json(link: Any) -> dict[str, Any]:
    return {
        "mdmUrl": link.mdm_url,
        "connectorId": link.connector_id,
        "createdDateTime": link.created_at,
        "lastPushDateTime": link.last_push_at,
        "lastError": link.last_error,
    }


@link_router.put("/partnerLink")
def put_partner_link(
    body: PartnerLinkBody,
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Threat defense side: send this tenant's threat levels to device management in another
    deployment, with the credential its remote connector gave."""
    return link_json(s.connector.link(p.tenant_id, body.mdm_url, body.credential))


@link_router.get("/partnerLink")
def get_partner_link(
    p: AdminPrincipal = require(Permission.CONNECTOR_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    link = s.connector.get_link(p.tenant_id)
    if link is None:
        raise NotFound("this tenant has no partner link")
    return link_json(link)


@link_router.delete("/partnerLink", status_code=204)
def delete_partner_link(
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE), s: Services = Depends(services)
) -> None:
    s.connector.unlink(p.tenant_id)
