"""Directory HTTP API (Graph names: users, groups, devices)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from stockade.core.errors import InvalidInput, NotFound
from stockade.directory.model import (
    DIRECTORY_ROLES,
    AdminPrincipal,
    ApiToken,
    DeviceRegistration,
    Group,
    Permission,
    Role,
    User,
)
from stockade.http.auth import require, services
from stockade.http.schema import Body, collection
from stockade.services import Services

router = APIRouter(prefix="/api", tags=["directory"])


def user_json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "userPrincipalName": u.user_principal_name,
        "displayName": u.display_name,
        "accountEnabled": u.account_enabled,
        "createdDateTime": u.created_at,
    }


def group_json(g: Group) -> dict[str, Any]:
    return {"id": g.id, "displayName": g.display_name, "createdDateTime": g.created_at}


def device_json(d: DeviceRegistration) -> dict[str, Any]:
    return {
        "id": d.id,
        "deviceId": d.id,
        "displayName": d.display_name,
        "operatingSystem": d.operating_system,
        "operatingSystemVersion": d.operating_system_version,
        "trustType": d.trust_type,
        "registeredOwnerId": d.registered_owner_id,
        "accountEnabled": d.account_enabled,
        "registrationDateTime": d.registered_at,
    }


def token_json(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "role": t.role.value,
        "createdDateTime": t.created_at,
        "revokedDateTime": t.revoked_at,
    }


class NewUser(Body):
    user_principal_name: str = Field(alias="userPrincipalName", min_length=3, max_length=320)
    display_name: str = Field("", alias="displayName", max_length=200)


class NewGroup(Body):
    display_name: str = Field(alias="displayName", min_length=1, max_length=200)


class MemberRef(Body):
    odata_id: str = Field(alias="@odata.id", min_length=1)


class DevicePatch(Body):
    account_enabled: bool = Field(alias="accountEnabled")


class NewToken(Body):
    name: str = Field(min_length=1, max_length=200)
    role: Role


@router.get("/organization")
def organization(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    tenant = s.directory.find_tenant(p.tenant_id)
    assert tenant is not None
    return {"id": tenant.id, "displayName": tenant.name, "createdDateTime": tenant.created_at}


@router.get("/users")
def list_users(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([user_json(u) for u in s.directory.list_users(p.tenant_id)])


@router.post("/users", status_code=201)
def create_user(
    body: NewUser,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return user_json(
        s.directory.create_user(p.tenant_id, body.user_principal_name, body.display_name)
    )


@router.get("/users/{user_id}")
def get_user(
    user_id: str,
    p: AdminPrincipal = require(Permission.DIRECTORY_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return user_json(s.directory.get_user(p.tenant_id, user_id))


@router.get("/groups")
def list_groups(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([group_json(g) for g in s.directory.list_groups(p.tenant_id)])


@router.post("/groups", status_code=201)
def create_group(
    body: NewGroup,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return group_json(s.directory.create_group(p.tenant_id, body.display_name))


@router.get("/groups/{group_id}")
def get_group(
    group_id: str,
    p: AdminPrincipal = require(Permission.DIRECTORY_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    return group_json(s.directory.get_group(p.tenant_id, group_id))


@router.get("/groups/{group_id}/members")
def list_members(
    group_id: str,
    p: AdminPrincipal = require(Permission.DIRECTORY_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    members = s.directory.list_members(p.tenant_id, group_id)
    return collection([{"id": m, "@odata.type": f"#microsoft.graph.{kind}"} for m, kind in members])


@router.post("/groups/{group_id}/members/$ref", status_code=204)
def add_member(
    group_id: str,
    body: MemberRef,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> None:
    # Graph sends a URL ending in the object id (".../directoryObjects/{id}"); a bare id works too
    member_id = body.odata_id.rstrip("/").rsplit("/", 1)[-1]
    s.directory.add_member(p.tenant_id, group_id, member_id)


@router.delete("/groups/{group_id}/members/{member_id}/$ref", status_code=204)
def remove_member(
    group_id: str,
    member_id: str,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.directory.remove_member(p.tenant_id, group_id, member_id)


@router.get("/devices")
def list_devices(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([device_json(d) for d in s.directory.list_devices(p.tenant_id)])


@router.get("/devices/certificateAuthority")
def device_certificate_authority(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    """The tenant's device CA: give it to the proxy that verifies device client certificates
    (nginx `ssl_client_certificate`)."""
    return {"certificate": s.directory.device_ca_certificate(p.tenant_id)}


@router.get("/devices/{device_id}")
def get_device(
    device_id: str,
    p: AdminPrincipal = require(Permission.DIRECTORY_READ),
    s: Services = Depends(services),
) -> dict[str, Any]:
    device = s.directory.get_device(p.tenant_id, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    return device_json(device)


@router.patch("/devices/{device_id}")
def patch_device(
    device_id: str,
    body: DevicePatch,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    """Disabling a device revokes its credentials: it can no longer check in or send telemetry."""
    return device_json(s.directory.set_device_enabled(p.tenant_id, device_id, body.account_enabled))


@router.get("/apiTokens")
def list_tokens(
    p: AdminPrincipal = require(Permission.TOKEN_WRITE), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection([token_json(t) for t in s.directory.list_tokens(p.tenant_id)])


@router.post("/apiTokens", status_code=201)
def create_token(
    body: NewToken,
    p: AdminPrincipal = require(Permission.TOKEN_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    issued = s.directory.issue_token(p.tenant_id, body.name, body.role)
    return {**token_json(issued.token), "token": str(issued.credential)}


@router.delete("/apiTokens/{token_id}", status_code=204)
def revoke_token(
    token_id: str,
    p: AdminPrincipal = require(Permission.TOKEN_WRITE),
    s: Services = Depends(services),
) -> None:
    s.directory.revoke_token(p.tenant_id, token_id)


class NewRoleAssignment(Body):
    principal_id: str = Field(alias="principalId", min_length=1)
    role_definition_id: str = Field(alias="roleDefinitionId", min_length=1)
    directory_scope_id: str = Field("/", alias="directoryScopeId")


@router.get("/roleManagement/directory/roleDefinitions")
def list_role_definitions(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ),
) -> dict[str, Any]:
    """The built-in directory roles users can hold (Entra's template ids)."""
    return collection(
        [
            {"id": rid, "templateId": rid, "displayName": name, "isBuiltIn": True}
            for rid, name in DIRECTORY_ROLES.items()
        ]
    )


@router.get("/roleManagement/directory/roleAssignments")
def list_role_assignments(
    p: AdminPrincipal = require(Permission.DIRECTORY_READ), s: Services = Depends(services)
) -> dict[str, Any]:
    return collection(
        [
            {
                "id": a.id,
                "principalId": a.principal_id,
                "roleDefinitionId": a.role_definition_id,
                "directoryScopeId": "/",
                "createdDateTime": a.created_at,
            }
            for a in s.directory.list_role_assignments(p.tenant_id)
        ]
    )


@router.post("/roleManagement/directory/roleAssignments", status_code=201)
def create_role_assignment(
    body: NewRoleAssignment,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> dict[str, Any]:
    if body.directory_scope_id != "/":
        raise InvalidInput("only the tenant-wide scope '/' is supported", field="directoryScopeId")
    a = s.directory.assign_role(p.tenant_id, body.principal_id, body.role_definition_id)
    return {
        "id": a.id,
        "principalId": a.principal_id,
        "roleDefinitionId": a.role_definition_id,
        "directoryScopeId": "/",
        "createdDateTime": a.created_at,
    }


@router.delete("/roleManagement/directory/roleAssignments/{assignment_id}", status_code=204)
def delete_role_assignment(
    assignment_id: str,
    p: AdminPrincipal = require(Permission.DIRECTORY_WRITE),
    s: Services = Depends(services),
) -> None:
    s.directory.remove_role_assignment(p.tenant_id, assignment_id)
