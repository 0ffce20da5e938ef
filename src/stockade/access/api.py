"""Access HTTP API: conditional access policies, named locations, What If, the decision API for
identity providers, the sign-in log, forward auth and metrics."""

from __future__ import annotations

import logging
from datetime import datetime
from ipaddress import ip_network
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import PlainTextResponse, Response

from stockade.access.forward_auth import read, respond
from stockade.access.model import ClientAppType, NamedLocation
from stockade.access.policy_json import policy_json
from stockade.access.service import AccessResult, SignIn
from stockade.core.errors import InvalidInput, NotFound
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import public, require, services
from stockade.http.problems import PROBLEM
from stockade.http.schema import Body, collection
from stockade.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["access"])
POLICIES = "/api/identity/conditionalAccess/policies"
LOCATIONS = "/api/identity/conditionalAccess/namedLocations"


async def _json(request: Request) -> dict[str, Any]:
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", status=400) from None
    if not isinstance(raw, dict):
        raise InvalidInput("body must be a JSON object", status=400)
    return raw


# policies
@router.get(POLICIES)
def list_policies(
    p: AdminPrincipal = require(Permission.ACCESS_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([policy_json(x) for x in s.access.list_policies(p.tenant_id)])


@router.post(POLICIES, status_code=201)
async def create_policy(
    request: Request,
    confirm_lockout: bool = Query(False, alias="confirmLockout"),
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Accepts Graph JSON as exported (read-only properties are dropped); parts Stockade cannot
    observe are stored and listed in `stockadeNotEnforced` with how decisions treat them."""
    raw = await _json(request)
    return policy_json(s.access.create_policy(p.tenant_id, raw, confirm_lockout=confirm_lockout))


@router.get(POLICIES + "/{policy_id}")
def get_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.ACCESS_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return policy_json(s.access.get_policy(p.tenant_id, policy_id))


@router.patch(POLICIES + "/{policy_id}")
async def patch_policy(
    policy_id: str,
    request: Request,
    confirm_lockout: bool = Query(False, alias="confirmLockout"),
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    raw = await _json(request)
    policy = s.access.update_policy(p.tenant_id, policy_id, raw, confirm_lockout=confirm_lockout)
    return policy_json(policy)


@router.delete(POLICIES + "/{policy_id}", status_code=204)
def delete_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> None:
    s.access.delete_policy(p.tenant_id, policy_id)


# named locations
class CidrRange(Body):
    odata_type: str = Field("#microsoft.graph.iPv4CidrRange", alias="@odata.type")
    cidr_address: str = Field(alias="cidrAddress")


class NamedLocationBody(Body):
    odata_type: Literal[
        "#microsoft.graph.ipNamedLocation", "#microsoft.graph.countryNamedLocation"
    ] = Field("#microsoft.graph.ipNamedLocation", alias="@odata.type")
    id: str | None = None
    display_name: str = Field(alias="displayName", min_length=1, max_length=256)
    is_trusted: bool = Field(False, alias="isTrusted")
    ip_ranges: list[CidrRange] = Field(default_factory=list, alias="ipRanges")
    countries_and_regions: list[str] = Field(default_factory=list, alias="countriesAndRegions")
    include_unknown_countries_and_regions: bool = Field(
        False, alias="includeUnknownCountriesAndRegions"
    )
    country_lookup_method: str | None = Field(None, alias="countryLookupMethod")
    created_date_time: str | None = Field(None, alias="createdDateTime")
    modified_date_time: str | None = Field(None, alias="modifiedDateTime")

    def to_model(self, location_id: str = "") -> NamedLocation:
        ranges = []
        for i, r in enumerate(self.ip_ranges):
            try:
                ranges.append(ip_network(r.cidr_address, strict=False))
            except ValueError:
                raise InvalidInput(
                    f"ipRanges[{i}].cidrAddress {r.cidr_address!r} is not a CIDR range",
                    field=f"ipRanges[{i}].cidrAddress",
                ) from None
        country = self.odata_type.endswith("countryNamedLocation")
        if country and not self.countries_and_regions:
            raise InvalidInput("countriesAndRegions is required", field="countriesAndRegions")
        if not country and not ranges:
            raise InvalidInput("ipRanges needs at least one range", field="ipRanges")
        return NamedLocation(
            id=location_id or self.id or "",
            display_name=self.display_name,
            is_trusted=self.is_trusted and not country,
            ranges=tuple(ranges),
            countries=tuple(self.countries_and_regions) if country else (),
        )


def location_json(loc: NamedLocation) -> dict[str, Any]:
    if loc.countries:
        return {
            "@odata.type": "#microsoft.graph.countryNamedLocation",
            "id": loc.id,
            "displayName": loc.display_name,
            "countriesAndRegions": list(loc.countries),
            "createdDateTime": loc.created_at,
            "modifiedDateTime": loc.modified_at,
            "stockadeNotEnforced": [
                {
                    "path": "countriesAndRegions",
                    "treatment": "no geolocation here: an include counts as met, an exclude "
                    "never does",
                }
            ],
        }
    return {
        "@odata.type": "#microsoft.graph.ipNamedLocation",
        "id": loc.id,
        "displayName": loc.display_name,
        "isTrusted": loc.is_trusted,
        "ipRanges": [
            {
                "@odata.type": "#microsoft.graph.iPv4CidrRange"
                if r.version == 4
                else "#microsoft.graph.iPv6CidrRange",
                "cidrAddress": str(r),
            }
            for r in loc.ranges
        ],
        "createdDateTime": loc.created_at,
        "modifiedDateTime": loc.modified_at,
    }


@router.get(LOCATIONS)
def list_locations(
    p: AdminPrincipal = require(Permission.ACCESS_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([location_json(x) for x in s.access.list_locations(p.tenant_id)])


@router.post(LOCATIONS, status_code=201)
def create_location(
    body: NamedLocationBody,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    location = body.to_model()
    location = s.access.save_location(p.tenant_id, location)
    return location_json(location)


@router.get(LOCATIONS + "/{location_id}")
def get_location(
    location_id: str,
    p: AdminPrincipal = require(Permission.ACCESS_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return location_json(s.access.get_location(p.tenant_id, location_id))


@router.patch(LOCATIONS + "/{location_id}")
def patch_location(
    location_id: str,
    body: NamedLocationBody,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    s.access.get_location(p.tenant_id, location_id)
    return location_json(s.access.save_location(p.tenant_id, body.to_model(location_id)))


@router.delete(LOCATIONS + "/{location_id}", status_code=204)
def delete_location(
    location_id: str,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> None:
    s.access.delete_location(p.tenant_id, location_id)


# What If and the decision API
class SignInBody(Body):
    user: str = Field(min_length=1, description="user id or userPrincipalName")
    app_id: str = Field(alias="appId", min_length=1)
    device_id: str | None = Field(None, alias="deviceId", description="directory device id")
    device_token: str | None = Field(None, alias="deviceToken")
    client_app_type: ClientAppType = Field(ClientAppType.BROWSER, alias="clientAppType")
    ip_address: str | None = Field(None, alias="ipAddress")
    mfa: bool = Field(False, description="the user performed multi-factor authentication")
    app_protected: bool = Field(False, alias="appProtected")

    def to_signin(self) -> SignIn:
        if self.client_app_type is ClientAppType.ALL:
            raise InvalidInput(
                "clientAppType 'all' describes policies, not a sign-in", field="clientAppType"
            )
        return SignIn(
            user_ref=self.user,
            app_id=self.app_id,
            device_token=self.device_token,
            device_id=self.device_id,
            client_ip=self.ip_address,
            client_app_type=self.client_app_type.value,
            mfa_satisfied=self.mfa,
            app_protected=self.app_protected,
        )


@router.post("/api/identity/conditionalAccess/evaluate")
def what_if(
    body: SignInBody,
    p: AdminPrincipal = require(Permission.ACCESS_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """What If: simulate a sign-in; nothing is logged."""
    return s.access.what_if(p.tenant_id, body.to_signin())


@router.post("/api/access/evaluate")
def evaluate(
    body: SignInBody,
    p: AdminPrincipal = require(Permission.ACCESS_EVALUATE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """The decision API for identity providers: ask at sign-in, get allow / deny /
    requirements (e.g. `mfa`), with the reasons. The decision is logged as a sign-in."""
    result = s.access.decide(p.tenant_id, body.to_signin())
    return decision_json(result)


def decision_json(result: AccessResult) -> dict[str, Any]:
    d = result.decision
    verdict = "allow" if d.allowed else ("requirements" if d.requirements else "deny")
    return {
        "decision": verdict,
        "conditionalAccessStatus": d.status.value,
        "requirements": list(d.requirements),
        "reasons": list(d.reasons),
        "details": list(d.details),
        "signInId": result.signin_id,
        "appliedConditionalAccessPolicies": [
            {"id": o.policy_id, "displayName": o.display_name, "result": o.result.value}
            for o in d.policies
        ],
    }


class AppSettingsBody(Body):
    fail_open: bool = Field(alias="failOpen")


@router.put("/api/access/applications/{app_id}")
def put_app_settings(
    app_id: str,
    body: AppSettingsBody,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Whether forward auth lets requests through when no decision can be computed (store
    down). Default: fail closed (deny)."""
    s.access.set_fail_open(p.tenant_id, app_id, body.fail_open)
    return {"appId": app_id, "failOpen": body.fail_open}


# sign-in log
@router.get("/api/auditLogs/signIns")
def list_signins(
    status: Literal["success", "failure", "notApplied"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    user: str | None = None,
    app_id: str | None = Query(None, alias="appId"),
    device_id: str | None = Query(None, alias="deviceId"),
    top: int = Query(50, alias="$top", ge=1, le=1000),
    skip: int = Query(0, alias="$skip", ge=0),
    p: AdminPrincipal = require(Permission.SIGNIN_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    rows, total = s.access.list_signins(
        p.tenant_id,
        limit=top,
        offset=skip,
        status=status,
        since=since,
        until=until,
        user=user,
        app_id=app_id,
        device_id=device_id,
    )
    items = [
        {
            "id": r["id"],
            "createdDateTime": r["created_at"],
            "userId": r["user_id"],
            "userPrincipalName": r["user_principal_name"],
            "appId": r["app_id"],
            "ipAddress": r["ip_address"],
            "clientAppUsed": r["reasons"].get("clientAppType"),
            "deviceDetail": {"deviceId": r["device_id"], "displayName": r["device_name"]},
            "conditionalAccessStatus": r["status"],
            "status": {
                "errorCode": 0 if r["allowed"] else 53003,
                "failureReason": r["failure_reason"],
            },
            "appliedConditionalAccessPolicies": r["applied_policies"],
            "reasonChain": r["reasons"]["chain"],
            "reasonDetails": r["reasons"]["details"],
            "requirements": r["reasons"].get("requirements", []),
        }
        for r in rows
    ]
    extra: dict[str, Any] = {"@odata.count": total}
    if skip + top < total:
        extra["@odata.nextLink"] = f"/api/auditLogs/signIns?$top={top}&$skip={skip + top}"
    return collection(items, **extra)


# forward auth
@router.get(
    "/access/forward-auth",
    dependencies=[public("identity comes from a trusted proxy's headers or a verified JWT")],
)
def forward_auth(
    request: Request,
    tenant: str = Query(..., description="tenant id or name"),
    app: str | None = Query(None, description="application id; default: X-Forwarded-Host"),
    s: Services = Depends(services),
) -> Response:
    """Forward auth for nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth` and
    Envoy `ext_authz`: 200 allows, 403 denies (an HTML page for browsers, problem+json
    otherwise), 401 when no user is asserted. Fails closed when no decision can be computed,
    unless the tenant set the app to fail open."""
    tenant_ref, signin = read(request, s)
    tenant_id = s.tenant_ids.get(tenant_ref)
    try:
        if tenant_id is None:
            found = s.directory.find_tenant(tenant_ref)
            if found is None:
                raise NotFound(f"no tenant {tenant_ref!r}")
            tenant_id = s.tenant_ids[tenant_ref] = found.id
        result = s.access.decide(tenant_id, signin)
    except SQLAlchemyError:
        log.exception("no access decision for %s on %s", signin.user_ref, signin.app_id)
        if tenant_id is not None and s.access.is_fail_open(tenant_id, signin.app_id):
            s.access.metrics.fail_open += 1
            return Response(status_code=200, headers={"X-Stockade-Decision": "fail-open"})
        s.access.metrics.fail_closed += 1
        body = {
            "type": "urn:stockade:problem:decision_unavailable",
            "title": "Access denied",
            "status": 403,
            "detail": "the access decision could not be computed; denied (fail-closed)",
            "code": "decision_unavailable",
        }
        return Response(
            orjson.dumps(body),
            403,
            media_type=PROBLEM,
            headers={"X-Stockade-Decision": "fail-closed"},
        )
    return respond(result, request.headers.get("accept", ""))


@router.get("/metrics", dependencies=[public("Prometheus scrape: counters only, no tenant data")])
def metrics(s: Services = Depends(services)) -> PlainTextResponse:
    m = s.access.metrics
    c = s.access.cache
    lines = [
        "# TYPE stockade_access_decisions_total counter",
        f"stockade_access_decisions_total {m.decisions}",
        "# TYPE stockade_access_denied_total counter",
        f"stockade_access_denied_total {m.denied}",
        "# TYPE stockade_forward_auth_fail_closed_total counter",
        f"stockade_forward_auth_fail_closed_total {m.fail_closed}",
        "# TYPE stockade_forward_auth_fail_open_total counter",
        f"stockade_forward_auth_fail_open_total {m.fail_open}",
        "# TYPE stockade_access_cache_hits_total counter",
        f"stockade_access_cache_hits_total {c.hits}",
        "# TYPE stockade_access_cache_misses_total counter",
        f"stockade_access_cache_misses_total {c.misses}",
        "# TYPE stockade_access_cache_invalidations_total counter",
        f"stockade_access_cache_invalidations_total {c.invalidations}",
        "# TYPE stockade_bus_handler_failures_total counter",
        f"stockade_bus_handler_failures_total {s.bus.failures}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
