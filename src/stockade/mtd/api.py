"""Threat defense HTTP API: sensor onboarding and ingest, machines and alerts (Defender names)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from stockade.core.errors import InvalidInput
from stockade.core.model import Severity
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import bearer, public, require, sensor, services
from stockade.http.schema import Body, collection
from stockade.mtd.model import (
    Alert,
    AlertStatus,
    Classification,
    Determination,
    FindingType,
    Incident,
    IncidentStatus,
    Machine,
    MobileFinding,
    Triage,
)
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
        "incidentId": a.incident_id,
        "machineId": a.machine_id,
        "detectorId": a.rule_id,
        "title": a.title,
        "description": a.description,
        "severity": a.severity.value,
        "status": a.status.value,
        "classification": a.classification.value if a.classification else None,
        "determination": a.determination.value if a.determination else None,
        "assignedTo": a.assigned_to,
        "category": a.category,
        "mitreTechniques": list(a.mitre_techniques),
        "detectionSource": a.detection_source.value,
        "firstEventTime": a.first_event_time,
        "lastEventTime": a.last_event_time,
        "alertCreationTime": a.created_at,
        "lastUpdateTime": a.updated_at or a.created_at,
        "resolvedTime": a.resolved_at,
        "evidenceCount": a.evidence_count,
        "comments": [
            {"comment": c.comment, "createdBy": c.created_by, "createdTime": c.created_time}
            for c in a.comments
        ],
    }
    if evidence:
        out["evidence"] = list(a.evidence)
    return out


def incident_json(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "incidentId": i.id,
        "incidentName": i.name,
        "severity": i.severity.value,
        "status": i.status.value,
        "classification": i.classification.value if i.classification else None,
        "determination": i.determination.value if i.determination else None,
        "assignedTo": i.assigned_to,
        "redirectIncidentId": i.redirect_incident_id,
        "createdTime": i.created_time,
        "lastUpdateTime": i.last_update_time,
        "alerts": [alert_json(a) for a in i.alerts],
        "devices": [
            {
                "deviceId": m.id,
                "aadDeviceId": m.aad_device_id,
                "deviceDnsName": m.computer_dns_name,
                "osPlatform": m.os_platform,
                "version": m.os_version,
                "riskScore": m.risk_score.value,
            }
            for m in i.devices
        ],
        "users": [{"id": u.id, "userPrincipalName": u.user_principal_name} for u in i.users],
    }


class OnboardRequest(Body):
    device_id: str = Field(alias="deviceId", min_length=1, max_length=36)
    computer_dns_name: str = Field(alias="computerDnsName", min_length=1, max_length=255)
    os_platform: str = Field(alias="osPlatform")
    os_version: str = Field(alias="osVersion", min_length=1, max_length=64)


class TriagePatch(Body):
    classification: Classification | None = None
    determination: Determination | None = None
    assigned_to: str | None = Field(None, alias="assignedTo", min_length=1, max_length=255)

    def triage(self, **extra: Any) -> Triage:
        return Triage(
            classification=self.classification,
            determination=self.determination,
            assigned_to=self.assigned_to,
            unassign="assigned_to" in self.model_fields_set and self.assigned_to is None,
            **extra,
        )

    def require_change(self) -> None:
        if not self.model_fields_set:
            raise InvalidInput("nothing to change: give at least one field", field="(body)")


class AlertPatch(TriagePatch):
    """Defender's alert update: status, classification, determination, assignedTo, comment."""

    status: AlertStatus | None = None
    comment: str | None = Field(None, min_length=1, max_length=10_000)


class IncidentPatch(TriagePatch):
    """Defender's incident update; `redirected` is set by merging only."""

    status: IncidentStatus | None = None


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


class MobileFindingBody(Body):
    """One finding of a mobile threat-defense app; which fields it needs depends on
    `findingType` (docs/mtd.md)."""

    finding_id: str | None = Field(None, alias="findingId", min_length=1, max_length=128)
    finding_type: FindingType = Field(alias="findingType")
    detected_time: datetime | None = Field(None, alias="detectedTime")
    package_id: str | None = Field(None, alias="packageId", max_length=255)
    bundle_id: str | None = Field(None, alias="bundleId", max_length=255)
    app_name: str | None = Field(None, alias="appName", max_length=255)
    sha256: str | None = Field(None, max_length=64)
    url: str | None = Field(None, max_length=2048)
    ssid: str | None = Field(None, max_length=64)
    bssid: str | None = Field(None, max_length=17)
    certificate_thumbprint: str | None = Field(None, alias="certificateThumbprint", max_length=64)
    certificate_subject: str | None = Field(None, alias="certificateSubject", max_length=1024)
    os_version: str | None = Field(None, alias="osVersion", max_length=64)
    minimum_os_version: str | None = Field(None, alias="minimumOsVersion", max_length=64)

    def finding(self) -> MobileFinding:
        at = self.detected_time
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)  # times without an offset are UTC, as everywhere
        details = self.model_dump(
            by_alias=True,
            exclude_none=True,
            exclude={"finding_id", "finding_type", "detected_time"},
        )
        return MobileFinding(self.finding_type, at, details, self.finding_id)


class MobileFindingsBody(Body):
    findings: list[MobileFindingBody] = Field(min_length=1, max_length=1000)


@router.post("/mtd/mobileFindings", status_code=202)
def ingest_mobile_findings(
    body: MobileFindingsBody,
    auth: tuple[str, Machine] = sensor(),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Findings of the threat-defense app on an Android or iOS device (all-or-nothing).
    202 means stored and evaluated: the alerts raised or updated and the machine's risk."""
    tenant_id, machine = auth
    result = s.mtd.ingest_findings(tenant_id, machine, [f.finding() for f in body.findings])
    return {
        "batchId": result.batch_id,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
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
    body.require_change()
    change = body.triage(status=body.status, comment=body.comment)
    alert = s.mtd.update_alert(p.tenant_id, alert_id, change, author=_author(s, p))
    return alert_json(alert)


def _author(s: Services, p: AdminPrincipal) -> str:
    """Who wrote a comment: the API token's name (tokens are the admin identities here)."""
    token = next((t for t in s.directory.list_tokens(p.tenant_id) if t.id == p.token_id), None)
    return token.name if token else p.token_id


@router.get("/incidents")
def list_incidents(
    status: IncidentStatus | None = None,
    severity: Severity | None = None,
    assigned_to: str | None = Query(None, alias="assignedTo"),
    top: int = Query(100, alias="$top", ge=1, le=1000),
    skip: int = Query(0, alias="$skip", ge=0),
    p: AdminPrincipal = require(Permission.MTD_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Incidents, most recently updated first, each with its alerts, devices and users."""
    found = s.mtd.list_incidents(
        p.tenant_id, status=status, severity=severity, assigned_to=assigned_to, top=top, skip=skip
    )
    return collection([incident_json(i) for i in found])


@router.get("/incidents/{incident_id}")
def get_incident(
    incident_id: str,
    p: AdminPrincipal = require(Permission.MTD_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return incident_json(s.mtd.get_incident(p.tenant_id, incident_id))


@router.patch("/incidents/{incident_id}")
def patch_incident(
    incident_id: str,
    body: IncidentPatch,
    p: AdminPrincipal = require(Permission.MTD_INCIDENT_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    body.require_change()
    incident = s.mtd.update_incident(p.tenant_id, incident_id, body.triage(), status=body.status)
    return incident_json(incident)
