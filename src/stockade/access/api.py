"""Access HTTP API: conditional access policies, the sign-in log, and forward auth."""

from __future__ import annotations

import html
from datetime import datetime
from ipaddress import ip_address
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, ValidationError, field_validator
from starlette.responses import HTMLResponse, Response

from stockade.access.model import AccessPolicy, Conditions, Control, Decision, PolicyState
from stockade.access.service import AccessResult
from stockade.access.store import conditions_to_json
from stockade.core.errors import InvalidInput, NotFound, Unauthenticated
from stockade.directory.model import AdminPrincipal, Permission
from stockade.http.auth import public, require, services
from stockade.http.problems import PROBLEM
from stockade.http.schema import Body, collection
from stockade.services import Services

router = APIRouter(tags=["access"])

READ_ONLY = {
    "id",
    "createdDateTime",
    "modifiedDateTime",
    "@odata.type",
    "@odata.context",
    "classic",
}


def policy_json(p: AccessPolicy) -> dict[str, Any]:
    return {
        "id": p.id,
        "displayName": p.display_name,
        "state": p.state.value,
        "conditions": {**conditions_to_json(p.conditions), "clientAppTypes": ["all"]},
        "grantControls": {
            "operator": p.operator,
            "builtInControls": [c.value for c in p.controls],
        },
        "classic": p.classic,
        "createdDateTime": p.created_at,
        "modifiedDateTime": p.modified_at,
    }


class UsersCondition(Body):
    include_users: list[str] = Field(default_factory=list, alias="includeUsers")
    exclude_users: list[str] = Field(default_factory=list, alias="excludeUsers")
    include_groups: list[str] = Field(default_factory=list, alias="includeGroups")
    exclude_groups: list[str] = Field(default_factory=list, alias="excludeGroups")


class ApplicationsCondition(Body):
    include_applications: list[str] = Field(default_factory=list, alias="includeApplications")
    exclude_applications: list[str] = Field(default_factory=list, alias="excludeApplications")


PlatformName = Literal["all", "android", "iOS", "windows", "macOS", "linux"]


class PlatformsCondition(Body):
    include_platforms: list[PlatformName] = Field(default_factory=list, alias="includePlatforms")
    exclude_platforms: list[PlatformName] = Field(default_factory=list, alias="excludePlatforms")


class ConditionsBody(Body):
    users: UsersCondition = Field(default_factory=UsersCondition)
    applications: ApplicationsCondition = Field(default_factory=ApplicationsCondition)
    platforms: PlatformsCondition | None = None
    client_app_types: list[str] = Field(default_factory=lambda: ["all"], alias="clientAppTypes")

    @field_validator("client_app_types")
    @classmethod
    def _all_only(cls, value: list[str]) -> list[str]:
        if value and value != ["all"]:
            raise ValueError("only clientAppTypes ['all'] is supported so far")
        return value

    def to_model(self) -> Conditions:
        p = self.platforms or PlatformsCondition()
        return Conditions(
            include_users=tuple(self.users.include_users),
            exclude_users=tuple(self.users.exclude_users),
            include_groups=tuple(self.users.include_groups),
            exclude_groups=tuple(self.users.exclude_groups),
            include_applications=tuple(self.applications.include_applications),
            exclude_applications=tuple(self.applications.exclude_applications),
            include_platforms=tuple(p.include_platforms),
            exclude_platforms=tuple(p.exclude_platforms),
        )


class GrantControlsBody(Body):
    operator: Literal["OR", "AND"] = "OR"
    built_in_controls: list[Control] = Field(alias="builtInControls", min_length=1)


class PolicyBody(Body):
    display_name: str = Field(alias="displayName", min_length=1, max_length=256)
    state: PolicyState
    conditions: ConditionsBody
    grant_controls: GrantControlsBody = Field(alias="grantControls")


class PolicyPatch(Body):
    display_name: str | None = Field(None, alias="displayName", min_length=1, max_length=256)
    state: PolicyState | None = None
    conditions: ConditionsBody | None = None
    grant_controls: GrantControlsBody | None = Field(None, alias="grantControls")


