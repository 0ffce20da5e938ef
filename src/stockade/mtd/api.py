"""Threat defense HTTP API: sensor onboarding and ingest, machines and alerts (Defender names)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from stockade.core.errors import InvalidInput
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import bearer, public, require, sensor, services
from stockade.http.schema import Body, collection
from stockade.mtd.model import Alert, AlertStatus, Machine
from stockade.services import Services

router = APIRouter(prefix="/api", tags=["threat defense"])


def machine_json(m: Machine) -> dict[str, Any]:
    return {
        "id": m.id,
        "aadDeviceId": m.aad_device_id,
        "computerDnsName": m.computer_dns_name,
        "osPlatform": m.os_platform,
        "version": m.os_version,
        "riskScore": m.risk_score.value,
        "onboardingStatus": "Onboarded",
        "healthStatus": "Active",
        "firstSeen": m.first_seen,
        "lastSeen": m.last_seen,
    }


def alert_json(a: Alert, *, evidence: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "machineId": a.machine_id,
        "detectorId": a.rule_id,
        "title": a.title,
        "description": a.description,
        "severity": a.severity.value,
        "status": a.status.value,
        "category": a.category,
        "mitreTechniques": list(a.mitre_techniques),
        "detectionSource": "customDetection",
        "firstEventTime": a.first_event_time,
        "lastEventTime": a.last_event_time,
        "alertCreationTime": a.created_at,
        "resolvedTime": a.resolved_at,
        "evidenceCount": a.evidence_count,
    }
    if evidence:
        out["evidence"] = list(a.evidence)
    return out


class OnboardRequest(Body):
    device_id: str = Field(alias="deviceId", min_length=1, max_length=36)
    computer_dns_name: str = Field(alias="computerDnsName", min_length=1, max_length=255)
    os_platform: str = Field(alias="osPlatform")
    os_version: str = Field(alias="osVersion", min_length=1, max_length=64)


class AlertPatch(Body):
    status: AlertStatus


@router.post(
    "/mtd/onboard",
    status_code=201,
    dependencies=[public("authenticated by the tenant onboarding credential in the bearer header")],
)
def onboard(
    body: OnboardRequest, raw: str = Depends(bearer), s: Services = Depends(services)
) -> dict[str, Any]:
    machine, credential = s.mtd.onboard(
        raw,
        device_id=body.device_id,
        computer_dns_name=body.computer_dns_name,
        os_platform=body.os_platform,
        os_version=body.os_version,
    )
    return {
        "machine": machine_json(machine),
        "sensorCredential": str(credential),
        "ingestUrl": f"{s.settings.effective_public_url}/api/mtd/telemetry",
    }


@router.post("/mtd/telemetry", status_code=202)
async def ingest(
    request: Request, auth: tuple[str, Machine] = sensor(), s: Services = Depends(services)
) -> dict[str, Any]:
    """Accept one NDJSON batch (all-or-nothing). 202 means stored and evaluated."""
    limit = s.settings.max_batch_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidInput(f"batch larger than {limit} bytes; split it", status=413)
        chunks.append(chunk)
    tenant_id, machine = auth
    result = await run_in_threadpool(s.mtd.ingest, tenant_id, machine, b"".join(chunks))
    return {
        "batchId": result.batch_id,
        "accepted": result.accepted,
        "alerts": [alert_json(a) for a in result.alerts],
        "riskScore": result.risk_score.value,
    }


@router.get("/mtd/onboardingPackage")
def onboarding_package(
    p: AdminPrincipal = require(Permission.CONNECTOR_WRITE), s: Services = Depends(services)
) -> dict[str, Any]:
    return s.mtd.onboarding_package(p.tenant_id).as_blob()


@router.get("/machines")
def list_machines(
    p: AdminPrincipal = require(Permission.MTD_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([machine_json(m) for m in s.mtd.list_machines(p.tenant_id)])


@router.get("/machines/{machine_id}")
def get_machine(
    machine_id: str,
    p: AdminPrincipal = require(Permission.MTD_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return machine_json(s.mtd.get_machine(p.tenant_id, machine_id))


@router.get("/machines/{machine_id}/alerts")
def machine_alerts(
    machine_id: str,
    p: AdminPrincipal = require(Permission.MTD_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    s.mtd.get_machine(p.tenant_id, machine_id)
    return collection(
        [alert_json(a) for a in s.mtd.list_alerts(p.tenant_id, machine_id=machine_id)]
    )


@router.get("/alerts")
def list_alerts(
    status: AlertStatus | None = None,
    p: AdminPrincipal = require(Permission.MTD_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return collection([alert_json(a) for a in s.mtd.list_alerts(p.tenant_id, status=status)])


@router.get("/alerts/{alert_id}")
def get_alert(
    alert_id: str,
    p: AdminPrincipal = require(Permission.MTD_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return alert_json(s.mtd.get_alert(p.tenant_id, alert_id), evidence=True)


@router.patch("/alerts/{alert_id}")
def patch_alert(
    alert_id: str,
    body: AlertPatch,
    p: AdminPrincipal = require(Permission.MTD_ALERT_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return alert_json(s.mtd.set_alert_status(p.tenant_id, alert_id, body.status))