async def _body_without_read_only(request: Request) -> dict[str, Any]:
    """Graph exports carry read-only fields; accept and drop them rather than refuse the file."""
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", status=400) from exc
    if not isinstance(raw, dict):
        raise InvalidInput("body must be a JSON object", status=400)
    return {k: v for k, v in raw.items() if k not in READ_ONLY}


def _validate(model: type[Body], raw: dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(x) for x in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        raise InvalidInput(f"invalid fields: {fields}", errors=errors) from None


@router.get("/api/identity/conditionalAccess/policies")
def list_policies(
    p: AdminPrincipal = require(Permission.ACCESS_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([policy_json(x) for x in s.access.list_policies(p.tenant_id)])


@router.post("/api/identity/conditionalAccess/policies", status_code=201)
async def create_policy(
    request: Request,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    body: PolicyBody = _validate(PolicyBody, await _body_without_read_only(request))
    policy = AccessPolicy(
        id="",
        display_name=body.display_name,
        state=body.state,
        conditions=body.conditions.to_model(),
        controls=tuple(body.grant_controls.built_in_controls),
        operator=body.grant_controls.operator,
    )
    return policy_json(s.access.create_policy(p.tenant_id, policy))


@router.get("/api/identity/conditionalAccess/policies/{policy_id}")
def get_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.ACCESS_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return policy_json(s.access.get_policy(p.tenant_id, policy_id))


@router.patch("/api/identity/conditionalAccess/policies/{policy_id}")
async def patch_policy(
    policy_id: str,
    request: Request,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    body: PolicyPatch = _validate(PolicyPatch, await _body_without_read_only(request))
    changes: dict[str, Any] = {}
    if body.display_name is not None:
        changes["display_name"] = body.display_name
    if body.state is not None:
        changes["state"] = body.state
    if body.conditions is not None:
        changes["conditions"] = body.conditions.to_model()
    if body.grant_controls is not None:
        changes["controls"] = tuple(body.grant_controls.built_in_controls)
        changes["operator"] = body.grant_controls.operator
    return policy_json(s.access.update_policy(p.tenant_id, policy_id, changes))


@router.delete("/api/identity/conditionalAccess/policies/{policy_id}", status_code=204)
def delete_policy(
    policy_id: str,
    p: AdminPrincipal = require(Permission.ACCESS_WRITE),
    s: Services = Depends(services),
) -> None:
    s.access.delete_policy(p.tenant_id, policy_id)


@router.get("/api/auditLogs/signIns")
def list_signins(
    status: Literal["success", "failure", "notApplied"] | None = None,
    since: datetime | None = None,
    top: int = Query(50, alias="$top", ge=1, le=1000),
    skip: int = Query(0, alias="$skip", ge=0),
    p: AdminPrincipal = require(Permission.SIGNIN_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    rows, total = s.access.list_signins(
        p.tenant_id, limit=top, offset=skip, status=status, since=since
    )
    items = [
        {
            "id": r["id"],
            "createdDateTime": r["created_at"],
            "userId": r["user_id"],
            "userPrincipalName": r["user_principal_name"],
            "appId": r["app_id"],
            "ipAddress": r["ip_address"],
            "deviceDetail": {"deviceId": r["device_id"], "displayName": r["device_name"]},
            "conditionalAccessStatus": r["status"],
            "status": {
                "errorCode": 0 if r["allowed"] else 53003,
                "failureReason": r["failure_reason"],
            },
            "appliedConditionalAccessPolicies": r["applied_policies"],
            "reasonChain": r["reasons"]["chain"],
            "reasonDetails": r["reasons"]["details"],
        }
        for r in rows
    ]
    extra: dict[str, Any] = {"@odata.count": total}
    if skip + top < total:
        extra["@odata.nextLink"] = f"/api/auditLogs/signIns?$top={top}&$skip={skip + top}"
    return collection(items, **extra)


@router.get(
    "/access/forward-auth",
    dependencies=[public("identity comes from headers set by a trusted proxy")],
)
def forward_auth(
    request: Request,
    tenant: str = Query(..., description="tenant id or name"),
    app: str | None = Query(None, description="application id; default: X-Forwarded-Host"),
    s: Services = Depends(services),
) -> Response:
    """Forward auth for nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`.

    200 allows, 403 denies (an HTML page for browsers, problem+json otherwise), 401 when the
    proxy sent no user. Identity headers count only from `STOCKADE_TRUSTED_PROXIES`.
    """
    settings = s.settings
    found = s.directory.find_tenant(tenant)
    if found is None:
        raise NotFound(f"no tenant {tenant!r}")
    trusted = _from_trusted_proxy(request, settings.trusted_proxies)
    user_ref = request.headers.get(settings.forward_auth_user_header) if trusted else None
    if not user_ref:
        raise Unauthenticated(
            f"no signed-in user: the proxy must set {settings.forward_auth_user_header}"
            + ("" if trusted else " and call from a trusted proxy address")
        )
    app_id = app or request.headers.get("x-forwarded-host") or ""
    if not app_id:
        raise InvalidInput("no application: pass ?app= or X-Forwarded-Host", status=400)
    device_token = request.headers.get("x-stockade-device") or request.cookies.get(
        "stockade_device"
    )
    client_ip = (request.headers.get("x-real-ip") if trusted else None) or (
        request.client.host if request.client else None
    )
    result = s.access.decide(
        found.id, user_ref=user_ref, app_id=app_id, device_token=device_token, client_ip=client_ip
    )
    headers = {
        "X-Stockade-Decision": "allow" if result.decision.allowed else "deny",
        "X-Stockade-Signin-Id": result.signin_id,
        "Cache-Control": "no-store",
    }
    if result.decision.allowed:
        return Response(
            status_code=200,
            headers={**headers, "X-Stockade-User": result.user_principal_name or ""},
        )
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(deny_page(result), status_code=403, headers=headers)
    body = {
        "type": "urn:stockade:problem:access_denied",
        "title": "Access denied",
        "status": 403,
        "detail": "; ".join(result.decision.reasons),
        "code": "access_denied",
        "signInId": result.signin_id,
        "reasons": list(result.decision.reasons),
        "details": list(result.decision.details),
    }
    return Response(orjson.dumps(body, default=str), 403, headers=headers, media_type=PROBLEM)


def _from_trusted_proxy(request: Request, networks: list[Any]) -> bool:
    if request.client is None:
        return False
    try:
        addr = ip_address(request.client.host)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def deny_page(result: AccessResult) -> str:
    """A short page a person can act on: which device, what is wrong, what to do."""
    decision: Decision = result.decision
    device = result.device_name or "this device (not enrolled, or no device token)"
    what: list[str] = []
    todo = "Contact your IT help desk and quote the reference below."
    for detail in decision.details:
        if detail.get("control") == "block":
            what.append(f"Policy “{detail['policy']}” blocks this app.")
            continue
        if "complianceState" not in detail:
            what.append("This app needs a managed, compliant device.")
            todo = "Open this app from your enrolled work device."
            continue
        level = detail.get("threatLevel")
        alerts = detail.get("alerts") or []
        if level and level not in {"secured", None}:
            what.append(f"Threat level {level.capitalize()}: {len(alerts)} active alert(s).")
            todo = (
                "Disconnect the device from the network if you can, and contact your security "
                "team. Access returns by itself once the alerts are resolved."
            )
        for setting in detail.get("settings", []):
            what.append(f"{setting['policy']}: {setting['reason']}.")
    if not what:
        what = list(decision.reasons)
    items = "".join(f"<li>{html.escape(w)}</li>" for w in what)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Access blocked</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;
padding:0 1rem;color:#222}} h1{{color:#a4262c}}
code{{background:#f3f3f3;padding:.1rem .3rem}}</style></head>
<body><h1>Access blocked</h1>
<p>You cannot reach this app from <strong>{html.escape(device)}</strong> right now.</p>
<h2>What is wrong</h2><ul>{items}</ul>
<h2>What to do</h2><p>{html.escape(todo)}</p>
<p><small>Reference: <code>{html.escape(result.signin_id)}</code></small></p>
</body></html>"""
